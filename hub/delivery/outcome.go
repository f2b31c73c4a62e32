package delivery

import (
	"net/http"
	"time"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/store"
)

// waits returns the waits between tries for a subscription's deliveries:
// its own retry_schedule (seconds) or the configured default.
func (s *Service) waits(sub *store.Subscription) []time.Duration {
	if len(sub.RetrySchedule) == 0 {
		return s.cfg.DefaultSchedule
	}
	w := make([]time.Duration, len(sub.RetrySchedule))
	for i, sec := range sub.RetrySchedule {
		w[i] = time.Duration(max(sec, 0)) * time.Second
	}
	return w
}

// scheduledDelay is the jittered wait after failed try number tries
// (1-based), and false when that was the last try the schedule allows.
func (s *Service) scheduledDelay(waits []time.Duration, tries int) (time.Duration, bool) {
	if tries < 1 || tries > len(waits) {
		return 0, false
	}
	return s.jitter(waits[tries-1]), true
}

// jitter spreads d uniformly over d·(1±Jitter).
func (s *Service) jitter(d time.Duration) time.Duration {
	if s.cfg.Jitter == 0 || d <= 0 {
		return d
	}
	return time.Duration(float64(d) * (1 + s.cfg.Jitter*(2*s.random()-1)))
}

// failingTooLong reports whether a subscription whose delivery just ran out
// of retries has failed, without a success, for at least FailureWindow.
func (s *Service) failingTooLong(sub *store.Subscription, now time.Time) bool {
	since := now // this failure starts the streak
	if sub.FailStreakStartedAt != nil {
		since = *sub.FailStreakStartedAt
	}
	if sub.LastSucceededAt != nil && sub.LastSucceededAt.After(since) {
		since = *sub.LastSucceededAt
	}
	return now.Sub(since) >= s.cfg.FailureWindow
}

// outcome turns one try of t (its try number attempt) into the delivery's
// next state:
//   - 2xx: delivered;
//   - 410 Gone: failed, and the subscription is disabled (gone);
//   - anything else: the next try per the schedule, or after Retry-After for
//     429/503 (capped by MaxRetryAfter); with no tries left, failed, and the
//     subscription disabled (retry_limit) once it has failed for FailureWindow.
func (s *Service) outcome(ev *event.Event, t *store.Target, attempt int, res result) store.Outcome {
	now := s.now()
	sub := &t.Subscription
	a := store.Attempt{
		DeliveryID:     t.Delivery.ID,
		EventID:        ev.ID,
		EventType:      ev.EventType,
		UnifiedAPI:     ev.UnifiedAPI,
		SubscriptionID: sub.ID,
		ConsumerID:     ev.ConsumerID,
		ServiceID:      ev.ServiceID,
		Endpoint:       sub.DeliveryURL,
		// Who may read this try: the subscription's owner, not the event's.
		SubscriptionConsumerID: sub.ConsumerID,
		StatusCode:             res.status,
		Success:                res.err == nil,
		ExecutionAttempt:       attempt,
		Timestamp:              res.start,
		DurationMS:             res.duration.Milliseconds(),
		ResponseBody:           res.body,
	}
	if res.err != nil {
		a.Error = res.err.Error()
	}
	o := store.Outcome{DeliveryID: t.Delivery.ID, SubscriptionID: sub.ID, At: now}
	switch {
	case a.Success:
		o.Status = store.DeliveryDelivered
	case res.status == http.StatusGone:
		o.Status = store.DeliveryFailed
		o.Disable = store.DisabledGone
	default:
		delay, ok := s.scheduledDelay(s.waits(sub), attempt)
		switch {
		case ok:
			if res.hasRetryAfter {
				delay = min(res.retryAfter, s.cfg.MaxRetryAfter)
			}
			o.Status = store.DeliveryPending
			o.NextAttemptAt = now.Add(delay)
			a.RetryScheduled = true
		default:
			o.Status = store.DeliveryFailed
			if s.failingTooLong(sub, now) {
				o.Disable = store.DisabledRetryLimit
			}
		}
	}
	o.Attempts = []store.Attempt{a}
	return o
}
