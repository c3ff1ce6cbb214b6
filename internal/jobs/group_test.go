package jobs

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// groupScene is a Group whose runs are recorded and held until released.
type groupScene struct {
	g       Group[int]
	mu      sync.Mutex
	runs    [][]int
	hold    chan struct{} // a run waits for a receive from it when set
	started chan struct{}
	err     error
}

func newGroupScene(max int, held bool) *groupScene {
	s := &groupScene{started: make(chan struct{}, 100)}
	if held {
		s.hold = make(chan struct{})
	}
	s.g.Max = max
	s.g.Run = func(_ context.Context, args []int) error {
		s.mu.Lock()
		s.runs = append(s.runs, slices.Clone(args))
		s.mu.Unlock()
		s.started <- struct{}{}
		if s.hold != nil {
			<-s.hold
		}
		if slices.Contains(args, -1) {
			panic("bad argument")
		}
		return s.err
	}
	return s
}

func (s *groupScene) waiting() int { return s.g.Waiting() }

// start calls Do for each argument in its own goroutine, one after the
// other once the previous one waits, and returns the calls' errors.
func (s *groupScene) start(t *testing.T, args ...int) <-chan error {
	t.Helper()
	errs := make(chan error, len(args))
	for _, a := range args {
		before := s.waiting()
		go func() { errs <- s.g.Do(context.Background(), a) }()
		require.Eventually(t, func() bool { return s.waiting() == before+1 }, time.Minute, time.Millisecond)
	}
	return errs
}

func (s *groupScene) recorded() [][]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.runs)
}

// TestGroupRunsAloneWhenIdle: a call while no run is under way runs at
// once, by itself, and returns the run's error.
func TestGroupRunsAloneWhenIdle(t *testing.T) {
	t.Parallel()
	s := newGroupScene(0, false)
	require.NoError(t, s.g.Do(context.Background(), 7))
	s.err = errors.New("database down")
	require.ErrorIs(t, s.g.Do(context.Background(), 8), s.err)
	require.Equal(t, [][]int{{7}, {8}}, s.recorded())
}

// TestGroupRunsWaitingCallsTogether: the calls made during a run wait for
// it and then run as one, in the order they came, each getting that run's
// error; with Max they run in runs of at most Max.
func TestGroupRunsWaitingCallsTogether(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		max  int
		want [][]int
	}{
		{0, [][]int{{1}, {2, 3, 4, 5, 6}}},
		{2, [][]int{{1}, {2, 3}, {4, 5}, {6}}},
	} {
		s := newGroupScene(tc.max, true)
		first := make(chan error, 1)
		go func() { first <- s.g.Do(context.Background(), 1) }()
		<-s.started
		errs := s.start(t, 2, 3, 4, 5, 6)
		s.err = errors.New("conflict")
		for range len(tc.want) - 1 {
			s.hold <- struct{}{}
			<-s.started
		}
		s.hold <- struct{}{}
		require.ErrorIs(t, <-first, s.err)
		for range 5 {
			require.ErrorIs(t, <-errs, s.err)
		}
		require.Equal(t, tc.want, s.recorded())
		require.Zero(t, s.waiting())
		require.False(t, s.g.running, "the last run leaves the group idle")
	}
}

// TestGroupPanicIsEveryCallsError: a run that panics fails each of its
// calls instead of leaving the waiting ones stuck, and the group runs the
// next calls as usual.
func TestGroupPanicIsEveryCallsError(t *testing.T) {
	t.Parallel()
	s := newGroupScene(0, true)
	first := make(chan error, 1)
	go func() { first <- s.g.Do(context.Background(), 1) }()
	<-s.started
	errs := s.start(t, -1, 2)
	s.hold <- struct{}{} // the first run
	<-s.started
	s.hold <- struct{}{} // the run with -1 panics
	require.NoError(t, <-first)
	for range 2 {
		require.ErrorContains(t, <-errs, "panicked: bad argument")
	}
	s.hold = nil
	require.NoError(t, s.g.Do(context.Background(), 3))
	require.Equal(t, [][]int{{1}, {-1, 2}, {3}}, s.recorded())
}
