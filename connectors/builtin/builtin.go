// Package builtin knows every connector kind Gatehouse ships, so that the
// server and its test harness set them up in one place.
package builtin

import (
	"gatehouse/connectors"
	"gatehouse/connectors/manual"
	"gatehouse/connectors/postgres"
	"gatehouse/connectors/scim"
	"gatehouse/connectors/webhook"
)

// Registry returns a registry of every built-in connector kind: MANUAL,
// WEBHOOK, SCIM and POSTGRES. The kinds that need secrets read them from
// secrets; a nil secrets finds none.
func Registry(secrets connectors.Secrets) *connectors.Registry {
	return connectors.NewRegistry(
		manual.Kind{},
		webhook.Kind{Secrets: secrets},
		scim.Kind{Secrets: secrets},
		postgres.Kind{Secrets: secrets},
	)
}
