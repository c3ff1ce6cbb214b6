package connectors

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// This file holds what several connector kinds share when they open: the
// parsing of configuration values (every error a *ConfigError naming the
// key) and the HTTP client of kinds that speak HTTP. Kinds call these from
// their ValidateConfig and Open.

// envNamePattern is what an environment variable name given in a
// configuration must look like.
var envNamePattern = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)

// WholeNumber returns v as an int64 when v is a whole number in one of the
// forms a JSON configuration arrives as: int, int32 or int64 (Go literals),
// float64 (encoding/json) with no fractional part and at most 2^53 in
// magnitude, or json.Number (gqlgen variables) holding an integer or such a
// float. For anything else, strings included, it returns 0 and false. Any
// kind may call it.
func WholeNumber(v any) (int64, bool) {
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
		if i, err := n.Int64(); err == nil {
			return i, true
		}
		f, err := n.Float64()
		if err != nil {
			return 0, false
		}
		return WholeNumber(f)
	default:
		return 0, false
	}
}

// Seconds parses v, the value of the configuration key key, as a whole number
// of seconds from lo to hi (see WholeNumber for the forms accepted) and
// returns it as a duration; a nil v (the key is absent) gives def. Any other
// value returns a *ConfigError naming key with the message "must be a whole
// number of seconds from <lo> to <hi>". Kinds call it for keys such as
// timeoutSeconds.
func Seconds(key string, v any, def time.Duration, lo, hi int64) (time.Duration, error) {
	if v == nil {
		return def, nil
	}
	n, ok := WholeNumber(v)
	if !ok || n < lo || n > hi {
		return 0, &ConfigError{Key: key, Message: fmt.Sprintf("must be a whole number of seconds from %d to %d", lo, hi)}
	}
	return time.Duration(n) * time.Second, nil
}

// EnvVar describes a configuration key whose value is the name of an
// environment variable holding a secret (a token, a signing secret, a
// connection string with a password), so that the secret itself is never
// stored in the configuration. Kinds declare one per such key and resolve it
// with Value.
type EnvVar struct {
	// Key is the configuration key, e.g. "secretEnv".
	Key string
	// Holds says in full what the variable holds, e.g. "signing secret".
	Holds string
	// Short is the same said briefly, e.g. "secret".
	Short string
	// Example is a valid variable name to suggest, e.g. "HR_WEBHOOK_SECRET".
	Example string
}

// Value resolves v, the value of e.Key in a configuration: v must be the
// name of an environment variable (upper-case letters, digits and _, not
// starting with a digit) that lookup finds set to something other than white
// space. It returns the variable's value as lookup gives it, untrimmed; kinds
// make their own further checks on it. A nil lookup finds no variable (kinds
// pass their LookupEnv, which server.go sets to os.LookupEnv).
//
// Otherwise it returns a *ConfigError naming e.Key, with the message
//
//	"required: the name of the environment variable holding the <Holds>"
//	                           when v is nil or ""
//	"must be a string: the name of the environment variable holding the <Holds>"
//	                           when v is not a string
//	"give the name of the environment variable holding the <Short> (upper-case
//	letters, digits and _, e.g. <Example>), not the <Short> itself"
//	                           when v is not a variable name
//	"the environment variable named here is not set on this server"
//	"the environment variable named here is empty on this server"
//	                           when it is empty or white space only
//
// Messages never contain v nor the variable's value: v may be the secret
// itself, pasted by mistake.
func (e EnvVar) Value(lookup func(string) (string, bool), v any) (string, error) {
	bad := func(msg string) (string, error) {
		return "", &ConfigError{Key: e.Key, Message: msg}
	}
	name, ok := v.(string)
	switch {
	case v == nil, ok && name == "":
		return bad("required: the name of the environment variable holding the " + e.Holds)
	case !ok:
		return bad("must be a string: the name of the environment variable holding the " + e.Holds)
	case !envNamePattern.MatchString(name):
		return bad(fmt.Sprintf("give the name of the environment variable holding the %s (upper-case letters, digits and _, e.g. %s), not the %s itself", e.Short, e.Example, e.Short))
	}
	const unset = "the environment variable named here is not set on this server"
	if lookup == nil {
		return bad(unset)
	}
	val, ok := lookup(name)
	if !ok {
		return bad(unset)
	}
	if strings.TrimSpace(val) == "" {
		return bad("the environment variable named here is empty on this server")
	}
	return val, nil
}

// NoRedirects returns a copy of base (http.DefaultClient when nil) that
// never follows redirects: a connector talks to the URL an admin
// configured, never to one a response points at, and its credentials must
// not travel there. Kinds that speak HTTP call it in Open.
func NoRedirects(base *http.Client) *http.Client {
	if base == nil {
		base = http.DefaultClient
	}
	c := *base
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}
