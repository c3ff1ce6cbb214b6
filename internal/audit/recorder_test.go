package audit_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/auditevent"
	_ "gatehouse/ent/runtime"
	"gatehouse/ent/schema/enum"
	"gatehouse/ent/schema/pulid"
	"gatehouse/internal/audit"
	"gatehouse/internal/authz"
	"gatehouse/internal/dbtest"
)

// newClient returns an ent client on db.
func newClient(t *testing.T, db *dbtest.DB) *ent.Client {
	t.Helper()
	return ent.NewClient(ent.Driver(entsql.OpenDB(db.Dialect, db.SQL)))
}

// appendTx appends events to chain in a transaction of its own.
func appendTx(ctx context.Context, client *ent.Client, rec *audit.Recorder, chain, actor string, at time.Time, events ...audit.Event) ([]*ent.AuditEvent, error) {
	tx, err := client.Tx(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := rec.Append(ctx, tx.Client(), chain, actor, at, events...)
	if err != nil {
		return nil, fmt.Errorf("%w (rollback: %v)", err, tx.Rollback())
	}
	return rows, tx.Commit()
}

// readChain reads chain from the database in the system context.
func readChain(t *testing.T, client *ent.Client, chain string) []*ent.AuditEvent {
	t.Helper()
	rows, err := client.AuditEvent.Query().
		Where(auditevent.Chain(chain)).
		Order(auditevent.BySeq()).
		All(authz.SystemContext(context.Background()))
	require.NoError(t, err)
	return rows
}

// canon is the canonical form of a row.
func canon(t *testing.T, e *ent.AuditEvent) string {
	t.Helper()
	b, err := audit.Canonical(e.Chain, e.Seq, e.At, e.Action, e.Actor, e.RequestID, e.ItemID, e.Data)
	require.NoError(t, err)
	return string(b)
}

// rawExec runs a statement written with ? placeholders on db.
func rawExec(t *testing.T, db *dbtest.DB, query string, args ...any) {
	t.Helper()
	if db.Dialect == dialect.Postgres {
		for i := 1; strings.Contains(query, "?"); i++ {
			query = strings.Replace(query, "?", fmt.Sprintf("$%d", i), 1)
		}
	}
	res, err := db.SQL.Exec(query, args...)
	require.NoError(t, err)
	n, err := res.RowsAffected()
	require.NoError(t, err)
	require.Positive(t, n, "statement changed no row: %s", query)
}

// newRequest creates a requester, a beneficiary and a GRANT request.
func newRequest(t *testing.T, client *ent.Client) (*ent.AccessRequest, *ent.User) {
	t.Helper()
	ctx := authz.SystemContext(context.Background())
	requester := client.User.Create().SetEmail("rita@example.com").SetName("Rita").SaveX(ctx)
	beneficiary := client.User.Create().SetEmail("ben@example.com").SetName("Ben").SaveX(ctx)
	req := client.AccessRequest.Create().
		SetAction(enum.RequestActionGrant).
		SetRequester(requester).
		SetBeneficiary(beneficiary).
		SaveX(ctx)
	return req, requester
}

func requireLinked(t *testing.T, chain string, rows []*ent.AuditEvent, n int) {
	t.Helper()
	require.Len(t, rows, n)
	prev := audit.GenesisHash
	for i, r := range rows {
		require.Equal(t, int64(i+1), r.Seq)
		require.Equal(t, chain, r.Chain)
		require.Equal(t, prev, r.PrevHash, "seq %d", r.Seq)
		prev = r.Hash
	}
	v := audit.Verify(chain, rows)
	require.True(t, v.Valid, v.Reason)
	require.Equal(t, n, v.Checked)
	require.Nil(t, v.FirstBrokenSeq)
}

func TestAppendLinksAndVerifies(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		ctx := context.Background()
		client := newClient(t, db)
		rec := audit.NewRecorder(db.Dialect)
		at := time.Date(2025, 3, 4, 5, 6, 7, 891234567, time.FixedZone("EST", -5*3600))

		first, err := appendTx(ctx, client, rec, audit.SystemChain, "usr_admin", at,
			audit.Event{Action: audit.CatalogChanged, Data: map[string]any{"application": "app_1"}},
			audit.Event{Action: audit.UserTerminated},
			audit.Event{Action: audit.APITokenCreated, Data: map[string]any{"scope": "READ"}},
		)
		require.NoError(t, err)
		requireLinked(t, audit.SystemChain, first, 3)
		for _, r := range first {
			require.Equal(t, time.UTC, r.At.Location())
			require.Equal(t, at.UTC().Truncate(time.Microsecond), r.At)
		}

		more, err := appendTx(ctx, client, rec, audit.SystemChain, "tok_1", at.Add(time.Hour),
			audit.Event{Action: audit.APITokenRevoked},
			audit.Event{Action: audit.CatalogChanged, Data: map[string]any{"n": 5}},
		)
		require.NoError(t, err)
		require.Equal(t, []int64{4, 5}, []int64{more[0].Seq, more[1].Seq})
		require.Equal(t, first[2].Hash, more[0].PrevHash)

		stored := readChain(t, client, audit.SystemChain)
		requireLinked(t, audit.SystemChain, stored, 5)
		for i, r := range append(first, more...) {
			require.Equal(t, r.Hash, stored[i].Hash)
			require.Equal(t, canon(t, r), canon(t, stored[i]), "seq %d reads back alike", r.Seq)
		}
	})
}

func TestCanonicalSurvivesDatabaseRoundTrip(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		ctx := context.Background()
		client := newClient(t, db)
		rec := audit.NewRecorder(db.Dialect)
		req, requester := newRequest(t, client)
		chain := string(req.ID)
		at := time.Date(2025, 3, 4, 5, 6, 7, 999999999, time.FixedZone("X", 5*3600+1800))
		data := map[string]any{
			"count":   3,
			"ratio":   0.5,
			"comment": "<ok> & \"quoted\" é",
			"nested":  map[string]any{"b": []any{1, "two", false}, "a": map[string]any{"deep": int64(9007199254740991)}},
		}

		rows, err := appendTx(ctx, client, rec, chain, string(requester.ID), at,
			audit.Event{Action: audit.RequestSubmitted, Data: data},
			audit.Event{Action: audit.TaskApproved, RequestID: &req.ID},
		)
		require.NoError(t, err)
		require.NotNil(t, rows[0].RequestID, "a request chain's events name the request")
		require.Equal(t, req.ID, *rows[0].RequestID)

		stored := readChain(t, client, chain)
		require.Len(t, stored, 2)
		for i := range rows {
			require.Equal(t, canon(t, rows[i]), canon(t, stored[i]))
		}
		// The hash covers the caller's data as given, int and all.
		before, err := audit.Canonical(chain, 1, at, string(audit.RequestSubmitted), string(requester.ID), &req.ID, nil, data)
		require.NoError(t, err)
		require.Equal(t, string(before), canon(t, stored[0]))
		require.Equal(t, audit.Hash(audit.GenesisHash, before), stored[0].Hash)
		require.Contains(t, string(before), `"at":"2025-03-03T23:36:07.999999Z"`)
		require.Contains(t, string(before), `"nested":{"a":{"deep":9007199254740991},"b":[1,"two",false]}`)
		requireLinked(t, chain, stored, 2)
	})
}

func TestAppendRefusesBadInput(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		ctx := context.Background()
		client := newClient(t, db)
		now := time.Now()
		ev := audit.Event{Action: audit.CatalogChanged}
		other := pulid.ID("req_other")
		for name, call := range map[string]func(*ent.Tx) error{
			"empty chain": func(tx *ent.Tx) error {
				_, err := audit.NewRecorder(db.Dialect).Append(ctx, tx.Client(), "", "system", now, ev)
				return err
			},
			"empty actor": func(tx *ent.Tx) error {
				_, err := audit.NewRecorder(db.Dialect).Append(ctx, tx.Client(), audit.SystemChain, "", now, ev)
				return err
			},
			"zero time": func(tx *ent.Tx) error {
				_, err := audit.NewRecorder(db.Dialect).Append(ctx, tx.Client(), audit.SystemChain, "system", time.Time{}, ev)
				return err
			},
			"empty action": func(tx *ent.Tx) error {
				_, err := audit.NewRecorder(db.Dialect).Append(ctx, tx.Client(), audit.SystemChain, "system", now, audit.Event{})
				return err
			},
			"request of another chain": func(tx *ent.Tx) error {
				_, err := audit.NewRecorder(db.Dialect).Append(ctx, tx.Client(), "req_one", "system", now, audit.Event{Action: audit.ItemAdded, RequestID: &other})
				return err
			},
			"unencodable data": func(tx *ent.Tx) error {
				_, err := audit.NewRecorder(db.Dialect).Append(ctx, tx.Client(), audit.SystemChain, "system", now, audit.Event{Action: audit.CatalogChanged, Data: map[string]any{"f": func() {}}})
				return err
			},
			"unknown dialect": func(tx *ent.Tx) error {
				_, err := audit.NewRecorder("mysql").Append(ctx, tx.Client(), audit.SystemChain, "system", now, ev)
				return err
			},
		} {
			tx, err := client.Tx(ctx)
			require.NoError(t, err)
			err = call(tx)
			require.NoError(t, tx.Rollback())
			require.Error(t, err, name)
			require.True(t, strings.HasPrefix(err.Error(), "audit: "), "%s: %v", name, err)
		}
		require.Empty(t, readChain(t, client, audit.SystemChain))

		// No events: nothing to do.
		rows, err := appendTx(ctx, client, audit.NewRecorder(db.Dialect), audit.SystemChain, "system", now)
		require.NoError(t, err)
		require.Empty(t, rows)
	})
}

func TestAppendLeavesCallersEventsAlone(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		client := newClient(t, db)
		req, requester := newRequest(t, client)
		events := []audit.Event{{Action: audit.RequestSubmitted}}
		_, err := appendTx(context.Background(), client, audit.NewRecorder(db.Dialect), string(req.ID), string(requester.ID), time.Now(), events...)
		require.NoError(t, err)
		require.Nil(t, events[0].RequestID)
	})
}

func TestTamperingIsDetected(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, db *dbtest.DB)
		broken int64
		reason string
	}{
		{
			name: "data changed",
			tamper: func(t *testing.T, db *dbtest.DB) {
				rawExec(t, db, `UPDATE audit_events SET data = ? WHERE chain = ? AND seq = 3`, `{"i":99}`, audit.SystemChain)
			},
			broken: 3, reason: "seq 3: hash mismatch (event data or fields changed)",
		},
		{
			name: "action changed",
			tamper: func(t *testing.T, db *dbtest.DB) {
				rawExec(t, db, `UPDATE audit_events SET action = ? WHERE chain = ? AND seq = 2`, string(audit.APITokenRevoked), audit.SystemChain)
			},
			broken: 2, reason: "seq 2: hash mismatch (event data or fields changed)",
		},
		{
			name: "time changed",
			tamper: func(t *testing.T, db *dbtest.DB) {
				rawExec(t, db, `UPDATE audit_events SET at = ? WHERE chain = ? AND seq = 4`, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), audit.SystemChain)
			},
			broken: 4, reason: "seq 4: hash mismatch (event data or fields changed)",
		},
		{
			name: "middle row deleted",
			tamper: func(t *testing.T, db *dbtest.DB) {
				rawExec(t, db, `DELETE FROM audit_events WHERE chain = ? AND seq = 3`, audit.SystemChain)
			},
			broken: 3, reason: "seq 3 missing",
		},
		{
			name: "two rows' seq swapped",
			tamper: func(t *testing.T, db *dbtest.DB) {
				rawExec(t, db, `UPDATE audit_events SET seq = 1000 WHERE chain = ? AND seq = 2`, audit.SystemChain)
				rawExec(t, db, `UPDATE audit_events SET seq = 2 WHERE chain = ? AND seq = 4`, audit.SystemChain)
				rawExec(t, db, `UPDATE audit_events SET seq = 4 WHERE chain = ? AND seq = 1000`, audit.SystemChain)
			},
			broken: 2, reason: "seq 2: prev_hash does not match seq 1's hash",
		},
		{
			name: "stored hash altered",
			tamper: func(t *testing.T, db *dbtest.DB) {
				rawExec(t, db, `UPDATE audit_events SET hash = ? WHERE chain = ? AND seq = 3`, strings.Repeat("ab", 32), audit.SystemChain)
			},
			broken: 3, reason: "seq 3: hash mismatch (event data or fields changed)",
		},
		{
			name: "first row's prev_hash and hash rewritten consistently",
			tamper: func(t *testing.T, db *dbtest.DB) {
				// A forger who rehashes one row still breaks the next link.
				client := newClient(t, db)
				rows := readChain(t, client, audit.SystemChain)
				rows[0].Data = map[string]any{"i": 42.0}
				c := canon(t, rows[0])
				rawExec(t, db, `UPDATE audit_events SET data = ?, hash = ? WHERE chain = ? AND seq = 1`,
					`{"i":42}`, audit.Hash(audit.GenesisHash, []byte(c)), audit.SystemChain)
			},
			broken: 2, reason: "seq 2: prev_hash does not match seq 1's hash",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
				ctx := context.Background()
				client := newClient(t, db)
				events := make([]audit.Event, 5)
				for i := range events {
					events[i] = audit.Event{Action: audit.CatalogChanged, Data: map[string]any{"i": i + 1}}
				}
				_, err := appendTx(ctx, client, audit.NewRecorder(db.Dialect), audit.SystemChain, "system", time.Now(), events...)
				require.NoError(t, err)
				requireLinked(t, audit.SystemChain, readChain(t, client, audit.SystemChain), 5)

				db.DisableAuditTriggers(t)
				tc.tamper(t, db)

				v := audit.Verify(audit.SystemChain, readChain(t, client, audit.SystemChain))
				require.False(t, v.Valid)
				require.NotNil(t, v.FirstBrokenSeq)
				require.Equal(t, tc.broken, *v.FirstBrokenSeq, v.Reason)
				require.Equal(t, tc.reason, v.Reason)
				require.Equal(t, int(tc.broken-1), v.Checked)
			})
		})
	}
}

func TestConcurrentAppendsAreSerialised(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		ctx := context.Background()
		client := newClient(t, db)
		rec := audit.NewRecorder(db.Dialect)
		const n = 16
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				_, err := appendTx(ctx, client, rec, audit.SystemChain, "system", time.Now(),
					audit.Event{Action: audit.CatalogChanged, Data: map[string]any{"writer": i}})
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		rows := readChain(t, client, audit.SystemChain)
		requireLinked(t, audit.SystemChain, rows, n)
		writers := map[float64]bool{}
		for _, r := range rows {
			writers[r.Data["writer"].(float64)] = true
		}
		require.Len(t, writers, n, "every writer's event is in the chain once")
	})
}

func TestTrailAppliesPrivacy(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		ctx := context.Background()
		client := newClient(t, db)
		rec := audit.NewRecorder(db.Dialect)
		req, requester := newRequest(t, client)
		other, _ := newRequest2(t, client)
		_, err := appendTx(ctx, client, rec, string(req.ID), string(requester.ID), time.Now(),
			audit.Event{Action: audit.RequestSubmitted}, audit.Event{Action: audit.ItemAdded}, audit.Event{Action: audit.TaskAssigned})
		require.NoError(t, err)
		_, err = appendTx(ctx, client, rec, string(other.ID), "system", time.Now(), audit.Event{Action: audit.RequestSubmitted})
		require.NoError(t, err)

		asRequester := authz.NewContext(ctx, &authz.Viewer{UserID: requester.ID, Role: enum.PlatformRoleUser})
		trail, err := rec.Trail(asRequester, client, req.ID)
		require.NoError(t, err)
		require.Len(t, trail, 3)
		for i, e := range trail {
			require.Equal(t, int64(i+1), e.Seq)
		}
		require.Equal(t, string(audit.RequestSubmitted), trail[0].Action)
		require.True(t, audit.Verify(string(req.ID), trail).Valid)

		// The requester of one request does not see another's trail.
		hidden, err := rec.Trail(asRequester, client, other.ID)
		require.NoError(t, err)
		require.Empty(t, hidden)

		// Without a viewer the read is refused.
		_, err = rec.Trail(ctx, client, req.ID)
		require.Error(t, err)
	})
}

// newRequest2 creates a second request between two other users.
func newRequest2(t *testing.T, client *ent.Client) (*ent.AccessRequest, *ent.User) {
	t.Helper()
	ctx := authz.SystemContext(context.Background())
	a := client.User.Create().SetEmail("ann@example.com").SetName("Ann").SaveX(ctx)
	b := client.User.Create().SetEmail("bob@example.com").SetName("Bob").SaveX(ctx)
	req := client.AccessRequest.Create().SetAction(enum.RequestActionGrant).SetRequester(a).SetBeneficiary(b).SaveX(ctx)
	return req, a
}
