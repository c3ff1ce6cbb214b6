package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReportSigningKeySettings checks each way GATEHOUSE_REPORT_SIGNING_KEY
// gives the key, and the defaults without it.
func TestReportSigningKeySettings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	seed := make([]byte, ed25519.SeedSize)
	_, err := rand.Read(seed)
	require.NoError(t, err)
	want := ed25519.NewKeyFromSeed(seed)
	der, err := x509.MarshalPKCS8PrivateKey(want)
	require.NoError(t, err)
	pemFile := filepath.Join(dir, "report.pem")
	require.NoError(t, os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	seedFile := filepath.Join(dir, "report.seed")
	require.NoError(t, os.WriteFile(seedFile, []byte(base64.StdEncoding.EncodeToString(seed)+"\n"), 0o600))
	secret := []byte(strings.Repeat("s", 40))

	for _, tc := range []struct{ why, setting string }{
		{"a base64 seed", base64.StdEncoding.EncodeToString(seed)},
		{"a base64url seed without padding", base64.RawURLEncoding.EncodeToString(seed)},
		{"a PKCS #8 PEM file, as openssl genpkey writes", pemFile},
		{"a file holding a base64 seed", seedFile},
	} {
		for _, db := range []string{"", "postgres://x/y"} {
			got, err := config{reportKey: tc.setting, databaseURL: db, sqlitePath: filepath.Join(dir, "unused.db")}.reportSigningKey(secret)
			require.NoError(t, err, tc.why)
			require.True(t, want.Equal(got), tc.why)
		}
	}
	require.NoFileExists(t, filepath.Join(dir, "unused.db.report-key"), "a set key writes no file")

	// SQLite: a key kept beside the database, created once, mode 0600.
	sqlite := config{sqlitePath: filepath.Join(dir, "g.db")}
	k1, err := sqlite.reportSigningKey(secret)
	require.NoError(t, err)
	info, err := os.Stat(filepath.Join(dir, "g.db.report-key"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	k2, err := sqlite.reportSigningKey(secret)
	require.NoError(t, err)
	require.True(t, k1.Equal(k2), "the same key on the next start")

	// PostgreSQL: derived from the JWT secret, the same on every replica.
	pg := config{databaseURL: "postgres://x/y"}
	p1, err := pg.reportSigningKey(secret)
	require.NoError(t, err)
	p2, err := pg.reportSigningKey(secret)
	require.NoError(t, err)
	require.True(t, p1.Equal(p2))
	p3, err := pg.reportSigningKey([]byte(strings.Repeat("t", 40)))
	require.NoError(t, err)
	require.False(t, p1.Equal(p3), "another secret, another key")

	garbage := filepath.Join(dir, "garbage")
	require.NoError(t, os.WriteFile(garbage, []byte("not a key\n"), 0o600))
	for _, bad := range []string{filepath.Join(dir, "missing"), "c2hvcnQ=", garbage} {
		_, err := config{reportKey: bad}.reportSigningKey(secret)
		require.Error(t, err, bad)
	}
}
