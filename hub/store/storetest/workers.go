package storetest

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboardhq/switchboard/hub/job"
)

// Workers returns River workers for job.Fanout, job.Retry and job.Recover
// that do nothing
// but record that they ran. Start the queue of every store handed to Run
// with them: the suite checks through them that the jobs a store inserts
// inside its transactions really reach River and get worked.
//
// The record is process-wide and keyed by event and delivery id, which are
// unique UUIDv7s, so stores opened by parallel tests never see each other's
// jobs.
func Workers() *river.Workers {
	workers := river.NewWorkers()
	river.AddWorker(workers, river.WorkFunc(func(_ context.Context, j *river.Job[job.Fanout]) error {
		worked.fanout(j.Args.EventID)
		return nil
	}))
	river.AddWorker(workers, river.WorkFunc(func(_ context.Context, j *river.Job[job.Retry]) error {
		worked.retry(j.Args)
		return nil
	}))
	river.AddWorker(workers, river.WorkFunc(func(_ context.Context, j *river.Job[job.Recover]) error {
		worked.recovery(j.Args.RecoveryID)
		return nil
	}))
	river.AddWorker(workers, river.WorkFunc(func(_ context.Context, j *river.Job[job.Poll]) error {
		// Keyed by connection id; snoozing keeps the one job scheduled, as
		// the hub's poll worker does between polls.
		worked.recovery("poll:" + j.Args.ConnectionID)
		return river.JobSnooze(time.Hour)
	}))
	return workers
}

// PollJobsWorked reports how many runs of job.Poll for connectionID
// have started.
func PollJobsWorked(connectionID string) int { return worked.recoveries("poll:" + connectionID) }

// FanoutsWorked reports how many job.Fanout jobs for eventID have run.
func FanoutsWorked(eventID string) int { return worked.fanouts(eventID) }

// RetriesWorked reports the Attempt numbers of the job.Retry jobs that have
// run for deliveryID, in the order they ran.
func RetriesWorked(deliveryID string) []int { return worked.retries(deliveryID) }

// RecoveryJobsWorked reports how many job.Recover jobs for recoveryID have
// run. The suite drives a recovery's batches itself (RecoverBatch); the
// worker only proves StartRecovery's job reaches River.
func RecoveryJobsWorked(recoveryID string) int { return worked.recoveries(recoveryID) }

var worked = &record{byEvent: map[string]int{}, byDelivery: map[string][]int{}, byRecovery: map[string]int{}}

type record struct {
	mu         sync.Mutex
	byEvent    map[string]int
	byDelivery map[string][]int
	byRecovery map[string]int
}

func (r *record) recovery(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byRecovery[id]++
}

func (r *record) recoveries(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byRecovery[id]
}

func (r *record) fanout(eventID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byEvent[eventID]++
}

func (r *record) retry(args job.Retry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byDelivery[args.DeliveryID] = append(r.byDelivery[args.DeliveryID], args.Attempt)
}

func (r *record) fanouts(eventID string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byEvent[eventID]
}

func (r *record) retries(deliveryID string) []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.byDelivery[deliveryID])
}
