package workflow

import (
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

// LifecycleJob is the lifecycle sweep as an extension of the job runner
// (jobs.Extension): the runner is built before the Service it feeds, so the
// Service is attached afterwards; a sweep that runs before then does
// nothing.
type LifecycleJob struct {
	// Interval is the sweep's period; zero means
	// DefaultLifecycleSweepInterval.
	Interval time.Duration
	service  atomic.Pointer[Service]
}

// Attach gives the job the Service whose SweepLifecycle it runs.
func (j *LifecycleJob) Attach(s *Service) { j.service.Store(s) }

// Register adds the sweep's worker and returns its periodic job.
func (j *LifecycleJob) Register(workers *river.Workers) []*river.PeriodicJob {
	river.AddWorker(workers, &lifecycleWorker{j: j})
	interval := j.Interval
	if interval <= 0 {
		interval = DefaultLifecycleSweepInterval
	}
	return []*river.PeriodicJob{river.NewPeriodicJob(
		river.PeriodicInterval(interval),
		func() (river.JobArgs, *river.InsertOpts) { return LifecycleSweepArgs{}, nil },
		&river.PeriodicJobOpts{ID: "lifecycle_sweep", RunOnStart: true},
	)}
}

type lifecycleWorker struct {
	river.WorkerDefaults[LifecycleSweepArgs]
	j *LifecycleJob
}

func (w *lifecycleWorker) Work(ctx context.Context, _ *river.Job[LifecycleSweepArgs]) error {
	s := w.j.service.Load()
	if s == nil {
		return nil
	}
	_, err := s.SweepLifecycle(ctx)
	return err
}
