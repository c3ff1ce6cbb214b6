// Package testhold lets a test server keep one request waiting, after it
// has read it and before it answers, until the test lets it go: the state
// of a delivery in flight when its sender crashes.
package testhold

import (
	"sync"
	"testing"
)

// Hold is one request kept waiting.
type Hold[T any] struct {
	// Arrived receives what the server read once the request is held.
	Arrived chan T
	release chan struct{}
	once    sync.Once
}

// New returns a hold released at the latest when the test ends.
func New[T any](t testing.TB) *Hold[T] {
	h := &Hold[T]{Arrived: make(chan T, 1), release: make(chan struct{})}
	t.Cleanup(h.Release)
	return h
}

// Release lets the held request be answered (to a sender that may be
// gone). Releasing twice is harmless.
func (h *Hold[T]) Release() { h.once.Do(func() { close(h.release) }) }

// Keep is called by the server with what it read: it announces the
// arrival and waits for Release.
func (h *Hold[T]) Keep(v T) {
	h.Arrived <- v
	<-h.release
}
