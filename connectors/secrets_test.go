package connectors_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/connectors"
)

var tokenField = connectors.SecretField{EnvKey: "tokenEnv", FileKey: "tokenFile", Holds: "SCIM bearer token", Short: "token", Example: "GATEHOUSE_SECRET_IDP_TOKEN"}

const (
	msgRequired  = "required: the name of a GATEHOUSE_SECRET_* environment variable holding the SCIM bearer token, or tokenFile: a file in the secrets directory"
	msgBoth      = "give either tokenEnv or tokenFile, not both"
	msgEnvNotStr = "must be a string: the name of a GATEHOUSE_SECRET_* environment variable holding the SCIM bearer token"
	msgNotName   = "give the name of the environment variable holding the token (e.g. GATEHOUSE_SECRET_IDP_TOKEN), not the token itself"
	msgOutside   = "must name a variable of the connector-secret namespace GATEHOUSE_SECRET_* (e.g. GATEHOUSE_SECRET_IDP_TOKEN); the server's own settings are not readable by connectors"
	msgFileName  = "must be the plain name of a file in the secrets directory (letters, digits, '.', '_' and '-', not starting with '.'; no '/' or '..')"
	msgUnset     = "the environment variable named here is not set on this server"
	msgEmpty     = "the environment variable named here is empty on this server"
	msgNoFile    = "the secrets directory holds no readable file of this name"
	msgFileEmpty = "the file named here is empty"
	msgNoDir     = "no secrets directory is configured on this server (GATEHOUSE_SECRETS_DIR)"
)

// spyEnv is an environment that records every name it is asked for.
type spyEnv struct {
	vars  map[string]string
	mu    sync.Mutex
	asked []string
}

func (s *spyEnv) lookup(name string) (string, bool) {
	s.mu.Lock()
	s.asked = append(s.asked, name)
	s.mu.Unlock()
	v, ok := s.vars[name]
	return v, ok
}

// serverEnv holds what a server's environment holds besides connector
// secrets: the canaries must never come out of a store.
func serverEnv() *spyEnv {
	return &spyEnv{vars: map[string]string{
		"GATEHOUSE_JWT_SECRET":         "canary-jwt-0123456789abcdef0123456789",
		"DATABASE_URL":                 "postgres://gatehouse:canary-db@db/gatehouse",
		"PATH":                         "/usr/bin",
		"GATEHOUSE_SECRET_IDP_TOKEN":   "t0ken-s3cret",
		"GATEHOUSE_SECRET_PADDED":      "  t0ken \n",
		"GATEHOUSE_SECRET_EMPTY":       "",
		"GATEHOUSE_SECRET_BLANK":       " \t\n",
		"GATEHOUSE_SECRETS_DIR":        "/run/secrets",
		"GATEHOUSE_SECRET":             "no suffix",
		"GATEHOUSE_SECRET_":            "empty suffix",
		"gatehouse_secret_lower_token": "lower",
	}}
}

// secretDir makes a secrets directory with a file outside it to escape to.
func secretDir(t *testing.T) (dir, outside string) {
	t.Helper()
	base := t.TempDir()
	dir = filepath.Join(base, "secrets")
	require.NoError(t, os.Mkdir(dir, 0o700))
	outside = filepath.Join(base, "jwt.secret")
	write := func(path, content string) {
		require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	}
	write(outside, "canary-outside-the-directory")
	write(filepath.Join(dir, "idp-token"), "file-t0ken\n")
	write(filepath.Join(dir, "crlf.token"), "file-t0ken\r\n")
	write(filepath.Join(dir, "two-newlines"), "file-t0ken\n\n")
	write(filepath.Join(dir, "empty"), "")
	write(filepath.Join(dir, "blank"), "\n")
	write(filepath.Join(dir, "big"), strings.Repeat("x", 64<<10+1))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "subdir"), 0o700))
	write(filepath.Join(dir, "subdir", "token"), "nested")
	// A Kubernetes secret volume: name -> ..data/name, inside the directory.
	require.NoError(t, os.Mkdir(filepath.Join(dir, "..data"), 0o700))
	write(filepath.Join(dir, "..data", "k8s-token"), "k8s-t0ken")
	require.NoError(t, os.Symlink(filepath.Join("..data", "k8s-token"), filepath.Join(dir, "k8s-token")))
	// Links leading out: relative, absolute, and to the process environment.
	require.NoError(t, os.Symlink(filepath.Join("..", "jwt.secret"), filepath.Join(dir, "escape-relative")))
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, "escape-absolute")))
	require.NoError(t, os.Symlink("/proc/self/environ", filepath.Join(dir, "environ")))
	return dir, outside
}

// TestSecretFieldResolve: what a reference resolves to and the message of
// each refusal, which names the key given and never depends on whether a
// name outside the namespace exists.
func TestSecretFieldResolve(t *testing.T) {
	t.Parallel()
	dir, outside := secretDir(t)
	env := serverEnv()
	store := connectors.NewSecretStore(env.lookup, dir)
	noDir := connectors.NewSecretStore(env.lookup, "")
	cfg := func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name    string
		store   connectors.Secrets
		config  map[string]any
		want    string
		key     string
		message string
		why     string
	}{
		{"variable", store, cfg("tokenEnv", "GATEHOUSE_SECRET_IDP_TOKEN"), "t0ken-s3cret", "", "", ""},
		{"variable untrimmed", store, cfg("tokenEnv", "GATEHOUSE_SECRET_PADDED"), "  t0ken \n", "", "", "kinds trim if they want"},
		{"file", store, cfg("tokenFile", "idp-token"), "file-t0ken", "", "", "one trailing newline is dropped"},
		{"file with CRLF", store, cfg("tokenFile", "crlf.token"), "file-t0ken", "", "", ""},
		{"file with two newlines", store, cfg("tokenFile", "two-newlines"), "file-t0ken\n", "", "", "only one line break is dropped"},
		{"file through a link inside the directory", store, cfg("tokenFile", "k8s-token"), "k8s-t0ken", "", "", "Kubernetes secret volumes link to ..data"},
		{"empty strings count as absent", store, cfg("tokenEnv", "", "tokenFile", "idp-token"), "file-t0ken", "", "", ""},

		{"neither key", store, cfg(), "", "tokenEnv", msgRequired, ""},
		{"nil values", store, cfg("tokenEnv", nil, "tokenFile", nil), "", "tokenEnv", msgRequired, ""},
		{"both keys", store, cfg("tokenEnv", "GATEHOUSE_SECRET_IDP_TOKEN", "tokenFile", "idp-token"), "", "tokenFile", msgBoth, ""},
		{"variable not a string", store, cfg("tokenEnv", 42), "", "tokenEnv", msgEnvNotStr, ""},
		{"inline token", store, cfg("tokenEnv", "eyJhbGciOiJIUzI1NiJ9.e30.abc"), "", "tokenEnv", msgNotName, "the secret pasted instead of a name"},
		{"lower-case name", store, cfg("tokenEnv", "gatehouse_secret_lower_token"), "", "tokenEnv", msgNotName, ""},
		{"padded name", store, cfg("tokenEnv", " GATEHOUSE_SECRET_IDP_TOKEN"), "", "tokenEnv", msgNotName, "names are not trimmed"},

		{"JWT secret", store, cfg("tokenEnv", "GATEHOUSE_JWT_SECRET"), "", "tokenEnv", msgOutside, "the server's signing key"},
		{"database URL", store, cfg("tokenEnv", "DATABASE_URL"), "", "tokenEnv", msgOutside, ""},
		{"PATH", store, cfg("tokenEnv", "PATH"), "", "tokenEnv", msgOutside, ""},
		{"unset outside", store, cfg("tokenEnv", "NOT_SET_ANYWHERE"), "", "tokenEnv", msgOutside, "same message as a set variable"},
		{"secrets dir setting", store, cfg("tokenEnv", "GATEHOUSE_SECRETS_DIR"), "", "tokenEnv", msgOutside, "GATEHOUSE_SECRETS_ is not GATEHOUSE_SECRET_"},
		{"prefix without underscore", store, cfg("tokenEnv", "GATEHOUSE_SECRET"), "", "tokenEnv", msgOutside, ""},
		{"prefix alone", store, cfg("tokenEnv", "GATEHOUSE_SECRET_"), "", "tokenEnv", msgOutside, "a name needs something after the prefix"},

		{"unset inside", store, cfg("tokenEnv", "GATEHOUSE_SECRET_NOT_SET"), "", "tokenEnv", msgUnset, ""},
		{"empty inside", store, cfg("tokenEnv", "GATEHOUSE_SECRET_EMPTY"), "", "tokenEnv", msgEmpty, ""},
		{"blank inside", store, cfg("tokenEnv", "GATEHOUSE_SECRET_BLANK"), "", "tokenEnv", msgEmpty, ""},
		{"nil store", nil, cfg("tokenEnv", "GATEHOUSE_SECRET_IDP_TOKEN"), "", "tokenEnv", msgUnset, "a nil store finds nothing"},

		{"file not a string", store, cfg("tokenFile", true), "", "tokenFile", "must be a string: the name of a file in the secrets directory holding the SCIM bearer token", ""},
		{"absolute path", store, cfg("tokenFile", outside), "", "tokenFile", msgFileName, ""},
		{"parent", store, cfg("tokenFile", ".."), "", "tokenFile", msgFileName, ""},
		{"dot", store, cfg("tokenFile", "."), "", "tokenFile", msgFileName, ""},
		{"traversal", store, cfg("tokenFile", "../jwt.secret"), "", "tokenFile", msgFileName, ""},
		{"sub-directory", store, cfg("tokenFile", "subdir/token"), "", "tokenFile", msgFileName, "plain names only"},
		{"dots inside", store, cfg("tokenFile", "a..b"), "", "tokenFile", msgFileName, ""},
		{"backslash", store, cfg("tokenFile", `..\jwt.secret`), "", "tokenFile", msgFileName, ""},
		{"hidden", store, cfg("tokenFile", "..data"), "", "tokenFile", msgFileName, ""},
		{"NUL", store, cfg("tokenFile", "idp-token\x00"), "", "tokenFile", msgFileName, ""},
		{"link out, relative", store, cfg("tokenFile", "escape-relative"), "", "tokenFile", msgNoFile, "os.Root refuses links leading out"},
		{"link out, absolute", store, cfg("tokenFile", "escape-absolute"), "", "tokenFile", msgNoFile, ""},
		{"link to the environment", store, cfg("tokenFile", "environ"), "", "tokenFile", msgNoFile, ""},
		{"directory", store, cfg("tokenFile", "subdir"), "", "tokenFile", msgNoFile, ""},
		{"missing file", store, cfg("tokenFile", "missing"), "", "tokenFile", msgNoFile, ""},
		{"too big", store, cfg("tokenFile", "big"), "", "tokenFile", msgNoFile, ""},
		{"empty file", store, cfg("tokenFile", "empty"), "", "tokenFile", msgFileEmpty, ""},
		{"blank file", store, cfg("tokenFile", "blank"), "", "tokenFile", msgFileEmpty, ""},
		{"no directory", noDir, cfg("tokenFile", "idp-token"), "", "tokenFile", msgNoDir, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tokenField.Resolve(tt.store, tt.config)
			requireConfigResult(t, tt.key, tt.want, tt.message, got, err, tt.why)
			if err != nil {
				for _, v := range []string{"canary", "t0ken", "s3cret", dir, "jwt.secret"} {
					require.NotContains(t, err.Error(), v, "messages never quote a value or a path")
				}
			}
		})
	}
	for _, name := range env.asked {
		require.True(t, strings.HasPrefix(name, connectors.SecretEnvPrefix), "the store asked the environment for %q", name)
	}
}

// TestSecretFieldOutsideNamespaceIdentical: a name outside the namespace
// gets one message, whether the variable is set, empty or unset, and the
// environment is never asked about it.
func TestSecretFieldOutsideNamespaceIdentical(t *testing.T) {
	t.Parallel()
	env := serverEnv()
	env.vars["EMPTY_SETTING"] = ""
	store := connectors.NewSecretStore(env.lookup, "")
	var msgs []string
	for _, name := range []string{"GATEHOUSE_JWT_SECRET", "DATABASE_URL", "EMPTY_SETTING", "NOT_SET_ANYWHERE", "HOME"} {
		_, err := tokenField.Resolve(store, map[string]any{"tokenEnv": name})
		require.Error(t, err)
		msgs = append(msgs, err.Error())
	}
	for _, m := range msgs {
		require.Equal(t, msgs[0], m)
	}
	require.Empty(t, env.asked, "no name outside the namespace is looked up")
}

// TestSecretStoreRule: the store applies the namespace rule itself too, for
// a caller that builds references by hand.
func TestSecretStoreRule(t *testing.T) {
	t.Parallel()
	dir, outside := secretDir(t)
	env := serverEnv()
	store := connectors.NewSecretStore(env.lookup, dir)
	for _, r := range []connectors.SecretRef{
		{Env: "GATEHOUSE_JWT_SECRET"},
		{Env: "DATABASE_URL"},
		{File: outside},
		{File: "../jwt.secret"},
		{File: "subdir/token"},
		{Env: "GATEHOUSE_SECRET_IDP_TOKEN", File: "idp-token"},
		{},
	} {
		_, err := store.Secret(r)
		require.ErrorIs(t, err, connectors.ErrSecretOutsideNamespace, "%+v", r)
	}
	require.Empty(t, env.asked)

	v, err := store.Secret(connectors.SecretRef{Env: "GATEHOUSE_SECRET_IDP_TOKEN"})
	require.NoError(t, err)
	require.Equal(t, "t0ken-s3cret", v)
	_, err = store.Secret(connectors.SecretRef{File: "escape-relative"})
	require.ErrorIs(t, err, connectors.ErrSecretNotFound)
	_, err = connectors.NewSecretStore(nil, "").Secret(connectors.SecretRef{Env: "GATEHOUSE_SECRET_IDP_TOKEN"})
	require.ErrorIs(t, err, connectors.ErrSecretNotFound)
	_, err = connectors.NewSecretStore(nil, "").Secret(connectors.SecretRef{File: "idp-token"})
	require.ErrorIs(t, err, connectors.ErrNoSecretsDir)
	_, err = connectors.NewSecretStore(nil, filepath.Join(dir, "missing-dir")).Secret(connectors.SecretRef{File: "idp-token"})
	require.ErrorIs(t, err, connectors.ErrSecretNotFound)

	require.Equal(t, "env:GATEHOUSE_SECRET_X", connectors.SecretRef{Env: "GATEHOUSE_SECRET_X"}.String())
	require.Equal(t, "file:x", connectors.SecretRef{File: "x"}.String())
}

type statusErr int

func (s statusErr) Error() string {
	return fmt.Sprintf("remote said <html>secret page</html> with %d", int(s))
}
func (s statusErr) HTTPStatus() int { return int(s) }

// TestReason: each failure gets a fixed reason made of Gatehouse's words,
// whatever text the error carries.
func TestReason(t *testing.T) {
	t.Parallel()
	wrap := func(err error) error { return connectors.Transient(fmt.Errorf("kind: step: <remote text>: %w", err)) }
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"config", connectors.Permanent(&connectors.ConfigError{Key: "tokenEnv", Message: "the environment variable named here is not set on this server"}), "unusable configuration: tokenEnv: the environment variable named here is not set on this server"},
		{"401", wrap(statusErr(401)), "authentication refused (HTTP 401)"},
		{"403", wrap(statusErr(403)), "authentication refused (HTTP 403)"},
		{"302", wrap(statusErr(302)), "redirect not followed (HTTP 302)"},
		{"404", wrap(statusErr(404)), "unexpected status 404"},
		{"500", wrap(statusErr(500)), "unexpected status 500"},
		{"auth marker", wrap(fmt.Errorf("pq: password authentication failed: %w", connectors.ErrAuthRefused)), "authentication refused"},
		{"privilege marker", wrap(connectors.ErrInsufficientPrivilege), "insufficient privileges"},
		{"deadline", wrap(context.DeadlineExceeded), "timeout"},
		{"net timeout", wrap(&net.OpError{Op: "dial", Err: timeoutErr{}}), "timeout"},
		{"tls record", wrap(tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), "TLS error"},
		{"tls text", wrap(errors.New("remote error: tls: handshake failure")), "TLS error"},
		{"unexpected answer", wrap(connectors.ErrUnexpectedAnswer), "unexpected answer"},
		{"refused", wrap(&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}), "unreachable"},
		{"dns", wrap(&net.DNSError{Err: "no such host", Name: "x.invalid"}), "unreachable"},
		{"eof", wrap(io.ErrUnexpectedEOF), "unreachable"},
		{"other", wrap(errors.New("<html>internal page</html>")), "failed"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, connectors.Reason(tt.err), tt.name)
		require.NotContains(t, connectors.Reason(tt.err), "remote", tt.name)
		require.NotContains(t, connectors.Reason(tt.err), "html", tt.name)
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// TestAuditView: the audit trail records the references and the harmless
// settings of a configuration, never a value that may be a secret.
func TestAuditView(t *testing.T) {
	t.Parallel()
	view, refs := connectors.AuditView(map[string]any{
		"url":            "https://bot:pw@hooks.example.com/services/T0/B0/capability-token?sig=abc#frag",
		"baseUrl":        "https://idp.example.com",
		"secretEnv":      "GATEHOUSE_SECRET_HR_WEBHOOK",
		"tokenFile":      "idp-token",
		"dsnEnv":         "DATABASE_URL",
		"otherFile":      "../jwt.secret",
		"timeoutSeconds": float64(30),
		"allow":          true,
		"rolePrefix":     "gh_",
		"note":           "postgres://u:pw@db/x",
		"nested":         map[string]any{"token": "x"},
	})
	require.Equal(t, map[string]any{
		"url":            "https://hooks.example.com/…",
		"baseUrl":        "https://idp.example.com",
		"secretEnv":      "GATEHOUSE_SECRET_HR_WEBHOOK",
		"tokenFile":      "idp-token",
		"dsnEnv":         "(not a secret reference)",
		"otherFile":      "(not a secret reference)",
		"timeoutSeconds": int64(30),
		"allow":          true,
		"rolePrefix":     "gh_",
		"note":           "(not recorded)",
		"nested":         "(not recorded)",
	}, view)
	require.Equal(t, []string{"env:GATEHOUSE_SECRET_HR_WEBHOOK", "file:idp-token"}, refs)
	view, refs = connectors.AuditView(nil)
	require.Empty(t, view)
	require.Empty(t, refs)
}

// TestSecretFieldKeyGiven: errors about a secret's value name the key that
// gave it, an empty environment key notwithstanding.
func TestSecretFieldKeyGiven(t *testing.T) {
	t.Parallel()
	f := connectors.SecretField{EnvKey: "tokenEnv", FileKey: "tokenFile"}
	require.Equal(t, "tokenEnv", f.KeyGiven(map[string]any{"tokenEnv": "GATEHOUSE_SECRET_X"}))
	require.Equal(t, "tokenFile", f.KeyGiven(map[string]any{"tokenFile": "x"}))
	require.Equal(t, "tokenFile", f.KeyGiven(map[string]any{"tokenEnv": "", "tokenFile": "x"}))
	require.Equal(t, "tokenEnv", f.KeyGiven(map[string]any{}))
}
