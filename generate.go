package main

// Code generation, in order: ent (with the entgql extension, which also
// writes schema/ent.graphql), then gqlgen.
//go:generate go run -mod=mod ./ent/entc.go
//go:generate go tool gqlgen generate --config gqlgen.yml
