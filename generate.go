package main

// Code generation, in order: the methods of the enumerations the ent schemas
// use, ent (with the entgql extension, which also writes
// schema/ent.graphql), then gqlgen.
//go:generate go run ./ent/schema/enum/enumgen.go ./ent/schema/enum
//go:generate go run -mod=mod ./ent/entc.go
//go:generate go tool gqlgen generate --config gqlgen.yml
