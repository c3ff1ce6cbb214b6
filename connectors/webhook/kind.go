// Package webhook is the WEBHOOK connector kind: Gatehouse POSTs each
// fulfilment operation as signed JSON to a URL the application's owners run.
//
// # Configuration
//
//	url             required; absolute http or https URL, without user:password
//	secretEnv       required; NAME of the environment variable holding the HMAC
//	                secret (^[A-Z_][A-Z0-9_]*$), never the secret itself
//	timeoutSeconds  optional; 1..60, default 10; bounds each call
//
// The variable named by secretEnv must be set and non-empty both when the
// configuration is validated (so a typo is caught when the application is
// saved, as INVALID_INPUT on connectorConfig.secretEnv) and when the connector
// is opened (the secret is read then, so a rotated secret takes effect at the
// next Open). Only the process environment through Kind.LookupEnv is read.
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
//	3xx, other 4xx      *connectors.PermanentError; a 4xx error quotes up to
//	                    200 bytes of the body
//
// Response bodies are read up to 64 KiB. Errors are prefixed "webhook: ".
package webhook

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"gatehouse/connectors"
)

// Configuration keys.
const (
	KeyURL            = "url"
	KeySecretEnv      = "secretEnv"
	KeyTimeoutSeconds = "timeoutSeconds"
)

// DefaultTimeout bounds each call when timeoutSeconds is not set.
const DefaultTimeout = 10 * time.Second

const (
	minTimeoutSeconds = 1
	maxTimeoutSeconds = 60
)

var envNamePattern = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)

// Kind is the WEBHOOK connector kind. server.go builds it with
// LookupEnv: os.LookupEnv; this package never reads the environment itself.
// A nil LookupEnv finds no variable, a nil Client means http.DefaultClient's
// settings (redirects are never followed), a nil Now means time.Now.
type Kind struct {
	LookupEnv func(string) (string, bool)
	Client    *http.Client
	Now       func() time.Time
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
	base := k.Client
	if base == nil {
		base = http.DefaultClient
	}
	client := *base
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	now := k.Now
	if now == nil {
		now = time.Now
	}
	return &Connector{
		url:     cfg.url,
		secret:  cfg.secret,
		timeout: cfg.timeout,
		client:  &client,
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
	if err := connectors.UnknownKeys(m, KeyURL, KeySecretEnv, KeyTimeoutSeconds); err != nil {
		return cfg, err
	}
	u, err := parseURL(m[KeyURL])
	if err != nil {
		return cfg, err
	}
	cfg.url = u
	if cfg.secret, err = k.secret(m[KeySecretEnv]); err != nil {
		return cfg, err
	}
	if cfg.timeout, err = parseTimeout(m[KeyTimeoutSeconds]); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func parseURL(v any) (string, error) {
	bad := func(msg string) (string, error) {
		return "", &connectors.ConfigError{Key: KeyURL, Message: msg}
	}
	if v == nil {
		return bad("required: the http or https URL to POST operations to")
	}
	s, ok := v.(string)
	if !ok {
		return bad("must be a string")
	}
	if s == "" {
		return bad("required: the http or https URL to POST operations to")
	}
	u, err := url.Parse(s)
	if err != nil {
		return bad("not a valid URL")
	}
	if !u.IsAbs() || u.Host == "" {
		return bad("must be an absolute http or https URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return bad(fmt.Sprintf("scheme %q is not supported; use http or https", u.Scheme))
	}
	if u.User != nil {
		return bad("must not carry credentials; requests are signed with the secret named by secretEnv")
	}
	return u.String(), nil
}

// secret resolves secretEnv. Messages never repeat the value, which may be a
// secret pasted by mistake.
func (k Kind) secret(v any) ([]byte, error) {
	bad := func(msg string) ([]byte, error) {
		return nil, &connectors.ConfigError{Key: KeySecretEnv, Message: msg}
	}
	if v == nil {
		return bad("required: the name of the environment variable holding the signing secret")
	}
	name, ok := v.(string)
	if !ok {
		return bad("must be a string: the name of the environment variable holding the signing secret")
	}
	if name == "" {
		return bad("required: the name of the environment variable holding the signing secret")
	}
	if !envNamePattern.MatchString(name) {
		return bad("give the name of the environment variable holding the secret (upper-case letters, digits and _, e.g. HR_WEBHOOK_SECRET), not the secret itself")
	}
	var val string
	if k.LookupEnv != nil {
		val, ok = k.LookupEnv(name)
	} else {
		ok = false
	}
	if !ok {
		return bad("the environment variable named here is not set on this server")
	}
	if val == "" {
		return bad("the environment variable named here is empty on this server")
	}
	return []byte(val), nil
}

func parseTimeout(v any) (time.Duration, error) {
	if v == nil {
		return DefaultTimeout, nil
	}
	n, ok := wholeNumber(v)
	if !ok || n < minTimeoutSeconds || n > maxTimeoutSeconds {
		return 0, &connectors.ConfigError{Key: KeyTimeoutSeconds, Message: fmt.Sprintf("must be a whole number of seconds from %d to %d", minTimeoutSeconds, maxTimeoutSeconds)}
	}
	return time.Duration(n) * time.Second, nil
}

// wholeNumber accepts the numbers a JSON config arrives as: float64 from
// encoding/json, json.Number from gqlgen variables, int64 from literals.
func wholeNumber(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case float64:
		if n != math.Trunc(n) || math.IsInf(n, 0) || math.Abs(n) > 1<<53 {
			return 0, false
		}
		return int64(n), true
	case json.Number:
		i, err := n.Int64()
		if err == nil {
			return i, true
		}
		f, err := n.Float64()
		if err != nil {
			return 0, false
		}
		return wholeNumber(f)
	default:
		return 0, false
	}
}
