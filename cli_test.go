package main

import (
	"bytes"
	"context"
	"flag"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// runBinary runs the built binary to completion and returns its exit code,
// stdout and stderr.
func runBinary(t *testing.T, dir string, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(gatehouseBinary(t), args...)
	cmd.Dir, cmd.Env = dir, env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if exit, ok := err.(*exec.ExitError); ok {
		code = exit.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return code, stdout.String(), stderr.String()
}

// TestHelpListsCommandsAndEachCommandItsOwnFlags: help, --help and -h list
// every command and exit 0; a command's --help shows its flags and
// environment and none of another command's; --version prints the build.
func TestHelpListsCommandsAndEachCommandItsOwnFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, arg := range []string{"help", "--help", "-h"} {
		code, out, errOut := runBinary(t, dir, baseEnv(), arg)
		require.Equal(t, 0, code, arg)
		require.Empty(t, errOut, arg)
		for _, c := range []string{"serve", "migrate", "token", "user create", "demo", "help", "version"} {
			require.Contains(t, out, "\n  "+c+" ", "%s lists %s", arg, c)
		}
	}

	code, out, _ := runBinary(t, dir, baseEnv(), "token", "--help")
	require.Equal(t, 0, code)
	require.Contains(t, out, "-email")
	require.Contains(t, out, "GATEHOUSE_TOKEN_TTL")
	require.Contains(t, out, "DATABASE_URL")
	require.NotContains(t, out, "-addr", "serve's flags are not token's")
	require.NotContains(t, out, "GATEHOUSE_ADDR")
	require.NotContains(t, out, "-query-limits")

	code, out, _ = runBinary(t, dir, baseEnv(), "help", "user", "create")
	require.Equal(t, 0, code)
	require.Contains(t, out, "-role")
	require.NotContains(t, out, "-ttl")

	code, out, _ = runBinary(t, dir, baseEnv(), "serve", "-h")
	require.Equal(t, 0, code)
	for _, want := range []string{"-addr", "-demo", "GATEHOUSE_BOOTSTRAP_ADMIN", "GATEHOUSE_LOG_LEVEL", "GATEHOUSE_FULFILLMENT_TIMEOUT"} {
		require.Contains(t, out, want)
	}
	require.NotContains(t, out, "-email")

	code, out, _ = runBinary(t, dir, baseEnv(), "--version")
	require.Equal(t, 0, code)
	require.True(t, strings.HasPrefix(out, "gatehouse "), out)
	require.Contains(t, out, "go1.")

	code, _, errOut := runBinary(t, dir, baseEnv(), "token", "--addr", ":1")
	require.NotEqual(t, 0, code)
	require.Contains(t, errOut, "gatehouse token --help")
	require.Empty(t, mustReadDir(t, dir), "no command created anything")
}

// TestSynopsisNamesEveryFlag: the usage line of each command names each
// flag the command takes.
func TestSynopsisNamesEveryFlag(t *testing.T) {
	t.Parallel()
	for _, c := range commands {
		cfg, err := envDefaults(func(string) string { return "" })
		require.NoError(t, err)
		fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
		c.flags(fs, &cfg, &inputs{})
		fs.VisitAll(func(f *flag.Flag) {
			require.Contains(t, c.synopsis, "--"+f.Name, "gatehouse %s", c.name)
		})
	}
}

func mustReadDir(t *testing.T, dir string) []os.DirEntry {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	return entries
}

// TestCommandsRefuseAMissingDatabase: token and user create on a directory
// without a database fail, name the file they looked for, and create
// nothing; demo on a database that holds users says why it did nothing.
func TestCommandsRefuseAMissingDatabase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := baseEnv("GATEHOUSE_DEMO=false")
	want := filepath.Join(dir, "gatehouse.db")
	for _, args := range [][]string{
		{"token", "--email", "ops@corp.example"},
		{"token"},
		{"user", "create", "--email", "ops@corp.example", "--name", "Ops", "--role", "IT_ADMIN"},
	} {
		code, _, errOut := runBinary(t, dir, env, args...)
		require.NotEqual(t, 0, code, args)
		require.Contains(t, errOut, "no SQLite database "+want, args)
		require.Empty(t, mustReadDir(t, dir), "%v created nothing", args)
	}

	require.Equal(t, "database migrated", run1(t, dir, env, "migrate"))
	code, _, errOut := runBinary(t, dir, env, "token", "--email", "ops@corp.example")
	require.NotEqual(t, 0, code)
	require.Contains(t, errOut, "no user with email ops@corp.example in SQLite database "+want)
	run1(t, dir, env, "user", "create", "--email", "ops@corp.example", "--name", "Ops", "--role", "IT_ADMIN")
	code, _, errOut = runBinary(t, dir, env, "demo")
	require.NotEqual(t, 0, code)
	require.Contains(t, errOut, "already holds users, so the demo organisation was not seeded")
}

// TestListenAddressIsCheckedFirst: a port in use fails the start before the
// database is created.
func TestListenAddressIsCheckedFirst(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	dir := t.TempDir()
	code, _, errOut := runBinary(t, dir, baseEnv(), "serve", "--addr", ln.Addr().String())
	require.NotEqual(t, 0, code)
	require.Contains(t, errOut, "listen on "+ln.Addr().String())
	require.Empty(t, mustReadDir(t, dir), "nothing migrated or seeded")
}

// TestBootstrapAdminKeepsTheDemo: GATEHOUSE_BOOTSTRAP_ADMIN on a fresh
// SQLite file no longer keeps the demo out: the demo is seeded first, and
// the log says why no bootstrap admin was made. The tokens file holds the
// tokens the log printed, readable by its owner only, and `token` prints
// tokens for the same users.
func TestBootstrapAdminKeepsTheDemo(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := start(t, dir, baseEnv("GATEHOUSE_BOOTSTRAP_ADMIN=boot@corp.example"), "--addr", "127.0.0.1:0")
	require.EqualValues(t, 15, p.waitFor(t, "demo organisation seeded")["users"])
	require.Equal(t, "boot@corp.example", p.waitFor(t, "bootstrap admin not created: an IT admin exists")["email"])
	url := p.waitFor(t, "gatehouse listening")["graphql"].(string)
	admin := p.waitFor(t, "demo user")
	require.Equal(t, "admin@example.com", admin["email"])
	file := p.waitFor(t, "demo tokens written")["file"].(string)
	p.stop(t)

	info, err := os.Stat(file)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	require.Contains(t, string(b), admin["token"].(string))
	require.True(t, strings.HasPrefix(string(b), "admin@example.com "))

	printed := run1(t, dir, baseEnv(), "token")
	require.Equal(t, strings.Count(string(b), "\n"), strings.Count(printed, "\n")+1, "a line per demo user")
	require.True(t, strings.HasPrefix(printed, "admin@example.com "))
	_ = url
}

// TestDemoSinkListingNeedsAnITAdmin: GET /demo/webhook-sink shows
// deliveries (users' names and emails) only to an IT admin's token.
func TestDemoSinkListingNeedsAnITAdmin(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := start(t, dir, baseEnv(), "--addr", "127.0.0.1:0")
	url := p.waitFor(t, "gatehouse listening")["graphql"].(string)
	tokens := map[string]string{}
	for len(tokens) < 2 {
		m := p.waitFor(t, "demo user")
		tokens[m["role"].(string)] = m["token"].(string)
	}
	sink := strings.TrimSuffix(url, "/query") + "/demo/webhook-sink"
	get := func(token string) int {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, sink, nil)
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return res.StatusCode
	}
	require.Equal(t, http.StatusUnauthorized, get(""))
	require.Equal(t, http.StatusUnauthorized, get("not-a-token"))
	require.Equal(t, http.StatusForbidden, get(tokens["USER"]))
	require.Equal(t, http.StatusOK, get(tokens["IT_ADMIN"]))
	p.stop(t)
}

// TestInterruptedStartExitsQuietly: a start-up whose context ends (Ctrl-C)
// returns no error and writes no error line.
func TestInterruptedStartExitsQuietly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	env := map[string]string{"GATEHOUSE_SQLITE_PATH": filepath.Join(dir, "gatehouse.db"), "GATEHOUSE_LOG_FORMAT": "json"}
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"serve", "--addr", "127.0.0.1:0"}, func(k string) string { return env[k] }, &stdout, &stderr)
	require.NoError(t, err)
	require.NotContains(t, stderr.String(), `"level":"ERROR"`)
	require.Contains(t, stderr.String(), `"msg":"interrupted"`)
}

// TestDemoListensOnLoopbackByDefault: demo mode, which logs admin tokens,
// listens on 127.0.0.1 unless an address is given; without the demo the
// default stays :8080.
func TestDemoListensOnLoopbackByDefault(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"sqlite demo":      {map[string]string{}, "127.0.0.1:8080"},
		"demo off":         {map[string]string{"GATEHOUSE_DEMO": "false"}, ":8080"},
		"postgres":         {map[string]string{"DATABASE_URL": "postgres://h/db", "GATEHOUSE_JWT_SECRET": strings.Repeat("k", 40)}, ":8080"},
		"address in env":   {map[string]string{"GATEHOUSE_ADDR": "0.0.0.0:9000"}, "0.0.0.0:9000"},
		"postgres + demo ": {map[string]string{"DATABASE_URL": "postgres://h/db", "GATEHOUSE_JWT_SECRET": strings.Repeat("k", 40), "GATEHOUSE_DEMO": "true"}, "127.0.0.1:8080"},
	} {
		cfg, err := envDefaults(func(k string) string { return tc.env[k] })
		require.NoError(t, err, name)
		require.NoError(t, cfg.validate(), name)
		require.Equal(t, tc.want, cfg.addr, name)
	}
}
