package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/internal/database"
	"gatehouse/internal/dbtest"
	"gatehouse/internal/demo"
	"gatehouse/internal/reports"
	"gatehouse/resolvers"
)

// binaryName is the name the server's binary runs under in these tests.
const binaryName = "gatehouse"

// binary is the server binary the tests run: a link, named binaryName, to
// this test binary (TestMain).
var binary string

// TestMain runs main instead of the tests when this binary is started
// under binaryName. The tests start the server through such a link to
// themselves: the same package compiled with the same flags (-race
// included) that `go build` would link into a binary of its own, without
// a second link of the whole module.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == binaryName {
		main()
		os.Exit(0)
	}
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "test binary:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "gatehouse-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "test binary:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, binaryName)
	if err := os.Symlink(exe, binary); err != nil {
		fmt.Fprintln(os.Stderr, "test binary:", err)
		return 1
	}
	return m.Run()
}

// gatehouseBinary returns the server binary to run.
func gatehouseBinary(t *testing.T) string {
	t.Helper()
	require.NotEmpty(t, binary, "TestMain links the server binary")
	return binary
}

// process is a running server binary whose JSON log is read line by line.
// Lines that are not JSON (the error main prints before exiting) are kept
// for failure messages.
type process struct {
	cmd   *exec.Cmd
	lines chan map[string]any
	done  chan error
	other []string // read by the scanner until done is sent
}

// baseEnv is a clean environment: no DATABASE_URL or GATEHOUSE_* leaks in.
func baseEnv(extra ...string) []string {
	return append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}, extra...)
}

func start(t *testing.T, dir string, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(gatehouseBinary(t), args...)
	cmd.Dir, cmd.Env = dir, env
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	p := &process{cmd: cmd, lines: make(chan map[string]any, 100), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				p.lines <- m
			} else {
				p.other = append(p.other, sc.Text())
			}
		}
		close(p.lines)
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return p
}

// waitFor returns the first log line with the message, skipping others.
func (p *process) waitFor(t *testing.T, msg string) map[string]any {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case m, ok := <-p.lines:
			require.True(t, ok, "server exited before logging %q", msg)
			if m["msg"] == msg {
				return m
			}
		case <-timeout:
			t.Fatalf("no %q log line within 60s", msg)
		}
	}
}

// stop sends SIGTERM and requires a clean exit.
func (p *process) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	for range p.lines {
	}
	select {
	case err := <-p.done:
		require.NoError(t, err, "server exit: %s", strings.Join(p.other, "\n"))
	case <-time.After(20 * time.Second):
		t.Fatal("server did not stop within 20s of SIGTERM")
	}
}

func viewerEmail(t *testing.T, url, token string) (string, int) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"query":"{ viewer { email } }"}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	var out struct {
		Data struct{ Viewer struct{ Email string } }
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&out))
	return out.Data.Viewer.Email, res.StatusCode
}

// TestServeSeedsDemoOnFreshDirectory runs the real serve path: on a fresh
// directory it creates the SQLite database, seeds the demo organisation,
// prints the URL and a token per demo user, answers with that token, stops on
// SIGTERM, and on restart neither seeds again nor invalidates the token.
func TestServeSeedsDemoOnFreshDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := start(t, dir, baseEnv(), "serve", "--addr", "127.0.0.1:0")
	url := p.waitFor(t, "gatehouse listening")["graphql"].(string)
	first := p.waitFor(t, "demo user")
	require.Equal(t, "admin@example.com", first["email"])
	require.Equal(t, "IT_ADMIN", first["role"])
	token := first["token"].(string)

	email, status := viewerEmail(t, url, token)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "admin@example.com", email)
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		res, err := http.Get(strings.TrimSuffix(url, "/query") + path)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode, path)
	}
	reportKey := func() string {
		res, err := http.Get(strings.TrimSuffix(url, "/query") + reports.KeyPath)
		require.NoError(t, err)
		defer res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode, "the report key needs no token")
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		require.Contains(t, string(b), "-----BEGIN PUBLIC KEY-----")
		return string(b)
	}
	key := reportKey()
	// Demo mode mounts the console's demo sign-in; / leads to the console.
	base := strings.TrimSuffix(url, "/query")
	res, err := http.Post(base+demo.SignInPath, "application/json", strings.NewReader(`{"email": "margaret.chen@example.com"}`))
	require.NoError(t, err)
	var signedIn struct{ Token string }
	require.NoError(t, json.NewDecoder(res.Body).Decode(&signedIn))
	res.Body.Close()
	email, _ = viewerEmail(t, url, signedIn.Token)
	require.Equal(t, "margaret.chen@example.com", email, "the demo sign-in's token signs in")
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err = noRedirect.Get(base + "/")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, "/app", res.Header.Get("Location"))
	p.stop(t)
	require.FileExists(t, filepath.Join(dir, "gatehouse.db"))
	for _, f := range []string{"gatehouse.db.secret", "gatehouse.db.report-key"} {
		info, err := os.Stat(filepath.Join(dir, f))
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), info.Mode().Perm(), f)
	}

	p = start(t, dir, baseEnv(), "--addr", "127.0.0.1:0")
	url = p.waitFor(t, "gatehouse listening")["graphql"].(string)
	email, _ = viewerEmail(t, url, token)
	require.Equal(t, "admin@example.com", email, "a token survives a restart")
	require.Equal(t, key, reportKey(), "the report signing key survives a restart")
	p.stop(t)

	jwt := run1(t, dir, baseEnv(), "token", "--email", "margaret.chen@example.com")
	require.Equal(t, 2, strings.Count(jwt, "."), "token prints a JWT")
}

// run1 runs a subcommand to completion and returns its stdout.
func run1(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(gatehouseBinary(t), args...)
	cmd.Dir, cmd.Env = dir, env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "gatehouse %v: %s", args, stderr.String())
	return strings.TrimSpace(string(out))
}

// TestBadConfigurationExitsWithOneLine checks that bad settings and an
// unreachable database end the process non-zero with one clear line.
func TestBadConfigurationExitsWithOneLine(t *testing.T) {
	t.Parallel()
	secret := "GATEHOUSE_JWT_SECRET=" + strings.Repeat("s", 40)
	for name, tc := range map[string]struct {
		env  []string
		want string
	}{
		"unreachable database":  {baseEnv("DATABASE_URL=postgres://postgres@127.0.0.1:1/none?sslmode=disable", secret), "not reachable"},
		"not a postgres URL":    {baseEnv("DATABASE_URL=mysql://root@127.0.0.1/x", secret), "postgres://"},
		"no secret on postgres": {baseEnv("DATABASE_URL=postgres://postgres@127.0.0.1:5432/test"), "GATEHOUSE_JWT_SECRET"},
		"short secret":          {baseEnv("GATEHOUSE_JWT_SECRET=short"), "at least 32"},
		"bad boolean":           {baseEnv("GATEHOUSE_DEMO=maybe"), "GATEHOUSE_DEMO"},
		"bad admin email":       {baseEnv("GATEHOUSE_BOOTSTRAP_ADMIN=nobody"), "GATEHOUSE_BOOTSTRAP_ADMIN"},
		"unknown query limit":   {baseEnv("GATEHOUSE_QUERY_LIMITS=alias=3"), "unknown query limit \"alias\""},
		"bad query limit":       {baseEnv("GATEHOUSE_QUERY_LIMITS=aliases=-1"), "not a positive integer"},
		"bad websocket cap":     {baseEnv("GATEHOUSE_WS_MAX_PER_USER=x"), "GATEHOUSE_WS_MAX_PER_USER"},
		"negative pending cap":  {baseEnv("GATEHOUSE_WS_MAX_PENDING=-1"), "GATEHOUSE_WS_MAX_PENDING"},
		"secrets dir missing":   {baseEnv("GATEHOUSE_SECRETS_DIR=/nonexistent/secrets"), "GATEHOUSE_SECRETS_DIR"},
		"secrets dir a file":    {baseEnv("GATEHOUSE_SECRETS_DIR=/etc/passwd"), "not a directory"},
		"bad fulfil timeout":    {baseEnv("GATEHOUSE_FULFILLMENT_TIMEOUT=soon"), "GATEHOUSE_FULFILLMENT_TIMEOUT"},
		"tiny fulfil timeout":   {baseEnv("GATEHOUSE_FULFILLMENT_TIMEOUT=10ms"), "at least 1s"},
		"bad smtp scheme":       {baseEnv("GATEHOUSE_SMTP_URL=http://u:hunter2hunter2@mail.example", "GATEHOUSE_SMTP_FROM=g@corp.example"), "scheme \"http\" is not smtp or smtps"},
		"smtp without from":     {baseEnv("GATEHOUSE_SMTP_URL=smtp://mail.example"), "GATEHOUSE_SMTP_FROM is required"},
		"bad smtp from":         {baseEnv("GATEHOUSE_SMTP_URL=smtp://mail.example", "GATEHOUSE_SMTP_FROM=nobody"), "from address"},
		"bad public url":        {baseEnv("GATEHOUSE_PUBLIC_URL=gatehouse.example"), "GATEHOUSE_PUBLIC_URL"},
		"missing report key":    {baseEnv("GATEHOUSE_REPORT_SIGNING_KEY=/nonexistent/report.key"), "report signing key"},
		"oidc without audience": {baseEnv("GATEHOUSE_OIDC_ISSUER=https://idp.example.com"), "GATEHOUSE_OIDC_AUDIENCE"},
		"oidc issuer not https": {baseEnv("GATEHOUSE_OIDC_ISSUER=http://idp.example.com", "GATEHOUSE_OIDC_AUDIENCE=x"), "must be https"},
		"oidc without issuer":   {baseEnv("GATEHOUSE_OIDC_JIT=true"), "need GATEHOUSE_OIDC_ISSUER"},
		"oidc bad group roles":  {baseEnv("GATEHOUSE_OIDC_GROUP_ROLES=admins=ROOT"), "GATEHOUSE_OIDC_GROUP_ROLES"},
		"oidc no discovery":     {baseEnv("GATEHOUSE_OIDC_ISSUER=http://127.0.0.1:1/realms/x", "GATEHOUSE_OIDC_AUDIENCE=x"), "OpenID Connect discovery"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(gatehouseBinary(t), "serve", "--addr", "127.0.0.1:0")
			cmd.Dir, cmd.Env = t.TempDir(), tc.env
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit)
			require.NotEqual(t, 0, exit.ExitCode())
			text := strings.TrimSpace(string(out))
			require.NotContains(t, text, "\n", "one line")
			require.NotContains(t, text, "panic")
			require.True(t, strings.HasPrefix(text, "gatehouse: "), text)
			require.Contains(t, text, tc.want)
			require.NotContains(t, text, "hunter2", "the SMTP password is never shown")
		})
	}
}

// TestMailFromConfiguration: GATEHOUSE_SMTP_URL and GATEHOUSE_SMTP_FROM
// make the SMTP sender, which describes itself without the password; no
// URL means no sender.
func TestMailFromConfiguration(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"GATEHOUSE_SMTP_URL":  "smtp://mailer:hunter2@mail.corp.example:2525?starttls=require",
		"GATEHOUSE_SMTP_FROM": "gatehouse@corp.example",
	}
	cfg, err := envDefaults(func(k string) string { return env[k] })
	require.NoError(t, err)
	m, err := cfg.mailer()
	require.NoError(t, err)
	require.Equal(t, "smtp://mailer@mail.corp.example:2525", fmt.Sprint(m))

	cfg, err = envDefaults(func(string) string { return "" })
	require.NoError(t, err)
	m, err = cfg.mailer()
	require.NoError(t, err)
	require.Nil(t, m)
}

// TestFirstAdministrator covers a deployment without demo data on both
// databases: `user create` is idempotent, GATEHOUSE_BOOTSTRAP_ADMIN creates an
// IT admin only when none exists, and `token` mints a token the server takes.
func TestFirstAdministrator(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		dir := t.TempDir()
		env := baseEnv("GATEHOUSE_JWT_SECRET=" + strings.Repeat("k", 40))
		if db.Name == "postgres" {
			env = append(env, "DATABASE_URL="+db.DSN)
		} else {
			env = append(env, "GATEHOUSE_DEMO=false")
		}
		require.True(t, strings.HasPrefix(run1(t, dir, env, "migrate"), "database migrated"))
		a := run1(t, dir, env, "user", "create", "--email", "ops@corp.example", "--name", "Ops", "--role", "IT_ADMIN")
		b := run1(t, dir, env, "user", "create", "--email", "ops@corp.example", "--name", "Ops", "--role", "IT_ADMIN")
		require.Equal(t, a, b, "user create is idempotent")
		require.True(t, strings.HasPrefix(a, "usr_"), a)

		p := start(t, dir, append(env, "GATEHOUSE_BOOTSTRAP_ADMIN=boot@corp.example"), "--addr", "127.0.0.1:0")
		url := p.waitFor(t, "gatehouse listening")["graphql"].(string)
		email, _ := viewerEmail(t, url, run1(t, dir, env, "token", "--email", "ops@corp.example"))
		require.Equal(t, "ops@corp.example", email)
		p.stop(t)
		cmd := exec.Command(gatehouseBinary(t), "token", "--email", "boot@corp.example")
		cmd.Dir, cmd.Env = dir, env
		require.Error(t, cmd.Run(), "an IT admin existed, so no bootstrap admin was created")

		dir2 := t.TempDir()
		env2 := baseEnv("GATEHOUSE_JWT_SECRET="+strings.Repeat("k", 40), "GATEHOUSE_DEMO=false", "GATEHOUSE_BOOTSTRAP_ADMIN=boot@corp.example")
		if db.Name == "postgres" {
			return // the PostgreSQL database already has an IT admin
		}
		p = start(t, dir2, env2, "--addr", "127.0.0.1:0")
		require.Equal(t, "boot@corp.example", p.waitFor(t, "bootstrap IT admin created")["email"])
		url = p.waitFor(t, "gatehouse listening")["graphql"].(string)
		token := run1(t, dir2, env2, "token", "--email", "boot@corp.example")
		email, _ = viewerEmail(t, url, token)
		require.Equal(t, "boot@corp.example", email)
		// Outside demo mode there is no demo sign-in.
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			req, err := http.NewRequest(method, strings.TrimSuffix(url, "/query")+demo.SignInPath, strings.NewReader(`{"email": "boot@corp.example"}`))
			require.NoError(t, err)
			res, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			res.Body.Close()
			require.Equal(t, http.StatusNotFound, res.StatusCode, "%s %s without --demo", method, demo.SignInPath)
		}
		p.stop(t)
	})
}

// TestMigrateCommandOnPostgres runs the built binary on empty PostgreSQL
// databases: with GATEHOUSE_AUTO_MIGRATE=false the server refuses a database
// with pending migrations and names the command that applies them;
// `gatehouse migrate` applies the files once; a database of a release before
// versioned migrations is baselined.
func TestMigrateCommandOnPostgres(t *testing.T) {
	t.Parallel()
	db := dbtest.NewEmptyPostgres(t)
	dir := t.TempDir()
	env := baseEnv("GATEHOUSE_JWT_SECRET="+strings.Repeat("k", 40), "DATABASE_URL="+db.DSN)

	cmd := exec.Command(gatehouseBinary(t), "serve", "--addr", "127.0.0.1:0")
	cmd.Dir, cmd.Env = dir, append(env, "GATEHOUSE_AUTO_MIGRATE=false")
	out, err := cmd.CombinedOutput()
	require.Error(t, err)
	st, err := database.PostgresStatus(context.Background(), db.SQL)
	require.NoError(t, err)
	require.NotEmpty(t, st.Pending)
	pending := fmt.Sprintf("%d pending: %s", len(st.Pending), strings.Join(st.Pending, ", "))
	require.Contains(t, string(out), pending)
	require.Contains(t, string(out), "run `gatehouse migrate` first")

	last := st.Pending[len(st.Pending)-1]
	require.Equal(t, fmt.Sprintf("database migrated: at version %s (%s)", strings.SplitN(last, "_", 2)[0], pending),
		run1(t, dir, env, "migrate"))
	require.Contains(t, run1(t, dir, env, "migrate"), "(nothing pending)")

	legacy := dbtest.NewLegacyPostgres(t, nil)
	env = baseEnv("GATEHOUSE_JWT_SECRET="+strings.Repeat("k", 40), "DATABASE_URL="+legacy.DSN)
	require.Contains(t, run1(t, dir, env, "migrate"), "(baselined a database of a release before versioned migrations)")
	require.Contains(t, run1(t, dir, env, "migrate"), "(nothing pending)")
}

// TestLimitsFromConfiguration: the GraphQL and websocket limits set in the
// environment are the ones the handler gets; the others keep their
// defaults.
func TestLimitsFromConfiguration(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"GATEHOUSE_QUERY_LIMITS":    "aliases=2,depth=5,tokens=300",
		"GATEHOUSE_WS_MAX_PER_USER": "3",
		"GATEHOUSE_WS_MAX_PENDING":  "0",
	}
	cfg, err := envDefaults(func(k string) string { return env[k] })
	require.NoError(t, err)
	l, err := cfg.limits()
	require.NoError(t, err)
	want := resolvers.DefaultLimits
	want.Document.Aliases, want.Document.Depth, want.Document.Tokens = 2, 5, 300
	want.WebsocketPerPrincipal, want.WebsocketPending = 3, 0
	require.Equal(t, want, l)

	cfg, err = envDefaults(func(string) string { return "" })
	require.NoError(t, err)
	l, err = cfg.limits()
	require.NoError(t, err)
	require.Equal(t, resolvers.DefaultLimits, l)
}
