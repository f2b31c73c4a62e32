package store

import (
	"log/slog"
	"time"

	"github.com/riverqueue/river"
)

// Queue defaults, from measurements on a 2-core machine (design.md, Stack):
// River's own defaults cap throughput and give ~1 s p99 pickup latency.
const (
	DefaultMaxWorkers        = 200
	DefaultFetchCooldown     = 20 * time.Millisecond
	DefaultFetchPollInterval = 50 * time.Millisecond
	DefaultJobTimeout        = 2 * time.Minute
	// rescueMargin is added to JobTimeout for the default RescueStuckJobsAfter.
	rescueMargin = 30 * time.Second

	// JobMaxAttempts bounds how often River re-runs a fan-out or retry job
	// whose worker returned an error. Such errors are infrastructure failures
	// (database, crash), not endpoint failures, which are recorded as outcomes
	// and retried on the subscription's schedule through new jobs.
	JobMaxAttempts = 25

	// completedJobRetention keeps finished jobs briefly (at 2,000 jobs/s an hour would be 7M rows): the delivery log is
	// the record of what happened, and a small job table keeps fetching fast.
	completedJobRetention = 10 * time.Minute
)

// WithDefaults fills zero fields with the documented defaults.
func (c QueueConfig) WithDefaults() QueueConfig {
	if c.MaxWorkers <= 0 {
		c.MaxWorkers = DefaultMaxWorkers
	}
	if c.FetchCooldown <= 0 {
		c.FetchCooldown = DefaultFetchCooldown
	}
	if c.FetchPollInterval <= 0 {
		c.FetchPollInterval = DefaultFetchPollInterval
	}
	if c.JobTimeout <= 0 {
		c.JobTimeout = DefaultJobTimeout
	}
	if c.RescueStuckJobsAfter <= 0 {
		c.RescueStuckJobsAfter = c.JobTimeout + rescueMargin
	}
	return c
}

// RiverConfig is the River client configuration both stores use, so the
// embedded and the distributed hub behave alike.
func (c QueueConfig) RiverConfig(logger *slog.Logger) *river.Config {
	c = c.WithDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &river.Config{
		Queues:                      map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: c.MaxWorkers}},
		Workers:                     c.Workers,
		FetchCooldown:               c.FetchCooldown,
		FetchPollInterval:           c.FetchPollInterval,
		JobTimeout:                  c.JobTimeout,
		RescueStuckJobsAfter:        c.RescueStuckJobsAfter,
		CompletedJobRetentionPeriod: completedJobRetention,
		MaxAttempts:                 JobMaxAttempts,
		Logger:                      logger,
	}
}

// FanoutInsertOpts are the insert options of a job.Fanout.
func FanoutInsertOpts() *river.InsertOpts {
	return &river.InsertOpts{MaxAttempts: JobMaxAttempts}
}

// RetryInsertOpts are the insert options of a job.Retry due at at. A time not
// in the future leaves ScheduledAt unset: River inserts any job with a
// ScheduledAt as "scheduled", and its scheduler only makes those available
// every few seconds, so a retry already due would wait for nothing.
func RetryInsertOpts(at time.Time) *river.InsertOpts {
	opts := &river.InsertOpts{MaxAttempts: JobMaxAttempts}
	if at.After(time.Now()) {
		opts.ScheduledAt = at
	}
	return opts
}
