package httpcall

import (
	"fmt"
	"net/url"

	"gatehouse/connectors"
)

// URLField is the configuration key of the http or https URL a connector
// calls.
type URLField struct {
	Key string
	// Required follows "required: " when the key is missing or empty: what
	// the URL is for.
	Required string
	// Credentials follows "must not carry credentials; " when the URL holds
	// user:password: where the credentials come from instead.
	Credentials string
}

// Parse returns the URL v holds: a string with an absolute http or https URL
// without user:password. Anything else is a *connectors.ConfigError naming
// f.Key; its message never repeats the value.
func (f URLField) Parse(v any) (*url.URL, error) {
	bad := func(msg string) (*url.URL, error) {
		return nil, &connectors.ConfigError{Key: f.Key, Message: msg}
	}
	s, ok := v.(string)
	switch {
	case v == nil, ok && s == "":
		return bad("required: " + f.Required)
	case !ok:
		return bad("must be a string")
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
		return bad("must not carry credentials; " + f.Credentials)
	}
	return u, nil
}
