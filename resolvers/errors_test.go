package resolvers_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/internal/errcode"
	"gatehouse/resolvers"
)

// TestPresenterSeesThroughWrapping checks that an error wrapped with the
// steps it passed through (as the workflow wraps them) reaches the client
// with the code, message and field of the error inside, never the steps;
// and that an uncoded one is shown as "internal error" while the log line
// keeps the steps.
func TestPresenterSeesThroughWrapping(t *testing.T) {
	t.Parallel()
	conflict := errcode.New(errcode.Conflict, "review task tsk_1 is APPROVED, not PENDING")
	for _, tc := range []struct {
		why     string
		err     error
		code    errcode.Code
		message string
		field   string
		logged  string
	}{
		{"a coded error keeps its own message",
			fmt.Errorf("decide: task tsk_1: %w", conflict),
			errcode.Conflict, conflict.Message, "", ""},
		{"a coded error keeps its field",
			fmt.Errorf("reassign tsk_1: %w", errcode.Invalid("comment", "a reassignment needs a reason")),
			errcode.InvalidInput, "comment: a reassignment needs a reason", "comment", ""},
		{"a coded error joined with a failed rollback is still the coded error",
			fmt.Errorf("cancel req_1: %w", errors.Join(conflict, errors.New("rollback: sql: connection is already closed"))),
			errcode.Conflict, conflict.Message, "", ""},
		{"ent's not found is found through the steps",
			fmt.Errorf("cancel req_1: load request: %w", &ent.NotFoundError{}),
			errcode.NotFound, "not found", "", ""},
		{"ent's constraint error is found through the steps",
			fmt.Errorf("submit: create: request: %w", &ent.ConstraintError{}),
			errcode.Conflict, "conflicts with an existing record", "", ""},
		{"an uncoded error is internal: the client sees nothing of it, the log sees the steps",
			fmt.Errorf("submit: create: item itm_1: %w", errors.New("sql: database is closed")),
			errcode.Internal, "internal error", "", "submit: create: item itm_1: sql: database is closed"},
	} {
		var log bytes.Buffer
		got := resolvers.ErrorPresenter(slog.New(slog.NewTextHandler(&log, nil)))(context.Background(), tc.err)
		require.Equal(t, tc.message, got.Message, tc.why)
		require.Equal(t, string(tc.code), got.Extensions["code"], tc.why)
		if tc.field != "" {
			require.Equal(t, tc.field, got.Extensions["field"], tc.why)
		} else {
			require.NotContains(t, got.Extensions, "field", tc.why)
		}
		if tc.logged != "" {
			require.Contains(t, log.String(), "internal error", tc.why)
			require.Contains(t, log.String(), tc.logged, tc.why)
		}
	}
}

// TestPresenterCancelledRequestIsNoError: an unclassified error of a
// request whose context was cancelled (the client went away mid-query) is
// still INTERNAL to the client, but logged at DEBUG, not ERROR.
func TestPresenterCancelledRequestIsNoError(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var log bytes.Buffer
	present := resolvers.ErrorPresenter(slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug})))
	got := present(ctx, fmt.Errorf("load request: %w", context.Canceled))
	require.Equal(t, "internal error", got.Message)
	require.Equal(t, string(errcode.Internal), got.Extensions["code"])
	require.Contains(t, log.String(), "level=DEBUG msg=\"request cancelled\"")
	require.NotContains(t, log.String(), "level=ERROR")

	log.Reset()
	present(context.Background(), fmt.Errorf("load request: %w", context.Canceled))
	require.Contains(t, log.String(), "level=ERROR msg=\"internal error\"", "a live request's failure is an error")
}
