package security_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/connectors/scim"
	"gatehouse/connectors/webhook"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
)

// Connector configuration as a way to read server secrets (issue "Security
// hardening" §2): an IT admin who names the server's own settings in a
// connector configuration gets INVALID_INPUT, the same whether the setting
// exists or not; nothing the server holds outside the connector-secret
// namespace reaches a listener, through a connection check or a fulfilment;
// connection checks never repeat what the listener answered; and every
// configuration change is audited with references, never values.

const (
	secCreateApp = `mutation($in: CreateApplicationInput!) { createApplication(input: $in) { id } }`
	secUpdateApp = `mutation($id: ID!, $in: UpdateApplicationInput!) { updateApplication(id: $id, input: $in) { id } }`
	secCheck     = `mutation($id: ID!) { checkApplicationConnection(id: $id) { ok message } }`
	secSync      = `mutation($id: ID!) { syncApplication(id: $id) { entitlementsCreated } }`
	secSubmit    = `mutation($in: SubmitAccessRequestInput!) { submitAccessRequest(input: $in) { id } }`
	secItems     = `query($id: ID!) { node(id: $id) { ... on AccessRequest { items { status } } } }`
)

// canaries are values of the server's own settings: none may ever leave.
type canaries struct {
	jwt, dbURL, dbPassword string
}

func newCanaries() canaries {
	n := time.Now().UnixNano()
	pw := fmt.Sprintf("canary-db-password-%d", n)
	return canaries{
		jwt:        fmt.Sprintf("canary-jwt-signing-key-%d-0123456789abcdef", n),
		dbURL:      "postgres://gatehouse:" + pw + "@127.0.0.1:5432/gatehouse",
		dbPassword: pw,
	}
}

// env is the server's environment as the connector-secret store sees it:
// the server's own settings with canary values, and one legitimate secret.
func (c canaries) env(legit string) map[string]string {
	return map[string]string{
		"GATEHOUSE_JWT_SECRET":      c.jwt,
		"DATABASE_URL":              c.dbURL,
		"GATEHOUSE_SECRET_PARTNER":  legit,
		"GATEHOUSE_BOOTSTRAP_ADMIN": "it@example.com",
	}
}

// values returns every canary string.
func (c canaries) values() []string { return []string{c.jwt, c.dbURL, c.dbPassword} }

// listener is a local service that records every request it gets and
// answers like a SCIM service under /scim and a webhook receiver at /hook,
// each answer carrying a marker that must never come back to API callers.
type listener struct {
	URL    string
	marker string
	status int // 0: answer as a working service would

	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	method, path string
	header       http.Header
	body         []byte
}

func newListener(t *testing.T) *listener {
	l := &listener{marker: fmt.Sprintf("MARKER-%d-internal-page", time.Now().UnixNano())}
	srv := httptest.NewServer(l)
	t.Cleanup(srv.Close)
	l.URL = srv.URL
	return l
}

func (l *listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	l.mu.Lock()
	l.reqs = append(l.reqs, recorded{method: r.Method, path: r.URL.Path, header: r.Header.Clone(), body: body})
	status := l.status
	l.mu.Unlock()
	if status != 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"schemas":[%q],"status":"%d","detail":"%s","error":"%s"}`, scim.SchemaError, status, l.marker, l.marker)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == "/hook":
		fmt.Fprintf(w, `{"externalId":"ext-1","login":"ann","created":true,"note":%q}`, l.marker)
	case r.URL.Path == "/scim/Users" && r.Method == http.MethodGet:
		fmt.Fprintf(w, `{"schemas":[%q],"totalResults":0,"startIndex":1,"Resources":[],"note":%q}`, scim.SchemaListResponse, l.marker)
	case r.URL.Path == "/scim/Users" && r.Method == http.MethodPost:
		var u struct{ UserName string }
		_ = json.Unmarshal(body, &u)
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":"u-1","userName":%q}`, u.UserName)
	case strings.HasPrefix(r.URL.Path, "/scim/Groups/") && r.Method == http.MethodPatch:
		w.WriteHeader(http.StatusNoContent)
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, "<html>%s</html>", l.marker)
	}
}

func (l *listener) fail(status int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.status = status
}

func (l *listener) requests() []recorded {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]recorded(nil), l.reqs...)
}

// requireNoCanary checks everything the listener received: no canary in a
// header or a body, and no webhook signature made with a canary as the key.
func (l *listener) requireNoCanary(t *testing.T, c canaries) {
	t.Helper()
	for _, r := range l.requests() {
		var dump strings.Builder
		fmt.Fprintf(&dump, "%s %s\n", r.method, r.path)
		for k, vs := range r.header {
			fmt.Fprintf(&dump, "%s: %s\n", k, strings.Join(vs, ","))
		}
		dump.Write(r.body)
		for _, v := range c.values() {
			require.NotContains(t, dump.String(), v, "a server secret reached the listener")
		}
		if sig := r.header.Get(webhook.SignatureHeader); sig != "" {
			for _, v := range c.values() {
				require.Error(t, webhook.Verify([]byte(v), sig, r.body, time.Now(), time.Hour), "a delivery was signed with a server secret")
			}
		}
	}
}

// TestConnectorSecretsOutsideNamespaceRefused: naming GATEHOUSE_JWT_SECRET,
// DATABASE_URL or any variable outside GATEHOUSE_SECRET_*, or a file outside
// the secrets directory, is INVALID_INPUT on create and update, naming the
// field, with one message whether the variable is set or not; nothing is
// written and nothing reaches the listener.
func TestConnectorSecretsOutsideNamespaceRefused(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		c := newCanaries()
		l := newListener(t)
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(filepath.Dir(dir), "outside.secret"), []byte(c.jwt), 0o600))
		env := apitest.NewWith(t, db, apitest.Options{Env: c.env("partner-secret-0123456789"), SecretsDir: dir})
		admin := env.Token(t, env.User(t, "it@example.com", enum.PlatformRoleITAdmin))

		type kindCase struct {
			kind             string
			config           func(ref string) map[string]any
			envKey, fileKey  string
			configWithFileOf func(name string) map[string]any
		}
		kinds := []kindCase{
			{
				kind:             "SCIM",
				config:           func(ref string) map[string]any { return map[string]any{"baseUrl": l.URL + "/scim", "tokenEnv": ref} },
				envKey:           "connectorConfig.tokenEnv",
				fileKey:          "connectorConfig.tokenFile",
				configWithFileOf: func(n string) map[string]any { return map[string]any{"baseUrl": l.URL + "/scim", "tokenFile": n} },
			},
			{
				kind:             "WEBHOOK",
				config:           func(ref string) map[string]any { return map[string]any{"url": l.URL + "/hook", "secretEnv": ref} },
				envKey:           "connectorConfig.secretEnv",
				fileKey:          "connectorConfig.secretFile",
				configWithFileOf: func(n string) map[string]any { return map[string]any{"url": l.URL + "/hook", "secretFile": n} },
			},
		}
		for _, k := range kinds {
			create := func(name string, config map[string]any) *apitest.Response {
				return env.Do(t, admin, secCreateApp, map[string]any{"in": map[string]any{
					"name": name, "fulfillment": "DIRECT", "connectorKind": k.kind, "connectorConfig": config,
				}})
			}
			var first string
			for i, name := range []string{"GATEHOUSE_JWT_SECRET", "DATABASE_URL", "GATEHOUSE_BOOTSTRAP_ADMIN", "GATEHOUSE_UNSET_SETTING", "NEVER_SET_ANYWHERE"} {
				res := create(fmt.Sprintf("%s %d", k.kind, i), k.config(name))
				require.Equal(t, "INVALID_INPUT", res.Code(), "%s %s: %+v", k.kind, name, res.Errors)
				require.Equal(t, k.envKey, res.Errors[0].Extensions.Field)
				if first == "" {
					first = res.Errors[0].Message
				}
				require.Equal(t, first, res.Errors[0].Message, "%s: one message whether %s is set or not", k.kind, name)
				require.NotContains(t, res.Errors[0].Message, name)
			}
			for i, name := range []string{"../outside.secret", filepath.Join(filepath.Dir(dir), "outside.secret"), "/proc/self/environ", "..", "sub/file"} {
				res := create(fmt.Sprintf("%s file %d", k.kind, i), k.configWithFileOf(name))
				require.Equal(t, "INVALID_INPUT", res.Code(), "%s %s: %+v", k.kind, name, res.Errors)
				require.Equal(t, k.fileKey, res.Errors[0].Extensions.Field)
			}

			// A valid application cannot be turned towards a server secret.
			var out struct{ CreateApplication struct{ ID string } }
			env.MustDo(t, admin, secCreateApp, map[string]any{"in": map[string]any{
				"name": k.kind + " partner", "fulfillment": "DIRECT", "connectorKind": k.kind, "connectorConfig": k.config("GATEHOUSE_SECRET_PARTNER"),
			}}, &out)
			id := out.CreateApplication.ID
			res := env.Do(t, admin, secUpdateApp, map[string]any{"id": id, "in": map[string]any{"connectorConfig": k.config("GATEHOUSE_JWT_SECRET")}})
			require.Equal(t, "INVALID_INPUT", res.Code())
			require.Equal(t, k.envKey, res.Errors[0].Extensions.Field)
			require.Equal(t, first, res.Errors[0].Message)
			app, err := env.Client.Application.Get(apitest.Sys(), pulid.ID(id))
			require.NoError(t, err)
			require.Equal(t, k.config("GATEHOUSE_SECRET_PARTNER"), app.ConnectorConfig, "nothing was written")
		}
		require.Empty(t, l.requests(), "validation contacts nobody")
	})
}

// TestConnectorSecretCanaryNeverLeaves: an application stored with a
// reference to the server's signing key or database URL (as an older server
// may have stored it, or a direct database write) is never opened: its
// connection check reports an unusable configuration, its fulfilment fails,
// and the listener sees no canary — while a legitimate application on the
// same listener is checked and provisioned, signed with its own secret.
func TestConnectorSecretCanaryNeverLeaves(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		c := newCanaries()
		l := newListener(t)
		const legit = "partner-secret-0123456789"
		env := apitest.NewWith(t, db, apitest.Options{Env: c.env(legit)})
		adminUser := env.User(t, "it@example.com", enum.PlatformRoleITAdmin)
		admin := env.Token(t, adminUser)
		ann := env.User(t, "ann@example.com", enum.PlatformRoleUser)
		tokAnn := env.Token(t, ann)

		type appCase struct {
			name string
			kind enum.ConnectorKind
			cfg  map[string]any
			good bool
		}
		var cases []appCase
		for _, v := range []string{"GATEHOUSE_JWT_SECRET", "DATABASE_URL"} {
			cases = append(cases,
				appCase{"SCIM " + v, enum.ConnectorKindScim, map[string]any{"baseUrl": l.URL + "/scim", "tokenEnv": v}, false},
				appCase{"WEBHOOK " + v, enum.ConnectorKindWebhook, map[string]any{"url": l.URL + "/hook", "secretEnv": v}, false},
			)
		}
		cases = append(cases,
			appCase{"SCIM partner", enum.ConnectorKindScim, map[string]any{"baseUrl": l.URL + "/scim", "tokenEnv": "GATEHOUSE_SECRET_PARTNER"}, true},
			appCase{"WEBHOOK partner", enum.ConnectorKindWebhook, map[string]any{"url": l.URL + "/hook", "secretEnv": "GATEHOUSE_SECRET_PARTNER"}, true},
		)
		for _, ac := range cases {
			app, err := env.Client.Application.Create().SetName(ac.name).SetFulfillment(enum.FulfillmentDirectAutoApproved).
				SetConnectorKind(ac.kind).SetConnectorConfig(ac.cfg).Save(apitest.Sys())
			require.NoError(t, err)
			e, err := env.Client.Entitlement.Create().SetApplication(app).SetExternalID("grp-1").SetName(ac.name + " users").Save(apitest.Sys())
			require.NoError(t, err)

			var chk struct {
				CheckApplicationConnection struct {
					Ok      bool
					Message string
				}
			}
			env.MustDo(t, admin, secCheck, map[string]any{"id": string(app.ID)}, &chk)
			if ac.good {
				require.True(t, chk.CheckApplicationConnection.Ok, "%s: %s", ac.name, chk.CheckApplicationConnection.Message)
			} else {
				require.False(t, chk.CheckApplicationConnection.Ok, ac.name)
				require.Contains(t, chk.CheckApplicationConnection.Message, "check failed: unusable configuration: ", ac.name)
				require.Contains(t, chk.CheckApplicationConnection.Message, "connector-secret namespace", ac.name)
			}
			require.NotContains(t, chk.CheckApplicationConnection.Message, l.marker)

			var sub struct{ SubmitAccessRequest struct{ ID string } }
			env.MustDo(t, tokAnn, secSubmit, map[string]any{"in": map[string]any{
				"action": "GRANT", "entitlementIds": []string{string(e.ID)}, "justification": "canary",
			}}, &sub)
			want := "FAILED"
			if ac.good {
				want = "FULFILLED"
			}
			require.Eventually(t, func() bool {
				var out struct {
					Node struct{ Items []struct{ Status string } }
				}
				env.MustDo(t, tokAnn, secItems, map[string]any{"id": sub.SubmitAccessRequest.ID}, &out)
				return len(out.Node.Items) == 1 && out.Node.Items[0].Status == want
			}, 20*time.Second, 20*time.Millisecond, "%s: the item ends %s", ac.name, want)
		}

		reqs := l.requests()
		require.NotEmpty(t, reqs, "the legitimate applications reached the listener")
		var signed, bearer int
		for _, r := range reqs {
			if sig := r.header.Get(webhook.SignatureHeader); sig != "" {
				require.NoError(t, webhook.Verify([]byte(legit), sig, r.body, time.Now(), time.Hour))
				signed++
			}
			if a := r.header.Get("Authorization"); a != "" {
				require.Equal(t, "Bearer "+legit, a)
				bearer++
			}
		}
		require.Positive(t, signed, "webhook deliveries were signed with the partner's secret")
		require.Positive(t, bearer, "SCIM calls carried the partner's token")
		l.requireNoCanary(t, c)
	})
}

// TestConnectionCheckNeverEchoesRemote: whatever the listener answers (an
// error page, a SCIM error with a detail, a body that is not SCIM), the
// connection check and the sync report a fixed reason and never the
// listener's words.
func TestConnectionCheckNeverEchoesRemote(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		l := newListener(t)
		env := apitest.NewWith(t, db, apitest.Options{Env: map[string]string{"GATEHOUSE_SECRET_PARTNER": "partner-secret-0123456789"}})
		admin := env.Token(t, env.User(t, "it@example.com", enum.PlatformRoleITAdmin))
		newApp := func(name, kind string, config map[string]any) string {
			var out struct{ CreateApplication struct{ ID string } }
			env.MustDo(t, admin, secCreateApp, map[string]any{"in": map[string]any{
				"name": name, "fulfillment": "DIRECT", "connectorKind": kind, "connectorConfig": config,
			}}, &out)
			return out.CreateApplication.ID
		}
		scimApp := newApp("IdP", "SCIM", map[string]any{"baseUrl": l.URL + "/scim", "tokenEnv": "GATEHOUSE_SECRET_PARTNER"})
		hookApp := newApp("Hooks", "WEBHOOK", map[string]any{"url": l.URL + "/hook", "secretEnv": "GATEHOUSE_SECRET_PARTNER"})
		notSCIM := newApp("Not SCIM", "SCIM", map[string]any{"baseUrl": l.URL + "/internal-page", "tokenEnv": "GATEHOUSE_SECRET_PARTNER"})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		closed := ln.Addr().String()
		require.NoError(t, ln.Close())
		down := newApp("Down", "WEBHOOK", map[string]any{"url": "http://" + closed + "/hook", "secretEnv": "GATEHOUSE_SECRET_PARTNER", "timeoutSeconds": 2})

		check := func(id string) (bool, string) {
			var out struct {
				CheckApplicationConnection struct {
					Ok      bool
					Message string
				}
			}
			env.MustDo(t, admin, secCheck, map[string]any{"id": id}, &out)
			require.NotContains(t, out.CheckApplicationConnection.Message, l.marker)
			require.NotContains(t, out.CheckApplicationConnection.Message, "html")
			return out.CheckApplicationConnection.Ok, out.CheckApplicationConnection.Message
		}
		ok, msg := check(scimApp)
		require.True(t, ok, msg)
		ok, msg = check(hookApp)
		require.True(t, ok, msg)

		ok, msg = check(notSCIM)
		require.False(t, ok)
		require.Equal(t, "SCIM check failed: unexpected status 404", msg)
		ok, msg = check(down)
		require.False(t, ok)
		require.Equal(t, "WEBHOOK check failed: unreachable", msg)

		for _, tc := range []struct {
			status int
			scim   string
			hook   string
		}{
			{http.StatusUnauthorized, "SCIM check failed: authentication refused (HTTP 401)", "WEBHOOK check failed: authentication refused (HTTP 401)"},
			{http.StatusForbidden, "SCIM check failed: authentication refused (HTTP 403)", "WEBHOOK check failed: authentication refused (HTTP 403)"},
			{http.StatusBadRequest, "SCIM check failed: unexpected status 400", "WEBHOOK check failed: unexpected status 400"},
			{http.StatusInternalServerError, "SCIM check failed: unexpected status 500", "WEBHOOK check failed: unexpected status 500"},
			{http.StatusFound, "SCIM check failed: redirect not followed (HTTP 302)", "WEBHOOK check failed: redirect not followed (HTTP 302)"},
		} {
			l.fail(tc.status)
			ok, msg = check(scimApp)
			require.False(t, ok)
			require.Equal(t, tc.scim, msg)
			ok, msg = check(hookApp)
			require.False(t, ok)
			require.Equal(t, tc.hook, msg)

			res := env.Do(t, admin, secSync, map[string]any{"id": scimApp})
			require.Equal(t, "CONFLICT", res.Code(), "%+v", res.Errors)
			require.NotContains(t, res.Errors[0].Message, l.marker)
		}
	})
}

// TestConnectorConfigChangeAudited: creating an application and changing
// its connector kind or configuration each write a system-chain event that
// names the kind, the settings and the secret references, never a secret
// value nor a capability in a URL.
func TestConnectorConfigChangeAudited(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		const envSecret, fileSecret, urlToken = "env-secret-value-0123456789", "file-secret-value-0123456789", "capability-token-0123456789"
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "idp-token"), []byte(fileSecret+"\n"), 0o600))
		l := newListener(t)
		env := apitest.NewWith(t, db, apitest.Options{Env: map[string]string{"GATEHOUSE_SECRET_IDP": envSecret}, SecretsDir: dir})
		admin := env.Token(t, env.User(t, "it@example.com", enum.PlatformRoleITAdmin))

		var out struct{ CreateApplication struct{ ID string } }
		env.MustDo(t, admin, secCreateApp, map[string]any{"in": map[string]any{
			"name": "IdP", "fulfillment": "DIRECT", "connectorKind": "WEBHOOK",
			"connectorConfig": map[string]any{"url": l.URL + "/hook/" + urlToken, "secretEnv": "GATEHOUSE_SECRET_IDP", "timeoutSeconds": 5},
		}}, &out)
		id := out.CreateApplication.ID
		env.MustDo(t, admin, secUpdateApp, map[string]any{"id": id, "in": map[string]any{
			"connectorKind":   "SCIM",
			"connectorConfig": map[string]any{"baseUrl": l.URL + "/scim", "tokenFile": "idp-token"},
		}}, nil)
		env.MustDo(t, admin, secUpdateApp, map[string]any{"id": id, "in": map[string]any{"description": "not a connector change"}}, nil)

		var events struct {
			AuditEvents struct {
				Edges []struct {
					Node struct {
						Chain, Action string
						Data          map[string]any
					}
				}
			}
		}
		res := env.Do(t, admin, `query { auditEvents(first: 100, filter: {chain: "system"}, orderBy: [{field: SEQ, direction: ASC}]) {
			edges { node { chain action data } } } }`, nil)
		res.Decode(t, &events)
		raw := string(res.Data)
		for _, v := range []string{envSecret, fileSecret, urlToken} {
			require.NotContains(t, raw, v, "no secret value in the audit trail")
		}

		var changes []map[string]any
		for _, e := range events.AuditEvents.Edges {
			if e.Node.Data["entity"] == "Application" && e.Node.Data["id"] == id {
				require.Equal(t, "system", e.Node.Chain)
				changes = append(changes, e.Node.Data)
			}
		}
		require.Len(t, changes, 3, "create, connector change, description change")
		var created, changed map[string]any
		for _, ch := range changes {
			c, ok := ch["connector"].(map[string]any)
			if !ok {
				continue
			}
			if c["kind"] == "WEBHOOK" {
				created = c
			} else {
				changed = c
			}
		}
		require.NotNil(t, created, "the creation records the connector: %v", changes)
		require.NotNil(t, changed, "the change records the connector: %v", changes)
		require.Equal(t, map[string]any{
			"kind":       "WEBHOOK",
			"config":     map[string]any{"url": l.URL + "/…", "secretEnv": "GATEHOUSE_SECRET_IDP", "timeoutSeconds": float64(5)},
			"secretRefs": []any{"env:GATEHOUSE_SECRET_IDP"},
		}, created)
		require.Equal(t, map[string]any{
			"kind":       "SCIM",
			"config":     map[string]any{"baseUrl": l.URL + "/…", "tokenFile": "idp-token"},
			"secretRefs": []any{"file:idp-token"},
		}, changed)
		connectorEvents := 0
		for _, ch := range changes {
			if _, ok := ch["connector"]; ok {
				connectorEvents++
			}
		}
		require.Equal(t, 2, connectorEvents, "a change that does not touch the connector records none")
	})
}
