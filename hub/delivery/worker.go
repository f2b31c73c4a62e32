package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/job"
	"github.com/switchboardhq/switchboard/hub/store"
)

// recordTimeout bounds writing a run's outcomes. It runs detached from the
// job's context so tries that were made are recorded even when a shutdown
// cancels the job mid-way.
const recordTimeout = 30 * time.Second

// Register adds the fan-out and retry workers, and the bulk recovery worker
// when the store keeps recoveries (every store.Store does). Call it before
// the queue starts (store.QueueConfig.Workers).
func (s *Service) Register(w *river.Workers) {
	river.AddWorker(w, &fanoutWorker{s: s})
	river.AddWorker(w, &retryWorker{s: s})
	if rec, ok := s.store.(Recoverer); ok {
		river.AddWorker(w, &recoverWorker{s: s, rec: rec})
	}
}

// fanoutWorker makes the first try of every delivery of one event.
type fanoutWorker struct {
	river.WorkerDefaults[job.Fanout]
	s *Service
}

// Timeout lets a run use its whole budget plus one last try and the write.
func (w *fanoutWorker) Timeout(*river.Job[job.Fanout]) time.Duration {
	return w.s.cfg.FanoutBudget + w.s.cfg.Timeout + recordTimeout
}

func (w *fanoutWorker) Work(ctx context.Context, j *river.Job[job.Fanout]) error {
	s := w.s
	ev, targets, err := s.store.FanoutTargets(ctx, j.Args.EventID)
	if errors.Is(err, store.ErrNotFound) {
		s.log.Warn("fan-out of a missing event skipped", "event_id", j.Args.EventID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("loading fan-out targets of event %s: %w", j.Args.EventID, err)
	}
	if len(targets) == 0 {
		return nil
	}
	more := len(targets) > s.cfg.FanoutChunkSize
	if more {
		targets = targets[:s.cfg.FanoutChunkSize]
	}
	outcomes, cut, err := s.deliverAll(ctx, ev, targets, time.Now().Add(s.cfg.FanoutBudget))
	if err != nil {
		return err
	}
	if err := s.recordMade(ctx, ev.ID, outcomes); err != nil {
		return err
	}
	if more || cut {
		// The rest are still untried; the same job picks them up at once
		// (a snooze does not count as a failed attempt).
		return river.JobSnooze(0)
	}
	return nil
}

// retryWorker makes the next try of one delivery.
type retryWorker struct {
	river.WorkerDefaults[job.Retry]
	s *Service
}

// Timeout is one try plus the write.
func (w *retryWorker) Timeout(*river.Job[job.Retry]) time.Duration {
	return w.s.cfg.Timeout + recordTimeout
}

func (w *retryWorker) Work(ctx context.Context, j *river.Job[job.Retry]) error {
	s := w.s
	ev, t, err := s.store.RetryTarget(ctx, j.Args.DeliveryID)
	if errors.Is(err, store.ErrNotFound) {
		s.log.Debug("retry of a missing delivery skipped", "delivery_id", j.Args.DeliveryID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("loading delivery %s: %w", j.Args.DeliveryID, err)
	}
	d := &t.Delivery
	switch {
	case d.Status != store.DeliveryPending:
		s.log.Debug("retry skipped: delivery no longer pending", "delivery_id", d.ID, "status", d.Status)
		return nil
	case d.Attempts >= j.Args.Attempt:
		// The try this job makes was recorded before the job could
		// complete (a crash in between); its successor job exists.
		s.log.Debug("retry skipped: attempt already recorded", "delivery_id", d.ID, "attempt", j.Args.Attempt, "attempts", d.Attempts)
		return nil
	}
	outcomes, cut, err := s.deliverAll(ctx, ev, []*store.Target{t}, time.Time{})
	if err != nil {
		return err
	}
	if cut {
		return river.JobSnooze(0) // shutdown: try again when the queue runs again
	}
	return s.recordMade(ctx, ev.ID, outcomes)
}

// Deliver makes one try of t now and returns its outcome without recording
// it: for callers that test an endpoint outside the queue. A subscription
// that is not enabled gets no try and a cancelled outcome without attempts.
func (s *Service) Deliver(ctx context.Context, ev *event.Event, t *store.Target) (store.Outcome, error) {
	outcomes, cut, err := s.deliverAll(ctx, ev, []*store.Target{t}, time.Time{})
	switch {
	case err != nil:
		return store.Outcome{}, err
	case cut || len(outcomes) == 0:
		return store.Outcome{}, fmt.Errorf("delivering event %s: interrupted: %w", ev.ID, context.Cause(ctx))
	}
	return outcomes[0], nil
}

// deliverAll tries every target once, at most FanoutConcurrency at a time,
// and returns the outcomes of the tries made. cut reports that some targets
// were left untried (budget spent or ctx done); they stay pending and a
// later run tries them. A target whose subscription is no longer enabled is
// not tried: its outcome is cancelled.
//
// A zero deadline means no budget: only ctx ends the run early.
func (s *Service) deliverAll(ctx context.Context, ev *event.Event, targets []*store.Target, deadline time.Time) (outcomes []store.Outcome, cut bool, err error) {
	// One encoding per attempt number and format, shared by every delivery.
	bodies := map[bodyKey][]byte{}
	for _, t := range targets {
		k := bodyKey{t.Delivery.Attempts + 1, t.Subscription.Format()}
		if _, ok := bodies[k]; !ok {
			b, err := renderBody(ev, k)
			if err != nil {
				return nil, false, err
			}
			bodies[k] = b
		}
	}

	results := make([]*store.Outcome, len(targets))
	var aborted sync.Map
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(s.cfg.FanoutConcurrency, len(targets)) {
		wg.Go(func() {
			for i := range work {
				t := targets[i]
				n := t.Delivery.Attempts + 1
				format := t.Subscription.Format()
				res := s.send(ctx, &message{
					url:        t.Subscription.DeliveryURL,
					id:         ev.ID,
					eventType:  ev.EventType,
					secrets:    s.secrets(&t.Subscription),
					body:       bodies[bodyKey{n, format}],
					format:     format,
					signingKey: t.Subscription.SigningKey,
				})
				if res.aborted {
					aborted.Store(i, true)
					continue
				}
				o := s.outcome(ev, t, n, res)
				s.observe(ev, t, &o, res)
				results[i] = &o
			}
		})
	}
feed:
	for i, t := range targets {
		if t.Subscription.Status != store.StatusEnabled {
			// Disabled or deleted (a zero Subscription) since the delivery
			// was queued: nothing more goes to it.
			results[i] = &store.Outcome{DeliveryID: t.Delivery.ID, SubscriptionID: t.Subscription.ID, Status: store.DeliveryCancelled, At: s.now()}
			continue
		}
		if t.Subscription.SecretUnreadable {
			// Nothing can be signed for it, so no request is sent; the try
			// is failed and logged with the reason, on the subscription's
			// own retry schedule, and the event's other deliveries go on.
			results[i] = s.unsignable(ev, t)
			continue
		}
		if ctx.Err() != nil || (!deadline.IsZero() && time.Now().After(deadline)) {
			cut = true
			break
		}
		select {
		case work <- i:
		case <-ctx.Done():
			cut = true
			break feed
		}
	}
	close(work)
	wg.Wait()
	aborted.Range(func(any, any) bool { cut = true; return false })

	for _, o := range results {
		if o != nil {
			outcomes = append(outcomes, *o)
		}
	}
	return outcomes, cut, nil
}

// unsignable is the outcome of a try of t whose subscription's secret did
// not open with this hub's master key: a failed attempt naming the reason.
func (s *Service) unsignable(ev *event.Event, t *store.Target) *store.Outcome {
	res := result{start: time.Now(), err: store.ErrSecretUnreadable}
	o := s.outcome(ev, t, t.Delivery.Attempts+1, res)
	s.log.Warn("delivery not sent: the subscription's signing secret cannot be opened with this master key; check SWITCHBOARD_MASTER_KEY or rotate the subscription's secret",
		"delivery_id", t.Delivery.ID, "event_id", ev.ID, "subscription_id", t.Subscription.ID)
	s.observe(ev, t, &o, res)
	return &o
}

// secrets are the ones a try is signed with: the current secret and, during
// its grace period, the previous one. A previous secret without an expiry
// no longer signs.
func (s *Service) secrets(sub *store.Subscription) []string {
	out := []string{sub.Secret}
	if sub.PreviousSecret != "" && sub.PreviousSecretExpiresAt != nil && s.now().Before(*sub.PreviousSecretExpiresAt) {
		out = append(out, sub.PreviousSecret)
	}
	return out
}

// recordMade records the outcomes of a queue job's tries, retrying a failed
// write for up to recordTimeout whatever happens to the job's context: the
// tries were made, and a job that failed now would be run again by the
// queue, sending them a second time while the first ones never reach the
// log.
func (s *Service) recordMade(ctx context.Context, eventID string, outcomes []store.Outcome) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	return s.recordUntil(rctx, eventID, outcomes)
}

// recordUntil writes outcomes, retrying a failed write at most a second
// apart until it succeeds or ctx ends. Writes fail while the database is
// unavailable (locked by another process, disk full) and work again once
// it is back.
func (s *Service) recordUntil(ctx context.Context, eventID string, outcomes []store.Outcome) error {
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		err := s.record(ctx, outcomes)
		if err == nil {
			return nil
		}
		s.log.Warn("writing delivery outcomes failed; retrying", "event_id", eventID, "error", err, "retry_in", wait)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return fmt.Errorf("%w (gave up retrying: %w)", err, context.Cause(ctx))
		}
	}
}

// record writes outcomes in one store call and counts what they did. The
// write runs to the end even if ctx is cancelled meanwhile.
func (s *Service) record(ctx context.Context, outcomes []store.Outcome) error {
	if len(outcomes) == 0 {
		return nil
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if err := s.store.RecordOutcomes(rctx, outcomes); err != nil {
		return fmt.Errorf("recording %d delivery outcomes: %w", len(outcomes), err)
	}
	for _, o := range outcomes {
		for _, ev := range o.Published {
			s.log.Info("operational event published", "event_id", ev.ID, "event_type", ev.EventType,
				"subscription_id", ev.Subject(), "consumer_id", ev.ConsumerID, "delivery_id", o.DeliveryID)
		}
	}
	m := s.cfg.Metrics
	if m == nil {
		return nil
	}
	disabled := map[string]bool{}
	for _, o := range outcomes {
		switch o.Status {
		case store.DeliveryDelivered:
			m.Deliveries.WithLabelValues("delivered").Inc()
		case store.DeliveryPending:
			m.Deliveries.WithLabelValues("retrying").Inc()
		case store.DeliveryFailed:
			m.Deliveries.WithLabelValues("failed").Inc()
		}
		if o.Disable != "" && !disabled[o.SubscriptionID] {
			disabled[o.SubscriptionID] = true
			m.SubscriptionsDisabled.WithLabelValues(o.Disable).Inc()
		}
	}
	return nil
}

// observe counts and logs one try: failures at info (they are the
// subscriber's problem, not the hub's), successes at debug.
func (s *Service) observe(ev *event.Event, t *store.Target, o *store.Outcome, res result) {
	a := &o.Attempts[0]
	if m := s.cfg.Metrics; m != nil {
		label := "success"
		switch {
		case !a.Success && a.StatusCode == 0:
			label = "error"
		case !a.Success:
			label = "failure"
		}
		m.DeliveryAttempts.WithLabelValues(label).Inc()
		m.AttemptDuration.Observe(res.duration.Seconds())
	}
	level := slog.LevelDebug
	if !a.Success {
		level = slog.LevelInfo
	}
	if !s.log.Enabled(context.Background(), level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("delivery_id", t.Delivery.ID),
		slog.String("event_id", ev.ID),
		slog.String("event_type", ev.EventType),
		slog.String("subscription_id", t.Subscription.ID),
		slog.String("endpoint", redactURL(t.Subscription.DeliveryURL)),
		slog.Int("attempt", a.ExecutionAttempt),
		slog.Int("status_code", a.StatusCode),
		slog.Int64("duration_ms", a.DurationMS),
		slog.String("state", o.Status),
	}
	if a.Error != "" {
		attrs = append(attrs, slog.String("error", a.Error))
	}
	if o.Status == store.DeliveryPending {
		attrs = append(attrs, slog.Time("next_attempt_at", o.NextAttemptAt))
	}
	if o.Disable != "" {
		attrs = append(attrs, slog.String("disable_subscription", o.Disable))
	}
	s.log.LogAttrs(context.Background(), level, "delivery attempt", attrs...)
}
