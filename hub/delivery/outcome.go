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

// failingSince is the Outcome.FailingSince of a failed try at now: a fail
// streak that started at or before it has lasted half the failure window,
// and the subscription is reported failing (once per streak). It is zero
// (no check) while the streak, as last read, is younger than that: the
// store's check is then skipped on most failures.
func (s *Service) failingSince(sub *store.Subscription, now time.Time) time.Time {
	since := now.Add(-s.cfg.FailureWindow / 2)
	if s.cfg.FailureWindow/2 > 0 && (sub.FailStreakStartedAt == nil || sub.FailStreakStartedAt.After(since)) {
		return time.Time{}
	}
	return since
}

// mayHaveNotice reports whether a subscription, as last read, may have had
// a failing or disabled event since its last success: it is in a fail
// streak, or (re-enabled, its streak reset) failed after it last succeeded.
// Only then does a success ask the store for webhook.subscription.recovered.
func mayHaveNotice(sub *store.Subscription) bool {
	if sub.FailStreak > 0 || sub.FailStreakStartedAt != nil {
		return true
	}
	return sub.LastFailedAt != nil && (sub.LastSucceededAt == nil || sub.LastSucceededAt.Before(*sub.LastFailedAt))
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
	o := store.Outcome{DeliveryID: t.Delivery.ID, SubscriptionID: sub.ID, At: now,
		// No operational event is ever made about delivering one.
		Notify: !event.IsOperational(ev.EventType)}
	switch {
	case a.Success:
		o.Status = store.DeliveryDelivered
		o.CheckRecovered = mayHaveNotice(sub)
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
			o.Exhausted = true
			if s.failingTooLong(sub, now) {
				o.Disable = store.DisabledRetryLimit
			}
		}
	}
	if !a.Success {
		o.FailingSince = s.failingSince(sub, now)
	}
	o.Attempts = []store.Attempt{a}
	return o
}
