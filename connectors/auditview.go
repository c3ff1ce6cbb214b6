package connectors

import (
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// plainValue is a string an audit event may record as it is (a role
// prefix, a name): short, one word.
var plainValue = regexp.MustCompile(`^[A-Za-z0-9_.:-]{0,64}$`)

// AuditView returns what the audit trail records of a connector
// configuration: every key, with
//
//   - the value of a key ending in "Env" or "File" (a secret reference)
//     kept when it is a reference inside the connector-secret namespace,
//     else "(not a secret reference)";
//   - booleans and whole numbers as they are;
//   - http(s) URLs as scheme://host, followed by "/…" when they have a
//     path or a query (either may carry a token the receiver asked for);
//   - other short one-word strings as they are, anything else
//     "(not recorded)".
//
// refs lists the references, "env:NAME" or "file:name", sorted. No secret
// value can appear: configurations hold none (SecretField refuses them), and
// what is not recognisably harmless is left out. The catalog calls it for
// every change of an application's connector configuration.
func AuditView(config map[string]any) (view map[string]any, refs []string) {
	view = make(map[string]any, len(config))
	for k, v := range config {
		switch {
		case strings.HasSuffix(k, "Env") || strings.HasSuffix(k, "File"):
			s, _ := v.(string)
			r := SecretRef{Env: s}
			if strings.HasSuffix(k, "File") {
				r = SecretRef{File: s}
			}
			if !r.inNamespace() {
				view[k] = "(not a secret reference)"
				continue
			}
			view[k] = s
			refs = append(refs, r.String())
		default:
			view[k] = auditValue(v)
		}
	}
	sort.Strings(refs)
	return view, slices.Compact(refs)
}

func auditValue(v any) any {
	switch x := v.(type) {
	case nil, bool:
		return x
	case string:
		if u, err := url.Parse(x); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
			// The path and the query of a webhook URL may be a capability
			// (a token in the address): only where it points is recorded.
			out := u.Scheme + "://" + u.Host
			if strings.Trim(u.EscapedPath(), "/") != "" || u.RawQuery != "" {
				out += "/…"
			}
			return out
		}
		if plainValue.MatchString(x) {
			return x
		}
	default:
		if n, ok := WholeNumber(v); ok {
			return n
		}
	}
	return "(not recorded)"
}
