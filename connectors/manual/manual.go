// Package manual is the connector kind of applications that people provision
// by hand: approved items wait in the manual fulfilment queue. It takes no
// configuration.
package manual

import "gatehouse/connectors"

// Kind is the MANUAL connector kind.
type Kind struct{}

var _ connectors.Kind = Kind{}

// Name implements connectors.Kind.
func (Kind) Name() string { return "MANUAL" }

// ValidateConfig accepts only an empty configuration.
func (Kind) ValidateConfig(config map[string]any) error {
	return connectors.UnknownKeys(config)
}
