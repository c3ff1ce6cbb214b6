// Package connectors defines how Gatehouse reaches the applications it
// provisions: each kind of connector (MANUAL, WEBHOOK, SCIM, POSTGRES) lives in
// its own package and registers here by name. Connectors import nothing of
// Gatehouse's own packages.
//
// A Kind validates an application's connector configuration (when the catalog
// stores it) and opens a Connector from it (when a fulfilment job runs). Every
// Connector operation is idempotent: creating an account that exists, granting
// what is held or revoking what is gone is success. Failures are classified as
// *TransientError (retry later, possibly after RetryAfter) or *PermanentError
// (retrying the same call cannot help); IsTransient tells them apart.
package connectors

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Kind is one kind of connector. ValidateConfig checks an application's
// connector configuration before it is stored: unknown keys, missing keys and
// secrets given inline instead of as environment variable names are errors.
type Kind interface {
	// Name is the connector kind as the API spells it, e.g. "MANUAL".
	Name() string
	// ValidateConfig returns a *ConfigError naming the offending key.
	ValidateConfig(config map[string]any) error
	// Open returns a connector for an application with this configuration.
	// It validates the configuration again (it may have been stored by an
	// older server) and does not contact the application. Its errors are
	// classified: a bad or unusable configuration is a *PermanentError
	// wrapping a *ConfigError.
	Open(config map[string]any) (Connector, error)
}

// User is the Gatehouse user an operation is about.
type User struct {
	ID    string
	Email string
	Name  string
}

// Account is the user's account in the application. ExternalID is the
// application's own identifier for it; both fields may be empty before the
// account is known.
type Account struct {
	ExternalID string
	Login      string
}

// Entitlement is the access granted or revoked, as Gatehouse knows it (ID)
// and as the application knows it (ExternalID).
type Entitlement struct {
	ID         string
	ExternalID string
	Name       string
}

// Operation is one fulfilment step for one request item.
type Operation struct {
	// IdempotencyKey is the request item ID. Connectors combine it with the
	// operation type, so EnsureIdentity and Grant of one item never collide.
	IdempotencyKey string
	// Application is the application's name.
	Application string
	User        User
	Account     Account
	Entitlement Entitlement
}

// Connector reaches one application. All operations are idempotent and safe to
// retry with the same Operation; errors are *TransientError or
// *PermanentError (see IsTransient). Connectors are called outside database
// transactions, by the fulfilment jobs only.
type Connector interface {
	// Name is the connector's name as used in error prefixes, e.g. "webhook".
	Name() string
	// CheckHealth reports whether the application answers.
	CheckHealth(ctx context.Context) error
	// EnsureIdentity makes sure the user has an account in the application and
	// returns it; created reports whether this call created it.
	EnsureIdentity(ctx context.Context, op Operation) (acct Account, created bool, err error)
	// Grant gives op.Account the entitlement; granting what is held is success.
	Grant(ctx context.Context, op Operation) error
	// Revoke removes the entitlement; revoking what is gone is success.
	Revoke(ctx context.Context, op Operation) error
}

// TransientError is a failure that may pass: the caller retries, waiting at
// least RetryAfter when it is positive (the application asked for it).
type TransientError struct {
	Err        error
	RetryAfter time.Duration
}

func (e *TransientError) Error() string {
	if e.Err == nil {
		return "transient error"
	}
	return e.Err.Error()
}

func (e *TransientError) Unwrap() error { return e.Err }

// PermanentError is a failure that retrying the same call cannot fix (a
// rejected request, a bad configuration); the item is marked FAILED.
type PermanentError struct {
	Err error
}

func (e *PermanentError) Error() string {
	if e.Err == nil {
		return "permanent error"
	}
	return e.Err.Error()
}

func (e *PermanentError) Unwrap() error { return e.Err }

// Transient wraps err as a *TransientError. Transient(nil) is nil.
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return &TransientError{Err: err}
}

// Permanent wraps err as a *PermanentError. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsTransient reports whether err is worth retrying. A *PermanentError
// anywhere in the chain makes it permanent; any other non-nil error,
// including one nobody classified, counts as transient. IsTransient(nil) is
// false.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	var pe *PermanentError
	return !errors.As(err, &pe)
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
// registered is refused with a *ConfigError whose Key is empty.
func (r *Registry) ValidateConfig(kind string, config map[string]any) error {
	k, err := r.kind(kind)
	if err != nil {
		return err
	}
	return k.ValidateConfig(config)
}

// Open opens a connector of the named kind with config. A kind that is not
// registered is a *PermanentError wrapping a *ConfigError; other errors are
// the kind's own (see Kind.Open).
func (r *Registry) Open(kind string, config map[string]any) (Connector, error) {
	k, err := r.kind(kind)
	if err != nil {
		return nil, Permanent(err)
	}
	return k.Open(config)
}

func (r *Registry) kind(name string) (Kind, error) {
	k, ok := r.kinds[name]
	if !ok {
		return nil, &ConfigError{Message: fmt.Sprintf("connector kind %s is not available on this server (available: %s)", name, strings.Join(r.Names(), ", "))}
	}
	return k, nil
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
