// Command gqlgen generates the GraphQL executor (graph/) from gqlgen.yml:
// gqlgen's own generator plus one plugin, sequentialFields.
//
// gqlgen runs a field in a goroutine of its own whenever the method it is
// bound to takes a context.Context (Field.IsConcurrent), and entgql's edge
// methods all do, although CollectFields has normally loaded the edge with
// its parent and the method only returns it. sequentialFields resolves the
// fields of every object type one after the other instead; only the root
// types (Query, Subscription; Mutation already is) keep gqlgen's rule, and
// the elements of a list are still marshalled concurrently, so data loaders
// keep batching across the elements of a list. A field whose edge was not
// loaded with its parent still queries, in turn with its siblings.
//
// Run by go generate (see generate.go): go run ./internal/gqlgen gqlgen.yml
package main

import (
	"fmt"
	"os"

	"github.com/99designs/gqlgen/api"
	"github.com/99designs/gqlgen/codegen"
	"github.com/99designs/gqlgen/codegen/config"
)

func main() {
	path := "gqlgen.yml"
	if len(os.Args) > 1 {
		path = os.Args[1]
	}
	cfg, err := config.LoadConfig(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gqlgen: load config:", err)
		os.Exit(2)
	}
	if err := api.Generate(cfg, api.AddPlugin(sequentialFields{})); err != nil {
		fmt.Fprintln(os.Stderr, "gqlgen:", err)
		os.Exit(3)
	}
}

// sequentialFields turns off gqlgen's goroutine per context-taking field on
// every object type but the roots.
type sequentialFields struct{}

func (sequentialFields) Name() string { return "sequentialFields" }

func (sequentialFields) GenerateCode(data *codegen.Data) error {
	for _, o := range data.Objects {
		if !o.Root {
			o.DisableConcurrency = true
		}
	}
	return nil
}
