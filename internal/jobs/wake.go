package jobs

import (
	"context"
	"database/sql"

	"github.com/riverqueue/river/riverdriver"
)

// River learns of new jobs from this process, not from the database: the
// workflow wakes the runner after each change commits (Runner.Wake), and
// the progress feed does when another process tells of a change over its
// LISTEN connection. So the job insert in a change's transaction sends no
// notification (on PostgreSQL a pg_notify would make the committing
// transaction take the database-wide notify lock), and River polls for
// work only as a fallback, every PollInterval, instead of many times a
// second.

// wakeDriver is River's driver with this process's wake-ups as its
// listener, and without notifications from the transactions River inserts
// jobs in for the workflow.
type wakeDriver struct {
	riverdriver.Driver[*sql.Tx]
	listener *wakeListener
}

func (d wakeDriver) SupportsListener() bool { return true }

func (d wakeDriver) GetListener(*riverdriver.GetListenenerParams) riverdriver.Listener {
	return d.listener
}

func (d wakeDriver) UnwrapExecutor(tx *sql.Tx) riverdriver.ExecutorTx {
	return quietTx{d.Driver.UnwrapExecutor(tx)}
}

// quietTx is a workflow transaction as River sees it: the insert
// notification is left out, the commit's wake-up stands in for it.
type quietTx struct{ riverdriver.ExecutorTx }

func (quietTx) NotifyMany(context.Context, *riverdriver.NotifyManyParams) error { return nil }

// wakeListener is River's listener: every wake-up is an insert
// notification for each queue, which makes the queue's producer fetch jobs
// at once (at most once per fetch cooldown). Wake-ups while one is pending
// are one.
type wakeListener struct {
	c chan struct{}
	// payloads are the queues' notifications; next is how many of them
	// the current wake-up has announced (all when none is under way).
	payloads []string
	next     int
}

func newWakeListener(queues ...string) *wakeListener {
	l := &wakeListener{c: make(chan struct{}, 1)}
	for _, q := range queues {
		l.payloads = append(l.payloads, `{"queue":"`+q+`"}`)
	}
	l.next = len(l.payloads)
	return l
}

func (l *wakeListener) wake() {
	select {
	case l.c <- struct{}{}:
	default:
	}
}

// WaitForNotification is called by River's notifier alone, one call at a
// time.
func (l *wakeListener) WaitForNotification(ctx context.Context) (*riverdriver.Notification, error) {
	if l.next == len(l.payloads) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-l.c:
			l.next = 0
		}
	}
	l.next++
	return &riverdriver.Notification{Topic: "river_insert", Payload: l.payloads[l.next-1]}, nil
}

func (l *wakeListener) Close(context.Context) error            { return nil }
func (l *wakeListener) Connect(context.Context) error          { return nil }
func (l *wakeListener) Listen(context.Context, string) error   { return nil }
func (l *wakeListener) Unlisten(context.Context, string) error { return nil }
func (l *wakeListener) Ping(context.Context) error             { return nil }
func (l *wakeListener) Schema() string                         { return "" }
func (l *wakeListener) SetAfterConnectExec(string)             {}

var (
	_ riverdriver.Driver[*sql.Tx] = wakeDriver{}
	_ riverdriver.Listener        = (*wakeListener)(nil)
)
