package store

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/switchboardhq/switchboard/hub/event"
)

// PrepareTestEvent checks and normalises the event of a SendTest the same
// way for every store.
func PrepareTestEvent(ev *event.Event) error {
	if ev.ID == "" {
		return errors.New("sending a test event: no id")
	}
	if ev.CreatedAt.IsZero() {
		ev.CreatedAt = Now()
	}
	ev.CreatedAt = Time(ev.CreatedAt)
	ev.OccurredAt = Time(ev.OccurredAt)
	if len(ev.Entity) > 0 && !json.Valid(ev.Entity) {
		return fmt.Errorf("sending test event %s: entity is not valid JSON", ev.ID)
	}
	return nil
}

// CheckTestTarget is what SendTest requires of the subscription it sends
// to: enabled (a disabled one is never tried) and taking the event.
func CheckTestTarget(sub *SealedSubscription, ev *event.Event) error {
	if sub.Status != StatusEnabled {
		return fmt.Errorf("subscription %s: %w", sub.ID, ErrSubscriptionDisabled)
	}
	if !sub.Subscriber().Matches(ev) {
		return fmt.Errorf("subscription %s does not take %s events of consumer %q", sub.ID, ev.EventType, ev.ConsumerID)
	}
	return nil
}
