package reports_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/internal/dbtest"
)

// TestREADMEVerificationSteps runs the shell block of the README's "Signed
// reports" section as it is written — download a request's PDF and its
// signature header, fetch the public key from the well-known endpoint,
// verify offline with openssl — against a test server, then checks that
// the same openssl line refuses the file once one byte changed. Skipped
// where curl or openssl is missing.
func TestREADMEVerificationSteps(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"sh", "curl", "openssl", "base64", "sed"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	require.NoError(t, err)
	block := shellBlockAfter(t, string(readme), "### Signed reports")
	require.Contains(t, block, "openssl pkeyutl -verify")
	require.Contains(t, block, "/.well-known/gatehouse-report-key")

	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		s := newReviewScene(t, db)
		dir := t.TempDir()
		script := strings.ReplaceAll(block, "http://localhost:8080", s.env.Base)
		sh := func(script string) (string, error) {
			cmd := exec.Command("sh", "-e", "-c", script)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "JAMES="+s.tokRM, "REQ="+s.reqID)
			out, err := cmd.CombinedOutput()
			return string(out), err
		}
		out, err := sh(script)
		require.NoError(t, err, out)
		require.Contains(t, out, "Signature Verified Successfully")

		pdf := filepath.Join(dir, "report.pdf")
		b, err := os.ReadFile(pdf)
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(string(b), "%PDF"), "the download is the PDF")
		b[len(b)/2] ^= 0x01
		require.NoError(t, os.WriteFile(pdf, b, 0o600))
		lines := strings.Split(strings.TrimSpace(block), "\n")
		out, err = sh(lines[len(lines)-1])
		require.Error(t, err, "one changed byte fails the check: %s", out)
	})
}

// shellBlockAfter returns the first ```sh block after heading in md.
func shellBlockAfter(t *testing.T, md, heading string) string {
	t.Helper()
	i := strings.Index(md, heading)
	require.GreaterOrEqual(t, i, 0, "README has %q", heading)
	rest := md[i:]
	start := strings.Index(rest, "```sh\n")
	require.GreaterOrEqual(t, start, 0)
	rest = rest[start+len("```sh\n"):]
	end := strings.Index(rest, "```")
	require.GreaterOrEqual(t, end, 0)
	return rest[:end]
}
