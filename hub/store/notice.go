package store

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/switchboardhq/switchboard/hub/event"
)

// NoticeTx is what RecordNotices needs of a store's write transaction, in
// which the outcomes' health was just recorded (so their subscriptions'
// rows are locked on PostgreSQL, and a second node deciding the same
// transition waits and then finds it taken).
type NoticeTx interface {
	// ClaimFailing records that the failing event of subID's current fail
	// streak is sent, if its streak started at or before since and no
	// failing event was sent for this streak; it reports whether it did.
	ClaimFailing(ctx context.Context, subID string, since time.Time) (bool, error)
	// ClaimRecovered clears subID's open notice (a failing or disabled
	// event since its last success) and reports whether there was one.
	ClaimRecovered(ctx context.Context, subID string) (bool, error)
	// OpenNotice marks that a disabled event was sent for subID.
	OpenNotice(ctx context.Context, subID string) error
	// Subscription reads subID as it now stands in the transaction.
	Subscription(ctx context.Context, subID string) (*SealedSubscription, error)
	// Publish stores ev with its deliveries and fan-out job, as PublishEvent
	// does, in the transaction.
	Publish(ctx context.Context, ev *event.Event) error
}

// RecordNotices publishes, in the transaction that recorded outcomes, the
// operational events they lead to (api.md "Operations"):
//   - webhook.subscription.recovered on a success that ends a streak a
//     failing or disabled event was sent for (CheckRecovered);
//   - webhook.subscription.failing once per fail streak, on a failure once
//     the streak started at or before FailingSince;
//   - webhook.delivery.exhausted for a delivery out of retries (Exhausted);
//   - webhook.subscription.disabled, with the reason, for a subscription
//     these outcomes disabled while it was enabled (disabled holds the
//     subscriptions disabled with their reason, wasEnabled says which of
//     them were enabled before).
//
// An outcome without Notify (the delivery of an operational event) leads
// to none: a success still clears the open notice, silently. subs[i] and
// tries[i] are outcomes[i]'s subscription and its delivery's tries so far.
func RecordNotices(ctx context.Context, tx NoticeTx, outcomes []Outcome, subs []string, tries []int,
	disabled map[string]string, wasEnabled map[string]bool, now time.Time,
) error {
	publish := func(o *Outcome, ev *event.Event) error {
		if err := tx.Publish(ctx, ev); err != nil {
			return fmt.Errorf("publishing %s about subscription %s: %w", ev.EventType, ev.Subject(), err)
		}
		o.Published = append(o.Published, ev)
		return nil
	}
	subEvent := func(typ, subID, reason string) (*event.Event, error) {
		sub, err := tx.Subscription(ctx, subID)
		if err != nil {
			return nil, fmt.Errorf("reading subscription %s for %s: %w", subID, typ, err)
		}
		return SubscriptionNotice(typ, &sub.Subscription, reason, now)
	}
	notifyDisable := make(map[string]*Outcome)
	due := false
	for i := range outcomes {
		o := &outcomes[i]
		o.Published = nil
		due = due || o.CheckRecovered || !o.FailingSince.IsZero() || o.Exhausted || o.Disable != ""
	}
	if !due {
		return nil // the common case: healthy successes, young streaks
	}
	// In subscription id order, the order PostgreSQL locks them in.
	order := make([]int, len(outcomes))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(subs[a], subs[b]) })
	for _, i := range order {
		o := &outcomes[i]
		if len(o.Attempts) == 0 {
			continue
		}
		sub := subs[i]
		if o.Disable != "" && o.Notify {
			notifyDisable[sub] = o
		}
		switch {
		case o.Status == DeliveryDelivered && o.CheckRecovered:
			ok, err := tx.ClaimRecovered(ctx, sub)
			if err != nil {
				return err
			}
			if ok && o.Notify {
				ev, err := subEvent(event.SubscriptionRecovered, sub, "")
				if err != nil {
					return err
				}
				if err := publish(o, ev); err != nil {
					return err
				}
			}
		case o.Status != DeliveryDelivered && o.Notify && !o.FailingSince.IsZero():
			ok, err := tx.ClaimFailing(ctx, sub, o.FailingSince)
			if err != nil {
				return err
			}
			if ok {
				ev, err := subEvent(event.SubscriptionFailing, sub, "")
				if err != nil {
					return err
				}
				if err := publish(o, ev); err != nil {
					return err
				}
			}
		}
		if o.Exhausted && o.Notify {
			if err := publish(o, exhaustedNotice(o, sub, tries[i], now)); err != nil {
				return err
			}
		}
	}
	for _, sub := range slices.Sorted(maps.Keys(disabled)) {
		o := notifyDisable[sub]
		if o == nil || !wasEnabled[sub] {
			continue
		}
		if err := tx.OpenNotice(ctx, sub); err != nil {
			return err
		}
		ev, err := subEvent(event.SubscriptionDisabled, sub, DisabledReasonText(disabled[sub]))
		if err != nil {
			return err
		}
		if err := publish(o, ev); err != nil {
			return err
		}
	}
	return nil
}

// DisabledReasonText explains a disabled_reason in the reason field of
// webhook.subscription.disabled.
func DisabledReasonText(reason string) string {
	switch reason {
	case DisabledRetryLimit:
		return "retry_limit: it kept failing for the whole failure window and a delivery ran out of retries"
	case DisabledGone:
		return "gone: the endpoint answered 410 Gone"
	}
	return reason
}

// subscriptionEntity is the entity of webhook.subscription.* events
// (catalog schema subscription.json). No secret is in it.
type subscriptionEntity struct {
	ID                  string     `json:"id"`
	Description         string     `json:"description"`
	UnifiedAPI          string     `json:"unified_api"`
	Status              string     `json:"status"`
	DisabledReason      string     `json:"disabled_reason"`
	DeliveryURL         string     `json:"delivery_url"`
	ConsumerID          *string    `json:"consumer_id"`
	Events              []string   `json:"events"`
	FailStreak          int        `json:"fail_streak"`
	FailStreakStartedAt *time.Time `json:"fail_streak_started_at"`
	LastFailedAt        *time.Time `json:"last_failed_at"`
	Reason              string     `json:"reason,omitempty"`
	CreatedAt           time.Time  `json:"created_at"`
	UpdatedAt           time.Time  `json:"updated_at"`
}

// SubscriptionNotice builds a webhook.subscription.* event about sub. It
// belongs to sub's consumer, so it reaches only that consumer's and the
// application's subscriptions.
func SubscriptionNotice(typ string, sub *Subscription, reason string, now time.Time) (*event.Event, error) {
	e := subscriptionEntity{
		ID: sub.ID, Description: sub.Description, UnifiedAPI: sub.UnifiedAPI, Status: sub.Status,
		DisabledReason: sub.DisabledReason, DeliveryURL: sub.DeliveryURL, Events: sub.Events,
		FailStreak: sub.FailStreak, FailStreakStartedAt: sub.FailStreakStartedAt, LastFailedAt: sub.LastFailedAt,
		Reason: reason, CreatedAt: sub.CreatedAt, UpdatedAt: sub.UpdatedAt,
	}
	if e.DisabledReason == "" {
		e.DisabledReason = DisabledNone
	}
	if sub.ConsumerID != "" {
		e.ConsumerID = &sub.ConsumerID
	}
	if e.Events == nil {
		e.Events = []string{}
	}
	entity, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encoding %s about subscription %s: %w", typ, sub.ID, err)
	}
	return notice(typ, sub.ConsumerID, "subscription", sub.ID, entity, now), nil
}

// exhaustedNotice builds the webhook.delivery.exhausted event of o, whose
// delivery to subID was tried tries times. It belongs to the consumer of
// the subscription (Attempt.SubscriptionConsumerID), not of the event.
func exhaustedNotice(o *Outcome, subID string, tries int, now time.Time) *event.Event {
	last := o.Attempts[len(o.Attempts)-1]
	e := map[string]any{
		"id":               o.DeliveryID,
		"event_id":         last.EventID,
		"event_type":       last.EventType,
		"subscription_id":  subID,
		"consumer_id":      last.ConsumerID,
		"attempts":         tries,
		"last_status_code": last.StatusCode,
		"last_error":       last.Error,
		"updated_at":       o.At,
	}
	entity, _ := json.Marshal(e) // strings, ints and a time: cannot fail
	return notice(event.DeliveryExhausted, last.SubscriptionConsumerID, "delivery", o.DeliveryID, entity, now)
}

func notice(typ, consumerID, entityType, entityID string, entity json.RawMessage, now time.Time) *event.Event {
	return &event.Event{
		ID:          NewID(),
		EventType:   typ,
		UnifiedAPI:  event.OpsAPI,
		ServiceID:   NoticeServiceID,
		ConsumerID:  consumerID,
		EntityID:    entityID,
		EntityType:  entityType,
		EventSource: event.SourceHub,
		OccurredAt:  Time(now),
		CreatedAt:   Time(now),
		Entity:      entity,
	}
}

// NoticeServiceID is the service_id of operational events: the hub itself.
const NoticeServiceID = "switchboard"
