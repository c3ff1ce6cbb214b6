package resolvers_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/ent"
	"gatehouse/ent/schema/enum"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
	progressfeed "gatehouse/internal/progress"
)

// postgresDB returns a PostgreSQL test database, skipping without one.
func postgresDB(t *testing.T) *dbtest.DB {
	t.Helper()
	if os.Getenv(dbtest.EnvPostgresURL) == "" {
		t.Skip(dbtest.EnvPostgresURL + " is not set")
	}
	return dbtest.NewPostgres(t)
}

// manualApp creates a MANUAL application with one entitlement reviewed by
// the beneficiary's manager.
func manualApp(t *testing.T, env *apitest.Env, name string, owner *ent.User) *ent.Entitlement {
	t.Helper()
	ctx := apitest.Sys()
	app, err := env.Client.Application.Create().SetName(name).SetFulfillment(enum.FulfillmentManual).
		SetConnectorKind(enum.ConnectorKindManual).AddOwners(owner).Save(ctx)
	require.NoError(t, err)
	e, err := env.Client.Entitlement.Create().SetApplication(app).SetExternalID(name).SetName(name + " users").Save(ctx)
	require.NoError(t, err)
	_, err = env.Client.ReviewStageTemplate.Create().SetApplication(app).SetLevel(1).SetReviewerKind(enum.ReviewerKindManager).Save(ctx)
	require.NoError(t, err)
	return e
}

func submit(t *testing.T, env *apitest.Env, token string, entitlements ...*ent.Entitlement) string {
	t.Helper()
	ids := make([]string, len(entitlements))
	for i, e := range entitlements {
		ids[i] = string(e.ID)
	}
	var sub struct{ SubmitAccessRequest struct{ ID string } }
	env.MustDo(t, token, `mutation($in: SubmitAccessRequestInput!) { submitAccessRequest(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"action": "GRANT", "entitlementIds": ids}}, &sub)
	return sub.SubmitAccessRequest.ID
}

// TestSubscriptionsAcrossReplicas runs two servers on one PostgreSQL
// database, each with its own connection pool, feed, broker and listener:
// a subscriber on B receives the event of a decision made on A, with the
// right numbers, and so does one on A.
func TestSubscriptionsAcrossReplicas(t *testing.T) {
	t.Parallel()
	db := postgresDB(t)
	a := apitest.NewWith(t, db, apitest.Options{OwnPool: true})
	b := apitest.NewWith(t, db, apitest.Options{OwnPool: true})
	require.NotSame(t, a.Feed, b.Feed)

	admin := a.User(t, "it@example.com", enum.PlatformRoleITAdmin)
	m := a.User(t, "m@example.com", enum.PlatformRoleUser)
	r, err := a.Client.User.Create().SetEmail("r@example.com").SetName("R").SetManager(m).Save(apitest.Sys())
	require.NoError(t, err)
	x := manualApp(t, a, "X", admin)
	y := manualApp(t, a, "Y", admin)
	rTok, mTok := a.Token(t, r), a.Token(t, m) // one secret: valid on both

	onB := connectWS(t, b.WebsocketURL(), mTok)
	bTasks := &taskStream{sub: onB.subscribe(subMyTaskProgress, nil)}
	waitSubscribers(t, b, 1)
	id := submit(t, a, rTok, x, y)
	bTasks.expect(t, "submission on A", id, completion{0, 2, 0}, completion{0, 2, 0})

	bProgress := &progressStream{sub: connectWS(t, b.WebsocketURL(), rTok).subscribe(subRequestProgress, map[string]any{"id": id})}
	bProgress.expect(t, "subscribing on B", completion{0, 2, 0}, completion{0, 0, 100})
	aProgress := &progressStream{sub: connectWS(t, a.WebsocketURL(), mTok).subscribe(subRequestProgress, map[string]any{"id": id})}
	aProgress.expect(t, "subscribing on A", completion{0, 2, 0}, completion{0, 2, 0})

	task := (&org{env: a}).progress(t, rTok, id).task(t, "X users", "m@example.com")
	a.MustDo(t, mTok, decide, map[string]any{"id": task, "d": "APPROVE"}, nil)
	bProgress.expect(t, "decision on A", completion{1, 2, 50}, completion{0, 0, 100})
	bTasks.expect(t, "decision on A", id, completion{1, 2, 50}, completion{1, 2, 50})
	aProgress.expect(t, "decision on A", completion{1, 2, 50}, completion{1, 2, 50})

	// And the other way round.
	task = (&org{env: b}).progress(t, rTok, id).task(t, "Y users", "m@example.com")
	b.MustDo(t, mTok, decide, map[string]any{"id": task, "d": "DENY"}, nil)
	aProgress.expect(t, "decision on B", completion{2, 2, 100}, completion{2, 2, 100})
	bProgress.expect(t, "decision on B", completion{2, 2, 100}, completion{0, 0, 100})
}

// TestSubscriptionsResyncAfterListenerLoss kills the feed's LISTEN
// connection with pg_terminate_backend. NOTIFY keeps nothing for a
// disconnected listener, so after reconnecting the feed re-sends the
// requests changed meanwhile and the snapshots of the requests it has
// requestProgress subscribers for. The change here is written behind the
// workflow's back (no NOTIFY at all), so only the re-sync can deliver it.
func TestSubscriptionsResyncAfterListenerLoss(t *testing.T) {
	t.Parallel()
	db := postgresDB(t)
	env := apitest.New(t, db)
	admin := env.User(t, "it@example.com", enum.PlatformRoleITAdmin)
	m := env.User(t, "m@example.com", enum.PlatformRoleUser)
	r, err := env.Client.User.Create().SetEmail("r@example.com").SetName("R").SetManager(m).Save(apitest.Sys())
	require.NoError(t, err)
	rTok, mTok := env.Token(t, r), env.Token(t, m)
	changed := submit(t, env, rTok, manualApp(t, env, "X", admin))
	unchanged := submit(t, env, rTok, manualApp(t, env, "Y", admin))

	ws := connectWS(t, env.WebsocketURL(), rTok)
	pChanged := &progressStream{sub: ws.subscribe(subRequestProgress, map[string]any{"id": changed})}
	pUnchanged := &progressStream{sub: ws.subscribe(subRequestProgress, map[string]any{"id": unchanged})}
	mTasks := connectWS(t, env.WebsocketURL(), mTok).subscribe(subMyTaskProgress, nil)
	pChanged.expect(t, "subscribing", completion{0, 1, 0}, completion{0, 0, 100})
	pUnchanged.expect(t, "subscribing", completion{0, 1, 0}, completion{0, 0, 100})
	waitSubscribers(t, env, 3)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = db.SQL.ExecContext(ctx, `UPDATE review_tasks SET status = 'APPROVED', updated_at = now() WHERE request_id = $1`, changed)
	require.NoError(t, err)
	pChanged.sub.quiet(300 * time.Millisecond) // no NOTIFY was sent

	var killed int
	require.NoError(t, db.SQL.QueryRowContext(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1`, progressfeed.ListenerApplicationName).Scan(&killed))
	require.Equal(t, 1, killed, "one listening connection per process")

	pChanged.expect(t, "re-sync", completion{1, 1, 100}, completion{0, 0, 100})
	var ev liveProgress
	pUnchanged.sub.data(&ev) // the unchanged snapshot, sent again
	require.Equal(t, completion{0, 1, 0}, ev.RequestProgress.Overall)
	for {
		var task liveTask
		mTasks.data(&task)
		if task.MyTaskProgress.Request.ID == changed {
			require.Equal(t, completion{1, 1, 100}, task.MyTaskProgress.Mine)
			break
		}
	}
	require.Eventually(t, func() bool {
		var n int
		return db.SQL.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
			AND application_name = $1`, progressfeed.ListenerApplicationName).Scan(&n) == nil && n == 1
	}, time.Minute, 20*time.Millisecond, "the listener is back")
}

// TestSubscriptionsCatchUpWhenAReplicaStarts: a change that a replica
// committed but never sent (it stopped or crashed between its commit and
// its notifier's send) reaches the subscribers of the other replicas when a
// replica starts: the starting one asks the others to re-read what changed
// in the catch-up window. The change here is written behind the workflow's
// back, so only the catch-up can deliver it.
func TestSubscriptionsCatchUpWhenAReplicaStarts(t *testing.T) {
	t.Parallel()
	db := postgresDB(t)
	a := apitest.NewWith(t, db, apitest.Options{OwnPool: true})
	admin := a.User(t, "it@example.com", enum.PlatformRoleITAdmin)
	m := a.User(t, "m@example.com", enum.PlatformRoleUser)
	r, err := a.Client.User.Create().SetEmail("r@example.com").SetName("R").SetManager(m).Save(apitest.Sys())
	require.NoError(t, err)
	rTok := a.Token(t, r)
	id := submit(t, a, rTok, manualApp(t, a, "X", admin))

	p := &progressStream{sub: connectWS(t, a.WebsocketURL(), rTok).subscribe(subRequestProgress, map[string]any{"id": id})}
	p.expect(t, "subscribing", completion{0, 1, 0}, completion{0, 0, 100})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = db.SQL.ExecContext(ctx, `UPDATE review_tasks SET status = 'APPROVED', updated_at = now() WHERE request_id = $1`, id)
	require.NoError(t, err)

	apitest.NewWith(t, db, apitest.Options{OwnPool: true})
	p.expect(t, "a replica starting", completion{1, 1, 100}, completion{0, 0, 100})
}
