package connectors

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"time"
)

// This file holds what several connector kinds share when they open: the
// parsing of configuration values (every error a *ConfigError naming the
// key) and the HTTP client of kinds that speak HTTP. Kinds call these from
// their ValidateConfig and Open.

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
