package main

// Code generation, in order: the methods of the enumerations the ent schemas
// use, ent (with the entgql extension, which also writes
// schema/ent.graphql, two of its templates changed in ent/entc.go so that
// an unaliased list edge is loaded without a map of named edges per row, and
// ent's query template changed there so that eager loading selects children
// by one array of their parents' IDs on PostgreSQL),
// then gqlgen through internal/gqlgen, which resolves
// the fields of an object one after the other and marshals values already
// loaded without gqlgen's per-field and per-element work.
//go:generate go run ./ent/schema/enum/enumgen.go ./ent/schema/enum
//go:generate go run -mod=mod ./ent/entc.go
//go:generate go run ./internal/gqlgen gqlgen.yml
