// Package webhook is the WEBHOOK connector kind: Gatehouse POSTs each
// fulfilment operation as signed JSON to a URL the application's owners run.
//
// # Configuration
//
//	url             required; absolute http or https URL, without user:password
//	secretEnv       the HMAC secret, as the NAME of a GATEHOUSE_SECRET_*
//	                environment variable holding it, never the secret itself
//	secretFile      or as the plain name of a file in the secrets directory;
//	                exactly one of secretEnv and secretFile is required
//	timeoutSeconds  optional; 1..60, default 10; bounds each call
//
// The secret is found through Kind.Secrets under the rule of
// connectors.SecretField: only the connector-secret namespace is reachable,
// never the server's own settings. It must be found and non-empty (white
// space alone counts as empty; the secret is otherwise used untrimmed) both
// when the configuration is validated (so a typo is caught when the
// application is saved, as INVALID_INPUT on connectorConfig.secretEnv) and
// when the connector is opened (the secret is read then, so a rotated secret
// takes effect at the next Open).
//
// # Requests
//
// Each call is a POST with Content-Type: application/json, an Idempotency-Key
// header and a Gatehouse-Signature header "t=<unix seconds>,v1=<hex
// HMAC-SHA256(secret, "<t>." + body)>"; receivers check it with Verify. The
// body is a Payload. Its type is ensure_identity, grant, revoke or ping (from
// CheckHealth, with no idempotency key). The idempotency key, in the header and
// the body alike, is "<type>:<request item ID>": one request item leads to an
// ensure_identity and a grant, and a receiver deduplicating on the key alone
// must not mistake one for the other. Redirects are not followed.
//
// # Responses
//
//	2xx                 done; for ensure_identity the body may be an
//	                    IdentityResult, e.g. {"externalId":"u-1","login":"ann","created":true}
//	409                 already done: success (created is false)
//	408, 429, 5xx       *connectors.TransientError; Retry-After (seconds or an
//	                    HTTP date, capped at 24 h) is honoured on 429 and 503
//	network errors      *connectors.TransientError, timeouts included
//	3xx, other 4xx      *connectors.PermanentError
//
// Errors for unexpected statuses are *StatusError (which
// connectors.Reason reads) and never quote the response body: whatever
// answers at the configured URL, its text does not reach Gatehouse's
// messages. Response bodies are read up to 64 KiB. Errors are prefixed
// "webhook: ".
package webhook

import (
	"fmt"
	"net/http"
	"time"

	"gatehouse/connectors"
	"gatehouse/connectors/internal/httpcall"
)

// Configuration keys.
const (
	KeyURL            = "url"
	KeySecretEnv      = "secretEnv"
	KeySecretFile     = "secretFile"
	KeyTimeoutSeconds = "timeoutSeconds"
)

// DefaultTimeout bounds each call when timeoutSeconds is not set.
const DefaultTimeout = 10 * time.Second

const (
	minTimeoutSeconds = 1
	maxTimeoutSeconds = 60
)

// secretField resolves KeySecretEnv or KeySecretFile. The secret is used as
// the store gives it, untrimmed.
var secretField = connectors.SecretField{EnvKey: KeySecretEnv, FileKey: KeySecretFile, Holds: "signing secret", Short: "secret", Example: "GATEHOUSE_SECRET_HR_WEBHOOK"}

// Kind is the WEBHOOK connector kind. server.go builds it with the server's
// *connectors.SecretStore; this package never reads the environment itself.
// A nil Secrets finds no secret, a nil Client means http.DefaultClient's
// settings (redirects are never followed), a nil Now means time.Now.
type Kind struct {
	Secrets connectors.Secrets
	Client  *http.Client
	Now     func() time.Time
}

var _ connectors.Kind = Kind{}

// Name implements connectors.Kind.
func (Kind) Name() string { return "WEBHOOK" }

// ValidateConfig implements connectors.Kind: it returns a
// *connectors.ConfigError naming the first bad key.
func (k Kind) ValidateConfig(config map[string]any) error {
	_, err := k.parse(config)
	return err
}

// Open implements connectors.Kind. It returns a *Connector, or a
// *connectors.PermanentError wrapping the *connectors.ConfigError when the
// configuration is bad or its secret variable is unset. It makes no call.
func (k Kind) Open(config map[string]any) (connectors.Connector, error) {
	c, err := k.OpenConnector(config)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// OpenConnector is Open returning the concrete type.
func (k Kind) OpenConnector(config map[string]any) (*Connector, error) {
	cfg, err := k.parse(config)
	if err != nil {
		return nil, connectors.Permanent(fmt.Errorf("webhook: open: %w", err))
	}
	now := k.Now
	if now == nil {
		now = time.Now
	}
	return &Connector{
		url:     cfg.url,
		secret:  cfg.secret,
		timeout: cfg.timeout,
		client:  connectors.NoRedirects(k.Client),
		now:     now,
	}, nil
}

type config struct {
	url     string
	secret  []byte
	timeout time.Duration
}

func (k Kind) parse(m map[string]any) (config, error) {
	var cfg config
	if err := connectors.UnknownKeys(m, KeyURL, KeySecretEnv, KeySecretFile, KeyTimeoutSeconds); err != nil {
		return cfg, err
	}
	u, err := urlField.Parse(m[KeyURL])
	if err != nil {
		return cfg, err
	}
	cfg.url = u.String()
	secret, err := secretField.Resolve(k.Secrets, m)
	if err != nil {
		return cfg, err
	}
	cfg.secret = []byte(secret)
	if cfg.timeout, err = connectors.Seconds(KeyTimeoutSeconds, m[KeyTimeoutSeconds], DefaultTimeout, minTimeoutSeconds, maxTimeoutSeconds); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// urlField is KeyURL.
var urlField = httpcall.URLField{
	Key:         KeyURL,
	Required:    "the http or https URL to POST operations to",
	Credentials: "requests are signed with the secret named by secretEnv or secretFile",
}
