package jobs

import (
	"context"
	"fmt"
	"sync"
)

// Group runs the calls of jobs that are worked at the same time as fewer
// runs of one function over all their arguments, as a database commits the
// transactions that wait for the log together: a call made while no run is
// under way runs at once, alone; calls made during a run wait for it to
// end, and the first of them then runs for all that waited (at most Max).
// An idle runner adds no delay to a job, and a busy one makes one run out
// of up to Max jobs, so that work the function does once per run (reading
// what the jobs' rules need, one transaction) is shared.
//
// Run gets the arguments in the order of the calls; its error is each
// call's (a run is all or nothing; what differs per call, Run writes into
// its argument). It runs with the context of the call that leads the run,
// so a job cancelled while it leads fails the others of its run too (they
// are retried as any failed job is). Run must not call Do.
type Group[T any] struct {
	Run func(ctx context.Context, args []T) error
	// Max bounds the arguments of one run; 0 means 100.
	Max int

	mu      sync.Mutex
	running bool
	waiting []*call[T]
}

type call[T any] struct {
	arg  T
	err  error
	done chan struct{}
	// lead is set before done is closed when the call is to run for
	// those waiting instead of having been run.
	lead bool
}

// Do runs arg with the calls made at the same time and returns its error.
func (g *Group[T]) Do(ctx context.Context, arg T) error {
	c := &call[T]{arg: arg, done: make(chan struct{})}
	g.mu.Lock()
	if g.running {
		g.waiting = append(g.waiting, c)
		g.mu.Unlock()
		<-c.done
		if !c.lead {
			return c.err
		}
		return g.lead(ctx, c)
	}
	g.running = true
	g.mu.Unlock()
	return g.lead(ctx, c)
}

// lead runs c with the calls that waited before it (c is the first of
// them, or alone), then hands the run to the next call waiting, if any.
func (g *Group[T]) lead(ctx context.Context, c *call[T]) error {
	batch := []*call[T]{c}
	g.mu.Lock()
	if c.lead {
		n := min(len(g.waiting), g.max()-1)
		batch = append(batch, g.waiting[:n]...)
		g.waiting = g.waiting[n:]
	}
	g.mu.Unlock()

	args := make([]T, len(batch))
	for i, b := range batch {
		args[i] = b.arg
	}
	err := g.run(ctx, args)
	for i, b := range batch {
		b.err = err
		if i > 0 {
			close(b.done)
		}
	}

	g.mu.Lock()
	if len(g.waiting) == 0 {
		g.running = false
	} else {
		next := g.waiting[0]
		g.waiting = g.waiting[1:]
		next.lead = true
		close(next.done)
	}
	g.mu.Unlock()
	return c.err
}

// run calls Run, with a panic turned into the run's error: the calls
// waiting on the run must not wait forever.
func (g *Group[T]) run(ctx context.Context, args []T) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("jobs: group run panicked: %v", r)
		}
	}()
	return g.Run(ctx, args)
}

func (g *Group[T]) max() int {
	if g.Max > 0 {
		return g.Max
	}
	return 100
}
