package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboardhq/switchboard/hub/job"
	"github.com/switchboardhq/switchboard/hub/store"
)

// Recoverer is the store's side of a bulk recovery (store.Recoveries).
type Recoverer interface {
	RecoverBatch(ctx context.Context, id string) (*store.Recovery, error)
	FailRecovery(ctx context.Context, id, reason string) error
}

// recoverWorker works a job.Recover one batch per run: each run is one
// short write transaction (store.RecoveryBatch events), then the job snoozes
// and runs again at once, so other writes get the database in between and
// a shutdown or crash loses at most the batch in flight (the cursor is
// committed with each batch's deliveries).
type recoverWorker struct {
	river.WorkerDefaults[job.Recover]
	s   *Service
	rec Recoverer
}

func (w *recoverWorker) Work(ctx context.Context, j *river.Job[job.Recover]) error {
	s, id := w.s, j.Args.RecoveryID
	r, err := w.rec.RecoverBatch(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		s.log.Warn("recovery job of a missing recovery skipped", "recovery_id", id)
		return nil
	}
	if err != nil {
		if j.Attempt >= j.MaxAttempts {
			// River discards the job after this run: mark the recovery
			// failed so it does not block new ones (409) forever.
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
			defer cancel()
			if ferr := w.rec.FailRecovery(fctx, id, "the hub could not work the recovery (database error); start a new one"); ferr != nil {
				s.log.Error("marking a recovery failed", "recovery_id", id, "error", ferr)
			}
			s.log.Error("recovery failed", "recovery_id", id, "error", err)
		}
		return fmt.Errorf("working recovery %s: %w", id, err)
	}
	switch r.Status {
	case store.RecoveryRunning:
		return river.JobSnooze(0)
	case store.RecoveryCompleted:
		s.log.Info("recovery completed", "recovery_id", r.ID, "subscription_id", r.SubscriptionID,
			"done", r.Done, "total", r.Total, "took", time.Since(r.CreatedAt).Round(time.Millisecond).String())
	default:
		s.log.Warn("recovery failed", "recovery_id", r.ID, "subscription_id", r.SubscriptionID,
			"done", r.Done, "total", r.Total, "reason", r.Error)
	}
	return nil
}
