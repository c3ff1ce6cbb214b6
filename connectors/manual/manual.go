// Package manual is the connector kind of applications that people provision
// by hand: approved items wait in the manual fulfilment queue. It takes no
// configuration and has no connector to open.
package manual

import (
	"errors"

	"gatehouse/connectors"
)

// Kind is the MANUAL connector kind.
type Kind struct{}

var _ connectors.Kind = Kind{}

// Name implements connectors.Kind.
func (Kind) Name() string { return "MANUAL" }

// ValidateConfig accepts only an empty configuration.
func (Kind) ValidateConfig(config map[string]any) error {
	return connectors.UnknownKeys(config)
}

// Open always fails with a *connectors.PermanentError: manual applications are
// fulfilled by people through the manual fulfilment queue, and the workflow
// never opens a connector for them.
func (Kind) Open(map[string]any) (connectors.Connector, error) {
	return nil, connectors.Permanent(errors.New("manual: manual applications are fulfilled by people; there is no connector to open"))
}
