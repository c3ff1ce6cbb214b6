package resolvers_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gatehouse/ent/schema/enum"
	"gatehouse/internal/apitest"
	"gatehouse/internal/dbtest"
)

const subNotificationAdded = `subscription { notificationAdded { id kind title link request { id } task { id } } }`

type notificationAdded struct {
	NotificationAdded struct {
		ID      string
		Kind    string
		Title   string
		Link    string
		Request struct{ ID string }
		Task    *struct{ ID string }
	}
}

func waitNotificationSubscribers(t *testing.T, env *apitest.Env, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return env.Server.Notifications.Subscribers() == n }, time.Minute, 5*time.Millisecond,
		"want %d notification subscriptions, have %d", n, env.Server.Notifications.Subscribers())
}

// TestNotificationAddedLive: the reviewer subscribed over a websocket
// receives the notification of the task a submission gives them, the one
// the notifications query then lists; the requester (who acted) and a user
// outside the request receive nothing.
func TestNotificationAddedLive(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *dbtest.DB) {
		env := apitest.New(t, db)
		m := env.User(t, "m@example.com", enum.PlatformRoleUser)
		x := env.User(t, "x@example.com", enum.PlatformRoleUser)
		r, err := env.Client.User.Create().SetEmail("r@example.com").SetName("R").SetManager(m).Save(apitest.Sys())
		require.NoError(t, err)
		e := manualApp(t, env, "Ledger", x)
		rTok, mTok, xTok := env.Token(t, r), env.Token(t, m), env.Token(t, x)

		onM := connectWS(t, env.WebsocketURL(), mTok).subscribe(subNotificationAdded, nil)
		onR := connectWS(t, env.WebsocketURL(), rTok).subscribe(subNotificationAdded, nil)
		onX := connectWS(t, env.WebsocketURL(), xTok).subscribe(subNotificationAdded, nil)
		waitNotificationSubscribers(t, env, 3)

		id := submit(t, env, rTok, e)
		var got notificationAdded
		onM.data(&got)
		require.Equal(t, "TASK_ASSIGNED", got.NotificationAdded.Kind)
		require.Equal(t, id, got.NotificationAdded.Request.ID)
		require.NotNil(t, got.NotificationAdded.Task)
		require.Equal(t, "/app/tasks/"+got.NotificationAdded.Task.ID, got.NotificationAdded.Link)

		var list struct {
			Notifications struct {
				Edges []struct{ Node struct{ ID string } }
			}
		}
		env.MustDo(t, mTok, `{ notifications { edges { node { id } } } }`, nil, &list)
		require.Len(t, list.Notifications.Edges, 1)
		require.Equal(t, got.NotificationAdded.ID, list.Notifications.Edges[0].Node.ID, "the live one is the listed one")

		env.AwaitJobs(t, "outbox")
		onR.quiet(200 * time.Millisecond)
		onX.quiet(0)
	})
}

// TestNotificationAddedAcrossReplicas: on PostgreSQL the job that writes a
// notification may run on another replica than the recipient's websocket;
// the notice crosses over the LISTEN connection and the subscriber on the
// other replica receives it.
func TestNotificationAddedAcrossReplicas(t *testing.T) {
	t.Parallel()
	db := postgresDB(t)
	a := apitest.NewWith(t, db, apitest.Options{OwnPool: true})
	b := apitest.NewWith(t, db, apitest.Options{OwnPool: true, NoJobs: true}) // every job runs on A
	m := a.User(t, "m@example.com", enum.PlatformRoleUser)
	r, err := a.Client.User.Create().SetEmail("r@example.com").SetName("R").SetManager(m).Save(apitest.Sys())
	require.NoError(t, err)
	e := manualApp(t, a, "Ledger", m)
	rTok, mTok := a.Token(t, r), a.Token(t, m)

	onB := connectWS(t, b.WebsocketURL(), mTok).subscribe(subNotificationAdded, nil)
	waitNotificationSubscribers(t, b, 1)
	id := submit(t, b, rTok, e)
	var got notificationAdded
	onB.data(&got)
	require.Equal(t, "TASK_ASSIGNED", got.NotificationAdded.Kind)
	require.Equal(t, id, got.NotificationAdded.Request.ID)
}
