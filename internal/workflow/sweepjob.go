package workflow

import (
	"cmp"
	"context"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// DefaultLifecycleSweepInterval is how often the lifecycle sweep runs when
// the configuration does not say: reminders and escalations are counted in
// hours, so a minute late is on time.
const DefaultLifecycleSweepInterval = time.Minute

// LifecycleSweepArgs is the periodic job that applies the lifecycle
// policies (Service.SweepLifecycle).
type LifecycleSweepArgs struct{}

// Kind implements river.JobArgs.
func (LifecycleSweepArgs) Kind() string { return "lifecycle_sweep" }

// InsertOpts implements river.JobArgsWithInsertOpts: one sweep waits or
// runs at a time, and a failed one is not retried (the next period runs
// it again).
func (LifecycleSweepArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		MaxAttempts: 1,
		UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{
			rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
			rivertype.JobStateRetryable, rivertype.JobStateScheduled,
		}},
	}
}

// NewLifecycleJob returns the periodic job that runs SweepLifecycle every
// interval (zero: DefaultLifecycleSweepInterval) and at start.
func NewLifecycleJob(interval time.Duration) *SweepJob[LifecycleSweepArgs] {
	return &SweepJob[LifecycleSweepArgs]{
		id: "lifecycle_sweep", interval: cmp.Or(interval, DefaultLifecycleSweepInterval),
		run: func(ctx context.Context, s *Service) error {
			_, err := s.SweepLifecycle(ctx)
			return err
		},
	}
}

// SweepJob is a periodic sweep of the Service as an extension of the job
// runner (jobs.Extension), run every interval and once at start. The runner
// is built before the Service it feeds, so the Service is attached
// afterwards; a sweep that runs before then does nothing.
type SweepJob[A river.JobArgs] struct {
	id       string
	interval time.Duration
	run      func(context.Context, *Service) error
	service  atomic.Pointer[Service]
}

// Attach gives the job the Service it sweeps.
func (j *SweepJob[A]) Attach(s *Service) { j.service.Store(s) }

// Register adds the sweep's worker and returns its periodic job.
func (j *SweepJob[A]) Register(workers *river.Workers) []*river.PeriodicJob {
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, _ *river.Job[A]) error {
		s := j.service.Load()
		if s == nil {
			return nil
		}
		return j.run(ctx, s)
	}))
	return []*river.PeriodicJob{river.NewPeriodicJob(
		river.PeriodicInterval(j.interval),
		func() (river.JobArgs, *river.InsertOpts) { var a A; return a, nil },
		&river.PeriodicJobOpts{ID: j.id, RunOnStart: true},
	)}
}
