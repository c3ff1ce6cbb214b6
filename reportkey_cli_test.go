package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/internal/reports"
)

// TestReportKeyCommand: gatehouse report-key prints the PEM public key of
// the key the server signs reports with, from the same settings.
func TestReportKeyCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pemOf := func(k ed25519.PrivateKey) string {
		s, err := reports.NewSigner(k)
		require.NoError(t, err)
		return string(s.PublicKeyPEM())
	}
	keyOut := func(env map[string]string, args ...string) string {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), append([]string{"report-key"}, args...), func(k string) string { return env[k] }, &stdout, &stderr)
		require.NoError(t, err, stderr.String())
		return stdout.String()
	}

	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	set := keyOut(map[string]string{"GATEHOUSE_REPORT_SIGNING_KEY": base64.StdEncoding.EncodeToString(seed)})
	require.Equal(t, pemOf(ed25519.NewKeyFromSeed(seed)), set, "the configured key")
	require.True(t, strings.HasPrefix(set, "-----BEGIN PUBLIC KEY-----"))

	db := filepath.Join(dir, "g.db")
	local := keyOut(nil, "--sqlite", db)
	kept, err := reports.LocalSigningKey(db + ".report-key")
	require.NoError(t, err)
	require.Equal(t, pemOf(kept), local, "SQLite: the key kept beside the database, which the server then uses")
	require.Equal(t, local, keyOut(nil, "--sqlite", db), "the same key each time")

	secret := strings.Repeat("s", 40)
	pg := map[string]string{"DATABASE_URL": "postgres://h/db", "GATEHOUSE_JWT_SECRET": secret}
	want, err := config{databaseURL: "postgres://h/db"}.reportSigningKey([]byte(secret))
	require.NoError(t, err)
	require.Equal(t, pemOf(want), keyOut(pg), "PostgreSQL: derived from the JWT secret, no database opened")
}
