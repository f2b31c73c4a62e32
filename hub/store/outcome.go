package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/riverqueue/river"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/job"
)

// targetReader is what LoadRetryTarget reads through: a store's own reads.
type targetReader interface {
	GetDelivery(ctx context.Context, sc Scope, id string) (*Delivery, error)
	GetEvent(ctx context.Context, sc Scope, id string) (*event.Event, error)
	GetSubscription(ctx context.Context, sc Scope, id string) (*Subscription, error)
}

// LoadRetryTarget is Deliveries.RetryTarget as every store answers it, from
// three reads. The subscription is returned whatever its status, for the
// worker to decide; if it was deleted, Target.Subscription is zero and the
// delivery is cancelled. The worker acts for the hub, on a delivery id from
// its own job, so it reads in every consumer's scope.
func LoadRetryTarget(ctx context.Context, r targetReader, deliveryID string) (*event.Event, *Target, error) {
	all := AllConsumers()
	d, err := r.GetDelivery(ctx, all, deliveryID)
	if err != nil {
		return nil, nil, err
	}
	ev, err := r.GetEvent(ctx, all, d.EventID)
	if err != nil {
		return nil, nil, fmt.Errorf("loading delivery %s: %w", deliveryID, err)
	}
	target := &Target{Delivery: *d}
	sub, err := r.GetSubscription(ctx, all, d.SubscriptionID)
	switch {
	case err == nil:
		target.Subscription = *sub
	case !errors.Is(err, ErrNotFound):
		return nil, nil, fmt.Errorf("loading delivery %s: %w", deliveryID, err)
	}
	return ev, target, nil
}

// Followups is what a batch of recorded outcomes leads to, as every store's
// RecordOutcomes applies it in the same transaction: the subscriptions to
// disable, with the reason, and one job.Retry per pending outcome whose
// subscription stays enabled (a disabled subscription's pending deliveries
// are cancelled instead). subs[i] is outcomes[i]'s subscription and
// tries[i] its delivery's tries so far, this outcome's included.
func Followups(outcomes []Outcome, subs []string, tries []int) (disable map[string]string, retries []river.InsertManyParams) {
	disable = make(map[string]string)
	for i := range outcomes {
		if o := &outcomes[i]; o.Disable != "" {
			disable[subs[i]] = o.Disable
		}
	}
	for i := range outcomes {
		o := &outcomes[i]
		if _, off := disable[subs[i]]; off || o.Status != DeliveryPending {
			continue
		}
		retries = append(retries, river.InsertManyParams{
			Args:       job.Retry{DeliveryID: o.DeliveryID, Attempt: tries[i] + 1},
			InsertOpts: RetryInsertOpts(o.NextAttemptAt),
		})
	}
	return disable, retries
}
