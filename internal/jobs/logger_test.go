package jobs

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestLibraryChatterIsDebug: River's routine INFO records (job counts every
// few seconds, maintenance runs) are written at DEBUG, so an INFO log drops
// them; its warnings and errors stay as they are.
func TestLibraryChatterIsDebug(t *testing.T) {
	t.Parallel()
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		var buf bytes.Buffer
		log := slog.New(demoted{slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level})}).With("queue", "default")
		log.Info("producer: Producer job counts")
		log.Info("Driver does not support listener; entering poll only mode")
		log.Warn("jobExecutor: job errored")
		log.Error("elector: failed")
		out := buf.String()
		require.Contains(t, out, "level=WARN msg=\"jobExecutor: job errored\" queue=default")
		require.Contains(t, out, "level=ERROR")
		if level == slog.LevelInfo {
			require.NotContains(t, out, "Producer job counts")
			require.NotContains(t, out, "poll only")
			require.Equal(t, 2, strings.Count(out, "\n"))
		} else {
			require.Contains(t, out, "level=DEBUG msg=\"producer: Producer job counts\"")
			require.Contains(t, out, "level=DEBUG msg=\"Driver does not support listener")
		}
	}
}
