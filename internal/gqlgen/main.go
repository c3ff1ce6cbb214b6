// Command gqlgen generates the GraphQL executor (graph/) from gqlgen.yml:
// gqlgen's own generator, one plugin (executor) and gqlgen's templates with
// seven changes, all to what the executor does for values that are already
// loaded.
//
// gqlgen runs a field in a goroutine of its own whenever the method it is
// bound to takes a context.Context (Field.IsConcurrent), and entgql's edge
// methods all do, although CollectFields has normally loaded the edge with
// its parent and the method only returns it. The plugin resolves the fields
// of every object type one after the other instead; only the root types
// (Query, Subscription; Mutation already is) keep gqlgen's rule. A field
// whose edge was not loaded with its parent still queries, in turn with its
// siblings.
//
// The templates, read from the gqlgen module this repository pins (go.mod)
// and changed in memory (see patches), then render graph/generated.go a
// second time, over the copy gqlgen's own generator wrote:
//
//   - The elements of a list are marshalled one after the other
//     (gqlexec.MarshalList) unless a field selected beneath them is resolved
//     by a hand-written resolver (resolvers/*.resolvers.go), which may wait
//     for a data loader that batches what the elements ask within a short
//     wait (for example myTasks { request { completion } }): such lists keep
//     gqlgen's goroutine per element.
//   - An object type none of whose fields runs concurrently builds no
//     deferred group: only a concurrent field can be deferred (@defer), so
//     gqlgen's group, and the path it computes, were never used there.
//   - Such an object's values are held and written by gqlexec.Object
//     instead of gqlgen's graphql.FieldSet, whose MarshalGQL allocates a
//     map, an iterator and a copy of each field per object.
//   - A leaf field (scalar or enum) bound to a struct field or to a method
//     that takes no context and returns no error, with no arguments and no
//     directives, on a type other than a root, is marshalled straight from
//     the value, without a field context, resolver closure or the value
//     boxed in an interface: nothing can fail between reading it and
//     writing it. Such a field does not pass through field middleware
//     (handler.Server.AroundFields, none is installed), and a panic while
//     marshalling it is reported at its parent field.
//   - An object held by a field of such a type (an ent edge bound to the
//     method entgql generated, gql_edge.go, whose value was loaded with its
//     parent, Edges.<X>OrErr; or a plain pointer, Completion say) is
//     written straight from the value, with everything beneath it, when the
//     query selects only such fields there: plain leaves and fields holding
//     objects so written (templates/direct.gotpl). The field's function
//     checks the whole subtree first (direct_<Type>: every edge loaded, no
//     non-null field null, a list edge selected under its own name) and
//     returns one writer for it (writeField_<Type>) instead of a field
//     context, a context value, closures and an object of values per field
//     and per element. What it writes is what gqlgen's path writes; a
//     subtree that does not pass takes gqlgen's path, whose fields try
//     again beneath it. Field middleware (none is installed) does not see
//     the fields of such a subtree, as it does not see plain leaves. A page
//     of requests writes its items, stages, tasks and reviewers so; a
//     subscription event its two or three plain objects.
//   - A subscription's handler reuses its response for each event, as it
//     reuses the buffer the data is written to.
//   - A query's or mutation's data is written into a buffer from a pool
//     (gqlexec.Marshal) that the POST transport gives back once it has
//     written the response (gqlhttp), instead of a new buffer grown by
//     doubling for each response.
//
// If gqlgen's templates no longer contain the text a change replaces, the
// command fails rather than generate without it.
//
// Run by go generate (see generate.go): go run ./internal/gqlgen gqlgen.yml
package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/99designs/gqlgen/api"
	"github.com/99designs/gqlgen/codegen/config"
)

func main() {
	path := "gqlgen.yml"
	if len(os.Args) > 1 {
		path = os.Args[1]
	}
	if err := run(path); err != nil {
		fmt.Fprintln(os.Stderr, "gqlgen:", err)
		os.Exit(3)
	}
}

func run(path string) error {
	cfg, err := config.LoadConfig(path)
	if err != nil {
		return fmt.Errorf("load config: %w", err)
	}
	// The copy gqlgen writes is replaced below; the result is built then.
	validate := !cfg.SkipValidation
	cfg.SkipValidation = true
	p := &executor{}
	if err := api.Generate(cfg, api.AddPlugin(p)); err != nil {
		return err
	}
	dir, err := moduleDir("github.com/99designs/gqlgen")
	if err != nil {
		return err
	}
	if err := p.render(dir); err != nil {
		return err
	}
	if !validate {
		return nil
	}
	dirs := []string{cfg.Exec.Dir()}
	if cfg.Resolver.IsDefined() {
		dirs = append(dirs, cfg.Resolver.Dir())
	}
	return goBuild(dirs...)
}

// moduleDir returns the directory of module path as the go command
// resolves it for this repository (the module cache).
func moduleDir(path string) (string, error) {
	var stderr bytes.Buffer
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", path)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s: %w: %s", path, err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

// goBuild builds the packages in dirs, as gqlgen's validation does.
func goBuild(dirs ...string) error {
	cmd := exec.Command("go", append([]string{"build"}, dirs...)...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("validation failed: go build %s: %w", strings.Join(dirs, " "), err)
	}
	return nil
}
