package wsgorilla_test

import (
	"sync"
	"time"

	"gatehouse/resolvers/wsgorilla"
)

// manualClock is a wsgorilla.Clock that moves only when a test advances it:
// the timers due by then run, in order, on the test's goroutine. It is safe
// for concurrent use.
type manualClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*manualTimer
}

var _ wsgorilla.Clock = (*manualClock)(nil)

type manualTimer struct {
	c      *manualClock
	at     time.Time
	f      func()
	active bool // under c.mu
}

func newManualClock() *manualClock {
	return &manualClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) AfterFunc(d time.Duration, f func()) wsgorilla.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &manualTimer{c: c, at: c.now.Add(d), f: f, active: true}
	c.timers = append(c.timers, t)
	return t
}

// Timers returns how many timers are set, neither fired nor stopped.
func (c *manualClock) Timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if t.active {
			n++
		}
	}
	return n
}

// Advance moves the clock d forward and runs the timers due by then.
func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*manualTimer
	for _, t := range c.timers {
		if t.active && !t.at.After(c.now) {
			t.active = false
			due = append(due, t)
		}
	}
	c.mu.Unlock()
	for _, t := range due {
		t.f()
	}
}

func (t *manualTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.active
	t.active = false
	return was
}

func (t *manualTimer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.active
	t.at, t.active = t.c.now.Add(d), true
	return was
}
