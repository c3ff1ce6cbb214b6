// Package scim is the SCIM connector kind: a SCIM 2.0 client (RFC 7643,
// RFC 7644) for applications that expose /Users and /Groups. Accounts are SCIM
// Users; entitlements are SCIM Groups, granted and revoked by PATCHing the
// group's members.
//
// # Configuration
//
//	baseUrl         required; absolute http or https URL of the SCIM service
//	                (the one under which /Users and /Groups live), without
//	                user:password, e.g. https://idp.example.com/scim/v2
//	tokenEnv        the bearer token, as the NAME of a GATEHOUSE_SECRET_*
//	                environment variable holding it, never the token itself
//	tokenFile       or as the plain name of a file in the secrets directory;
//	                exactly one of tokenEnv and tokenFile is required
//	timeoutSeconds  optional; 1..60, default 10; bounds each HTTP request
//
// The token is found through Kind.Secrets under the rule of
// connectors.SecretField (only the connector-secret namespace, never the
// server's own settings); it must be found and non-empty when the
// configuration is validated and when the connector is opened (the token is
// read then, so a rotated token takes effect at the next Open).
//
// # Operations
//
// EnsureIdentity looks for the user with the filter userName eq "<login>",
// where login is the known Account.Login or else the user's email and the
// value is always a quoted, escaped SCIM string (no filter injection). A
// user found is adopted (created is false); otherwise it POSTs a User with
// that userName, the email, the name and externalId = the Gatehouse user ID
// (created is true); a 409 answer (another writer created it meanwhile) looks
// the user up again and adopts it. An Account.ExternalID Gatehouse already
// knows is tried first with GET /Users/{id}. The account's ExternalID is the
// SCIM id and its Login the userName.
//
// Grant PATCHes the group named by Entitlement.ExternalID (the SCIM id of the
// group) with {"op":"add","path":"members","value":[{"value":"<user id>"}]};
// adding a member who is there is success per RFC 7644 §3.5.2.1 (a server
// answering 409 instead is checked: the member being there is success).
// Revoke PATCHes {"op":"remove","path":"members[value eq \"<user id>\"]"}; a
// member who is gone (400 noTarget, or a SCIM 404 because the group or the
// user is gone) is success. Redirects are not followed.
//
// # Errors
//
// Errors are prefixed "scim: ". Network errors, timeouts, 408, 429 and 5xx
// are *connectors.TransientError (Retry-After, seconds or an HTTP date capped
// at 24 h, is honoured on 429 and 503); 3xx and other 4xx are
// *connectors.PermanentError wrapping an *Error that carries the status, and
// the scimType and the SCIM detail when the answer is a SCIM error response
// (schemas holding the SCIM Error URN); the text of any other answer is never
// kept, so whatever listens at baseUrl cannot put its words in Gatehouse's
// messages. An answer that is not SCIM where SCIM is expected wraps
// connectors.ErrUnexpectedAnswer.
package scim

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"gatehouse/connectors"
	"gatehouse/connectors/internal/httpcall"
)

// Configuration keys.
const (
	KeyBaseURL        = "baseUrl"
	KeyTokenEnv       = "tokenEnv"
	KeyTokenFile      = "tokenFile"
	KeyTimeoutSeconds = "timeoutSeconds"
)

// DefaultTimeout bounds each request when timeoutSeconds is not set.
const DefaultTimeout = 10 * time.Second

const (
	minTimeoutSeconds = 1
	maxTimeoutSeconds = 60
)

// tokenField resolves KeyTokenEnv or KeyTokenFile; token trims and checks
// the value.
var tokenField = connectors.SecretField{EnvKey: KeyTokenEnv, FileKey: KeyTokenFile, Holds: "SCIM bearer token", Short: "token", Example: "GATEHOUSE_SECRET_IDP_SCIM_TOKEN"}

// Kind is the SCIM connector kind. server.go builds it with the server's
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
func (Kind) Name() string { return "SCIM" }

// ValidateConfig implements connectors.Kind: it returns a
// *connectors.ConfigError naming the first bad key. It makes no request.
func (k Kind) ValidateConfig(config map[string]any) error {
	_, err := k.parse(config)
	return err
}

// Open implements connectors.Kind. It returns a *Connector, or a
// *connectors.PermanentError wrapping the *connectors.ConfigError when the
// configuration is bad or its token variable is unset. It makes no request.
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
		return nil, connectors.Permanent(fmt.Errorf("scim: open: %w", err))
	}
	now := k.Now
	if now == nil {
		now = time.Now
	}
	return &Connector{
		base:    cfg.base,
		token:   cfg.token,
		timeout: cfg.timeout,
		client:  connectors.NoRedirects(k.Client),
		now:     now,
	}, nil
}

type config struct {
	base    string
	token   string
	timeout time.Duration
}

func (k Kind) parse(m map[string]any) (config, error) {
	var cfg config
	if err := connectors.UnknownKeys(m, KeyBaseURL, KeyTokenEnv, KeyTokenFile, KeyTimeoutSeconds); err != nil {
		return cfg, err
	}
	var err error
	if cfg.base, err = parseBaseURL(m[KeyBaseURL]); err != nil {
		return cfg, err
	}
	if cfg.token, err = k.token(m); err != nil {
		return cfg, err
	}
	if cfg.timeout, err = connectors.Seconds(KeyTimeoutSeconds, m[KeyTimeoutSeconds], DefaultTimeout, minTimeoutSeconds, maxTimeoutSeconds); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// baseURLField is KeyBaseURL.
var baseURLField = httpcall.URLField{
	Key:         KeyBaseURL,
	Required:    "the http or https URL of the SCIM service (where /Users and /Groups live)",
	Credentials: "the bearer token comes from tokenEnv or tokenFile",
}

func parseBaseURL(v any) (string, error) {
	u, err := baseURLField.Parse(v)
	if err != nil {
		return "", err
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", &connectors.ConfigError{Key: KeyBaseURL, Message: "must not have a query or fragment; give the base URL under which /Users and /Groups live"}
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// token resolves tokenEnv or tokenFile (see connectors.SecretField) and
// returns the token trimmed of surrounding white space. A token of more than
// one line, or with other control characters, is refused with a
// *connectors.ConfigError: it would break the Authorization header. Messages
// never repeat the value, which may be a token pasted by mistake.
func (k Kind) token(m map[string]any) (string, error) {
	val, err := tokenField.Resolve(k.Secrets, m)
	if err != nil {
		return "", err
	}
	val = strings.TrimSpace(val)
	if strings.ContainsFunc(val, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", &connectors.ConfigError{Key: tokenField.KeyGiven(m), Message: "the secret named here holds more than one line or control characters"}
	}
	return val, nil
}
