// Package connectors defines how Gatehouse reaches the applications it
// provisions: each kind of connector (MANUAL, WEBHOOK, SCIM, POSTGRES) lives in
// its own package and registers here by name. Connectors import nothing of
// Gatehouse's own packages.
package connectors

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Kind is one kind of connector. ValidateConfig checks an application's
// connector configuration before it is stored: unknown keys, missing keys and
// secrets given inline instead of as environment variable names are errors.
type Kind interface {
	// Name is the connector kind as the API spells it, e.g. "MANUAL".
	Name() string
	// ValidateConfig returns a *ConfigError naming the offending key.
	ValidateConfig(config map[string]any) error
}

// ConfigError reports a bad connector configuration key.
type ConfigError struct {
	Key     string
	Message string
}

func (e *ConfigError) Error() string {
	if e.Key == "" {
		return e.Message
	}
	return e.Key + ": " + e.Message
}

// Registry holds the connector kinds this server can use.
type Registry struct {
	kinds map[string]Kind
}

// NewRegistry returns a registry of the given kinds.
func NewRegistry(kinds ...Kind) *Registry {
	r := &Registry{kinds: make(map[string]Kind, len(kinds))}
	for _, k := range kinds {
		r.kinds[k.Name()] = k
	}
	return r
}

// ValidateConfig checks config for the named kind. A kind that is not
// registered is refused.
func (r *Registry) ValidateConfig(kind string, config map[string]any) error {
	k, ok := r.kinds[kind]
	if !ok {
		return &ConfigError{Message: fmt.Sprintf("connector kind %s is not available on this server (available: %s)", kind, strings.Join(r.Names(), ", "))}
	}
	return k.ValidateConfig(config)
}

// Names lists the registered kinds in order.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.kinds))
	for n := range r.kinds {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// UnknownKeys returns a *ConfigError for the first key of config not in
// allowed, in sorted order so the error is stable, or nil.
func UnknownKeys(config map[string]any, allowed ...string) error {
	keys := make([]string, 0, len(config))
	for k := range config {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !slices.Contains(allowed, k) {
			return &ConfigError{Key: k, Message: "unknown key"}
		}
	}
	return nil
}
