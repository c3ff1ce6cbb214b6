package main

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing/fstest"
	"text/template"

	"github.com/99designs/gqlgen/codegen"
	"github.com/99designs/gqlgen/codegen/templates"
	"github.com/vektah/gqlparser/v2/ast"
)

// executor is the plugin: it resolves the fields of non-root object types
// in turn, and keeps gqlgen's data for the second rendering (render).
type executor struct {
	data *codegen.Data
}

func (*executor) Name() string { return "executor" }

func (p *executor) GenerateCode(data *codegen.Data) error {
	for _, o := range data.Objects {
		if !o.Root {
			o.DisableConcurrency = true
		}
	}
	p.data = data
	return nil
}

//go:embed templates/*.gotpl
var ownTemplates embed.FS

// execTemplates are the files gqlgen renders into a single-file executor
// (codegen.generateSingleFile's embed list).
var execTemplates = []string{
	"api!.gotpl", "internal!.gotpl", "args.gotpl", "field.gotpl", "input.gotpl",
	"interface.gotpl", "object.gotpl", "type.gotpl", "generated!.gotpl", "directives_.gotpl",
}

// patch replaces old, which must occur exactly once, with new in file.
type patch struct {
	file, old, new string
}

// patches are the changes to gqlgen's templates described in the command's
// documentation.
var patches = []patch{
	{
		file: "type.gotpl",
		old:  `ret := graphql.MarshalSliceConcurrently(ctx, len(v), {{ $.Config.Exec.WorkerLimit }}, {{ $.Config.OmitPanicHandler }}, func(ctx context.Context, i int) graphql.Marshaler {`,
		new:  `ret := gqlexec.MarshalList(ctx, sel, resolvedByResolver, len(v), {{ $.Config.Exec.WorkerLimit }}, {{ $.Config.OmitPanicHandler }}, func(ctx context.Context, i int) graphql.Marshaler {`,
	},
	{
		file: "object.gotpl",
		old:  "\tout := graphql.NewFieldSet(fields)\n\tdeferred := graphql.NewDeferredGroup(ctx)\n",
		new: "\t{{- if $object.IsConcurrent }}\n" +
			"\tout := graphql.NewFieldSet(fields)\n\tdeferred := graphql.NewDeferredGroup(ctx)\n" +
			"\t{{- else }}\n" +
			"\tout := gqlexec.NewObject(fields)\n" +
			"\t{{- end }}\n",
	},
	{
		file: "object.gotpl",
		old:  "\tout.Dispatch(ctx)\n",
		new:  "\t{{- if $object.IsConcurrent }}\n\tout.Dispatch(ctx)\n\t{{- end }}\n",
	},
	{
		file: "object.gotpl",
		old: "\tif n := len(deferred.Defers); n > 0 {\n" +
			"\t\tatomic.AddInt32(&ec.Deferred, int32(min(n, math.MaxInt32)))\n" +
			"\t\tec.ProcessDeferredGroup(deferred)\n" +
			"\t}\n",
		new: "\t{{- if $object.IsConcurrent }}\n" +
			"\tif n := len(deferred.Defers); n > 0 {\n" +
			"\t\tatomic.AddInt32(&ec.Deferred, int32(min(n, math.MaxInt32)))\n" +
			"\t\tec.ProcessDeferredGroup(deferred)\n" +
			"\t}\n" +
			"\t{{- end }}\n",
	},
	{
		file: "field.gotpl",
		old:  "\t{{- else}}\n\t\treturn graphql.{{ $field.ResolveFieldFunc }}(\n",
		new: "\t{{- else if plainLeaf $field }}\n" +
			"\t\treturn {{$.ECDot}}{{ $field.TypeReference.MarshalFunc }}(ctx, {{$.ECArg}}field.Selections, {{ $field.GoReceiverName }}.{{ $field.GoFieldName }}{{ if $field.IsMethod }}(){{ end }})\n" +
			"\t{{- else}}\n" +
			"\t{{- if directField $field }}\n" +
			"\t\tif m := {{$.ECDot}}directField_{{ $object.Name }}(ctx, field, obj); m != nil {\n" +
			"\t\t\treturn m\n" +
			"\t\t}\n" +
			"\t{{- end }}\n" +
			"\t\treturn graphql.{{ $field.ResolveFieldFunc }}(\n",
	},
	{
		file: "internal!.gotpl",
		old:  "\t*graphql.ExecutionContextState[ResolverRoot, DirectiveRoot, ComplexityRoot]\n}\n",
		new: "\t*graphql.ExecutionContextState[ResolverRoot, DirectiveRoot, ComplexityRoot]\n" +
			"\t// collected keeps the fields collected for objects written\n" +
			"\t// straight from loaded values (direct_<Type>, write_<Type>).\n" +
			"\tcollected gqlexec.Collected\n}\n",
	},
	{
		file: "internal!.gotpl",
		old: "\t\t\tvar buf bytes.Buffer\n" +
			"\t\t\tdata.MarshalGQL(&buf)\n" +
			"\t\t\tresponse.Data = buf.Bytes()\n",
		new: "\t\t\tresponse.Data = gqlexec.Marshal(data)\n",
	},
	{
		file: "internal!.gotpl",
		old: "\t\t\tvar buf bytes.Buffer\n" +
			"\t\t\tdata.MarshalGQL(&buf)\n" +
			"\n" +
			"\t\t\treturn &graphql.Response{\n" +
			"\t\t\t\tData:       buf.Bytes(),\n" +
			"\t\t\t}\n",
		new: "\t\t\treturn &graphql.Response{Data: gqlexec.Marshal(data)}\n",
	},
	{
		file: "internal!.gotpl",
		old: "\t\tvar buf bytes.Buffer\n" +
			"\t\treturn func(ctx context.Context) *graphql.Response {\n" +
			"\t\t\tbuf.Reset()\n" +
			"\t\t\tdata := next(ctx)\n" +
			"\n" +
			"\t\t\tif data == nil {\n" +
			"\t\t\t\treturn nil\n" +
			"\t\t\t}\n" +
			"\t\t\tdata.MarshalGQL(&buf)\n" +
			"\n" +
			"\t\t\treturn &graphql.Response{\n" +
			"\t\t\t\tData:       buf.Bytes(),\n" +
			"\t\t\t}\n" +
			"\t\t}\n",
		new: "\t\tvar buf bytes.Buffer\n" +
			"\t\tvar resp graphql.Response\n" +
			"\t\treturn func(ctx context.Context) *graphql.Response {\n" +
			"\t\t\tbuf.Reset()\n" +
			"\t\t\tdata := next(ctx)\n" +
			"\n" +
			"\t\t\tif data == nil {\n" +
			"\t\t\t\treturn nil\n" +
			"\t\t\t}\n" +
			"\t\t\tdata.MarshalGQL(&buf)\n" +
			"\n" +
			"\t\t\t// Reused, as buf is: the caller is done with one event's\n" +
			"\t\t\t// response before it asks for the next.\n" +
			"\t\t\tresp = graphql.Response{Data: buf.Bytes()}\n" +
			"\t\t\treturn &resp\n" +
			"\t\t}\n",
	},
}

// templateFS returns gqlgen's executor templates from codegenDir (the
// codegen directory of the gqlgen module) with patches applied, and this
// command's own templates.
func templateFS(codegenDir string) (fs.FS, error) {
	files := fstest.MapFS{}
	for _, name := range execTemplates {
		b, err := os.ReadFile(filepath.Join(codegenDir, name))
		if err != nil {
			return nil, err
		}
		files[name] = &fstest.MapFile{Data: b}
	}
	for _, p := range patches {
		f, ok := files[p.file]
		if !ok {
			return nil, fmt.Errorf("patch of %s: no such template", p.file)
		}
		text := string(f.Data)
		if n := strings.Count(text, p.old); n != 1 {
			return nil, fmt.Errorf("patch of %s: the text to replace occurs %d times, not once (gqlgen changed?): %q", p.file, n, p.old)
		}
		f.Data = []byte(strings.Replace(text, p.old, p.new, 1))
	}
	own, err := fs.Glob(ownTemplates, "templates/*.gotpl")
	if err != nil {
		return nil, err
	}
	for _, name := range own {
		b, err := ownTemplates.ReadFile(name)
		if err != nil {
			return nil, err
		}
		files[strings.TrimPrefix(name, "templates/")] = &fstest.MapFile{Data: b}
	}
	return files, nil
}

// render writes the executor (graph/generated.go) again, from the data
// gqlgen's generator built, with the patched templates; as
// codegen.generateSingleFile does otherwise.
func (p *executor) render(gqlgenDir string) error {
	if p.data == nil {
		return fmt.Errorf("executor plugin: gqlgen did not call it")
	}
	cfg := p.data.Config
	if cfg.Exec.Layout != "" && cfg.Exec.Layout != "single-file" {
		return fmt.Errorf("executor plugin: exec layout %q: only single-file is supported", cfg.Exec.Layout)
	}
	fsys, err := templateFS(filepath.Join(gqlgenDir, "codegen"))
	if err != nil {
		return err
	}
	leaves := plainLeaves(p.data)
	direct, fields := directTypes(p.data, leaves)
	return templates.Render(templates.Options{
		PackageName:     cfg.Exec.Package,
		Filename:        cfg.Exec.Filename,
		Data:            p.data,
		RegionTags:      true,
		GeneratedHeader: true,
		Packages:        cfg.Packages,
		TemplateFS:      fsys,
		PruneOptions:    cfg.GetPruneOptions(),
		Funcs: template.FuncMap{
			"plainLeaf":      func(f *codegen.Field) bool { return leaves[f] },
			"directField":    func(f *codegen.Field) bool { return fields[f] },
			"directTypes":    func() []*directType { return direct },
			"resolverFields": func() []typeFields { return resolverFields(p.data) },
		},
	})
}

// typeFields names fields of one type.
type typeFields struct {
	Type   string
	Fields []string
}

// resolverFields lists, per object type other than the roots, the fields
// resolved by a hand-written resolver; and per interface the fields that
// one of its implementations resolves so. The lists are sorted.
func resolverFields(data *codegen.Data) []typeFields {
	byType := map[string][]string{}
	objects := map[string]*codegen.Object{}
	for _, o := range data.Objects {
		objects[o.Name] = o
		if o.Root {
			continue
		}
		for _, f := range o.Fields {
			if f.IsResolver {
				byType[o.Name] = append(byType[o.Name], f.Name)
			}
		}
	}
	for name, iface := range data.Interfaces {
		var fields []string
		for _, impl := range iface.Implementors {
			o := objects[impl.Name]
			if o == nil {
				continue
			}
			for _, f := range o.Fields {
				if f.IsResolver && iface.Definition.Fields.ForName(f.Name) != nil && !slices.Contains(fields, f.Name) {
					fields = append(fields, f.Name)
				}
			}
		}
		if len(fields) > 0 {
			byType[name] = fields
		}
	}
	out := make([]typeFields, 0, len(byType))
	for t, fields := range byType {
		slices.Sort(fields)
		out = append(out, typeFields{Type: t, Fields: fields})
	}
	slices.SortFunc(out, func(a, b typeFields) int { return strings.Compare(a.Type, b.Type) })
	return out
}

// plainLeaves returns the fields marshalled straight from the value (see
// the command's documentation): leaf fields of non-root types bound to a
// struct field or to a method without context and error, with no
// arguments, directives or batch resolver, whose Go value cannot be nil
// where the schema says non-null. None when a directive applies to every
// field (location FIELD).
func plainLeaves(data *codegen.Data) map[*codegen.Field]bool {
	out := map[*codegen.Field]bool{}
	if len(data.AllDirectives.LocationDirectives(string(ast.LocationField))) > 0 {
		return out
	}
	for _, o := range data.Objects {
		if o.Root || o.Stream {
			continue
		}
		for _, f := range o.Fields {
			if plainLeaf(f) {
				out[f] = true
			}
		}
	}
	return out
}

// plainBinding reports whether a field is bound to a struct field or to a
// method without context and error, with no arguments, directives or
// resolver.
func plainBinding(f *codegen.Field) bool {
	switch {
	case f.IsResolver, f.IsBatch(), f.Stream, f.MethodHasContext, f.HasHaser, f.VOkFunc,
		len(f.Args) > 0, len(f.Directives) > 0, f.IsMap():
		return false
	case f.IsMethod() && !f.NoErr:
		return false
	case !f.IsMethod() && !f.IsVariable():
		return false
	}
	return true
}

// plainLeaf reports whether a field is a plain binding (plainBinding) to a
// scalar or enum that is marshalled straight from the value.
func plainLeaf(f *codegen.Field) bool {
	if !plainBinding(f) {
		return false
	}
	t := f.TypeReference
	if t == nil || t.Definition == nil || len(t.Definition.Fields) > 0 || t.IsRoot {
		return false
	}
	if t.Definition.Kind != ast.Scalar && t.Definition.Kind != ast.Enum {
		return false
	}
	if t.GQL.NonNull && t.IsNilable() {
		return false
	}
	return true
}
