//go:build ignore

package main

import (
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"
)

func main() {
	gql, err := entgqlTemplates()
	if err != nil {
		log.Fatalf("entgql templates: %v", err)
	}
	ex, err := entgql.NewExtension(
		entgql.WithTemplates(gql...),
		entgql.WithConfigPath("./gqlgen.yml"),
		entgql.WithSchemaGenerator(),
		entgql.WithSchemaPath("./schema/ent.graphql"),
		entgql.WithWhereInputs(true),
		entgql.WithNodeDescriptor(false),
	)
	if err != nil {
		log.Fatalf("creating entgql extension: %v", err)
	}
	query, err := queryTemplate()
	if err != nil {
		log.Fatalf("ent query template: %v", err)
	}
	templates := append(gql, query,
		gen.MustParse(gen.NewTemplate("pulid").ParseFiles("./ent/schema/pulid/template/pulid.tmpl")),
		gen.MustParse(gen.NewTemplate("clock").ParseFiles("./ent/template/clock.tmpl")),
		gen.MustParse(gen.NewTemplate("scanonce").ParseFiles("./ent/template/scanonce.tmpl")),
		gen.MustParse(gen.NewTemplate("countupto").ParseFiles("./ent/template/countupto.tmpl")))
	err = entc.Generate("./ent/schema", &gen.Config{
		Target:    "./ent",
		Package:   "gatehouse/ent",
		Templates: templates,
		Features: []gen.Feature{
			gen.FeaturePrivacy,
			gen.FeatureEntQL,
			gen.FeatureLock,
			gen.FeatureUpsert,
			gen.FeatureIntercept,
			gen.FeatureExecQuery,
			gen.FeatureVersionedMigration,
		},
	}, entc.Extensions(ex))
	if err != nil {
		log.Fatalf("running ent codegen: %v", err)
	}
}

// entgqlTemplates returns entgql's templates with its edge and collection
// templates changed so that a list edge selected under its own name (no
// alias; gqlgen then gives the field its name as alias) is eager-loaded into
// the edge's field (Edges.X, through withX) instead of a map of named edges
// built for every parent row: the map and its growth were ~7% of the nested
// query's allocations. An aliased list edge is still loaded and read by its
// alias, and a Relay connection is unchanged.
func entgqlTemplates() ([]*gen.Template, error) {
	patched := map[string]*gen.Template{}
	for name, changes := range map[string][][2]string{
		"template/edge.tmpl": {{
			`if fc := graphql.GetFieldContext(ctx); fc != nil && fc.Field.Alias != "" {`,
			`if fc := graphql.GetFieldContext(ctx); fc != nil && fc.Field.Alias != fc.Field.Name {`,
		}},
		"template/collection.tmpl": {{
			`{{ $receiver }}.WithNamed{{ $e.StructField }}(alias, func (wq *{{ $e.Type.QueryName }}) {
								*wq = *query
							})`,
			`{{- if not (isRelayConn $e) }}
							if alias == field.Name {
								{{ $receiver }}.{{ $e.EagerLoadField }} = query
							} else {
							{{- end }}
							{{ $receiver }}.WithNamed{{ $e.StructField }}(alias, func (wq *{{ $e.Type.QueryName }}) {
								*wq = *query
							})
							{{- if not (isRelayConn $e) }}
							}
							{{- end }}`,
		}},
	} {
		text, err := patch("entgo.io/contrib", "entgql/"+name, changes)
		if err != nil {
			return nil, err
		}
		patched[name] = gen.MustParse(gen.NewTemplate(name).Funcs(entgql.TemplateFuncs).Parse(text))
	}
	var templates []*gen.Template
	for _, t := range entgql.AllTemplates {
		switch t {
		case entgql.EdgeTemplate:
			t = patched["template/edge.tmpl"]
		case entgql.CollectionTemplate:
			t = patched["template/collection.tmpl"]
		}
		templates = append(templates, t)
	}
	return templates, nil
}

// queryTemplate returns ent's query templates (dialect/sql/query and its
// helpers, which replace the built-in ones of the same names) with the
// eager loading of an edge selecting its rows by the parents' IDs through
// OneOf (ent/oneof.go): one array argument on PostgreSQL instead of an IN
// list of one argument per parent.
func queryTemplate() (*gen.Template, error) {
	text, err := patch("entgo.io/ent", "entc/gen/template/dialect/sql/query.tmpl", [][2]string{
		{
			`edgeIDs := make([]driver.Value, len(nodes))`,
			`edgeIDs := make([]{{ $.ID.Type }}, len(nodes))`,
		},
		{
			`s.Where(sql.InValues(joinT.C({{ $.Package }}.{{ $e.PKConstant }}[{{ $fk2idx }}]), edgeIDs...))`,
			`s.Where(OneOf(s, joinT.C({{ $.Package }}.{{ $e.PKConstant }}[{{ $fk2idx }}]), edgeIDs))`,
		},
		{
			`query.Where({{ $e.Type.Package }}.IDIn(ids...))`,
			`query.Where(predicate.{{ $e.Type.Name }}(func(s *sql.Selector) {
				s.Where(OneOf(s, s.C({{ $e.Type.Package }}.{{ $e.Type.ID.Constant }}), ids))
			}))`,
		},
		{
			`fks := make([]driver.Value, 0, len(nodes))`,
			`fks := make([]{{ $.ID.Type }}, 0, len(nodes))`,
		},
		{
			`s.Where(sql.InValues(s.C({{ $.Package }}.{{ $e.ColumnConstant }}), fks...))`,
			`s.Where(OneOf(s, s.C({{ $.Package }}.{{ $e.ColumnConstant }}), fks))`,
		},
	})
	if err != nil {
		return nil, err
	}
	return gen.NewTemplate("query").Parse(text)
}

// patch returns the text of file in module's directory with each change
// (old, new) made. Each change must apply exactly once: an upgrade that moved
// the text fails the generation.
func patch(module, file string, changes [][2]string) (string, error) {
	dir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module).Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s: %w", module, err)
	}
	b, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(dir)), file))
	if err != nil {
		return "", err
	}
	text := string(b)
	for _, c := range changes {
		if n := strings.Count(text, c[0]); n != 1 {
			return "", fmt.Errorf("%s: the text to change occurs %d times", file, n)
		}
		text = strings.Replace(text, c[0], c[1], 1)
	}
	return text, nil
}
