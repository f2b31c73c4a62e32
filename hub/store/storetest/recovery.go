package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/store"
)

// wide is a range that holds every event of a test.
var wideSince = time.Now().Add(-time.Hour)

func wideUntil() time.Time { return time.Now().Add(time.Minute) }

// pendingTo lists the pending deliveries of eventID to subID.
func (e *env) pendingTo(eventID, subID string) int {
	e.t.Helper()
	ds, err := e.s.ListDeliveries(e.ctx, store.AllConsumers(), eventID)
	require.NoError(e.t, err)
	n := 0
	for _, d := range ds {
		if d.SubscriptionID == subID && d.Status == store.DeliveryPending {
			n++
		}
	}
	return n
}

var recoveryTests = map[string]func(*testing.T, *harness){
	"Lifecycle": func(t *testing.T, h *harness) {
		e := h.env(t)
		acme := store.Consumer("acme")
		before := e.publish() // before the subscription: never recovered
		time.Sleep(2 * time.Millisecond)
		sub := e.subscription(func(s *store.Subscription) { s.ConsumerID = "acme" })
		delivered, failed, cancelled := e.publish(), e.publish(), e.publish()
		d := e.deliveryTo(delivered.Event.ID, sub.ID)
		f := outcome(failed.Event, e.deliveryTo(failed.Event.ID, sub.ID), 500, time.Time{})
		f.Status, f.NextAttemptAt, f.Attempts[0].RetryScheduled = store.DeliveryFailed, time.Time{}, false
		require.NoError(t, e.s.RecordOutcomes(e.ctx, []store.Outcome{outcome(delivered.Event, d, 200, time.Time{}), f}))
		// Disabling cancels the pending delivery; re-enabling leaves it so.
		sub.Status, sub.DisabledReason = store.StatusDisabled, store.DisabledManual
		require.NoError(t, e.s.UpdateSubscription(e.ctx, store.AllConsumers(), sub))
		sub.Status, sub.DisabledReason = store.StatusEnabled, store.DisabledNone
		require.NoError(t, e.s.UpdateSubscription(e.ctx, store.AllConsumers(), sub))
		pending := e.publish() // its try is still to come
		e.publish(func(ev *event.Event) { ev.ConsumerID = "globex" })
		e.publish(func(ev *event.Event) { ev.EventType, ev.BaseEventType, ev.UnifiedAPI = "crm.lead.created", "", "crm" })
		e.publish(func(ev *event.Event) { ev.EventSource = event.SourceTest })

		n, err := e.s.CountRecoverable(e.ctx, acme, sub.ID, wideSince, wideUntil(), store.MaxRecoveryEvents)
		require.NoError(t, err)
		assert.Equal(t, 2, n, "the failed and the cancelled event")
		n, err = e.s.CountRecoverable(e.ctx, acme, sub.ID, wideSince, wideUntil(), 1)
		require.NoError(t, err)
		assert.Equal(t, 2, n, "counting stops at limit+1")
		n, err = e.s.CountRecoverable(e.ctx, acme, sub.ID, pending.Event.CreatedAt, wideUntil(), 10)
		require.NoError(t, err)
		assert.Zero(t, n, "the range bounds the events")
		_, err = e.s.CountRecoverable(e.ctx, store.Consumer("globex"), sub.ID, wideSince, wideUntil(), 10)
		require.ErrorIs(t, err, store.ErrNotFound)

		r := &store.Recovery{ID: store.NewID(), SubscriptionID: sub.ID, Since: wideSince, Until: wideUntil(), Total: 2}
		require.ErrorIs(t, e.s.StartRecovery(e.ctx, store.Consumer("globex"), r), store.ErrNotFound)
		require.NoError(t, e.s.StartRecovery(e.ctx, acme, r))
		assert.Equal(t, store.RecoveryRunning, r.Status)
		assert.Equal(t, "acme", r.ConsumerID)
		assert.False(t, r.Since.Before(sub.CreatedAt), "the range starts at the subscription at the earliest")
		again := &store.Recovery{ID: store.NewID(), SubscriptionID: sub.ID, Since: wideSince, Until: wideUntil()}
		require.ErrorIs(t, e.s.StartRecovery(e.ctx, store.AllConsumers(), again), store.ErrRecoveryRunning)
		_, err = e.s.GetRecovery(e.ctx, store.AllConsumers(), again.ID)
		require.ErrorIs(t, err, store.ErrNotFound, "a refused start stores nothing")
		eventually(t, func() bool { return RecoveryJobsWorked(r.ID) == 1 }, "the recovery's job not worked")

		got, err := e.s.GetRecovery(e.ctx, acme, r.ID)
		require.NoError(t, err)
		assert.Equal(t, r, got)
		_, err = e.s.GetRecovery(e.ctx, store.Consumer("globex"), r.ID)
		require.ErrorIs(t, err, store.ErrNotFound)

		done, err := e.s.RecoverBatch(e.ctx, r.ID)
		require.NoError(t, err)
		assert.Equal(t, store.RecoveryCompleted, done.Status)
		assert.Equal(t, 2, done.Done)
		assert.Equal(t, 1, e.pendingTo(failed.Event.ID, sub.ID))
		assert.Equal(t, 1, e.pendingTo(cancelled.Event.ID, sub.ID))
		assert.Equal(t, 1, e.pendingTo(pending.Event.ID, sub.ID), "a pending delivery is not doubled")
		assert.Equal(t, 0, e.pendingTo(delivered.Event.ID, sub.ID), "what succeeded is never sent again")
		ds, err := e.s.ListDeliveries(e.ctx, store.AllConsumers(), before.Event.ID)
		require.NoError(t, err)
		assert.Empty(t, ds)
		eventually(t, func() bool { return FanoutsWorked(cancelled.Event.ID) == 2 }, "the recovered delivery's fan-out not worked")

		// A finished recovery is left as it is; a new one may start.
		again2, err := e.s.RecoverBatch(e.ctx, r.ID)
		require.NoError(t, err)
		assert.Equal(t, done, again2)
		require.NoError(t, e.s.StartRecovery(e.ctx, acme, again))
	},
	"Batches": func(t *testing.T, h *harness) {
		e := h.env(t)
		sub := e.subscription(func(s *store.Subscription) {
			s.Status, s.DisabledReason = store.StatusDisabled, store.DisabledManual
		})
		// Published while it was disabled: no delivery to it at all.
		for range store.RecoveryBatch + 1 {
			e.publish()
		}
		sub.Status, sub.DisabledReason = store.StatusEnabled, store.DisabledNone
		require.NoError(t, e.s.UpdateSubscription(e.ctx, store.AllConsumers(), sub))
		r := &store.Recovery{ID: store.NewID(), SubscriptionID: sub.ID, Since: wideSince, Until: wideUntil(), Total: store.RecoveryBatch + 1}
		require.NoError(t, e.s.StartRecovery(e.ctx, store.AllConsumers(), r))

		got, err := e.s.RecoverBatch(e.ctx, r.ID)
		require.NoError(t, err)
		assert.Equal(t, store.RecoveryRunning, got.Status)
		assert.Equal(t, store.RecoveryBatch, got.Done)
		got, err = e.s.RecoverBatch(e.ctx, r.ID)
		require.NoError(t, err)
		assert.Equal(t, store.RecoveryCompleted, got.Status)
		assert.Equal(t, store.RecoveryBatch+1, got.Done)
		n, err := e.s.CountRecoverable(e.ctx, store.AllConsumers(), sub.ID, wideSince, wideUntil(), store.MaxRecoveryEvents)
		require.NoError(t, err)
		assert.Zero(t, n)
	},
	"Failures": func(t *testing.T, h *harness) {
		e := h.env(t)
		gone := e.subscription()
		e.publish()
		r := &store.Recovery{ID: store.NewID(), SubscriptionID: gone.ID, Since: wideSince, Until: wideUntil(), Total: 1}
		require.NoError(t, e.s.StartRecovery(e.ctx, store.AllConsumers(), r))
		require.NoError(t, e.s.DeleteSubscription(e.ctx, store.AllConsumers(), gone.ID))
		got, err := e.s.RecoverBatch(e.ctx, r.ID)
		require.NoError(t, err)
		assert.Equal(t, store.RecoveryFailed, got.Status)
		assert.Contains(t, got.Error, "deleted")

		sub := e.subscription()
		r = &store.Recovery{ID: store.NewID(), SubscriptionID: sub.ID, Since: wideSince, Until: wideUntil()}
		require.NoError(t, e.s.StartRecovery(e.ctx, store.AllConsumers(), r))
		require.NoError(t, e.s.FailRecovery(e.ctx, r.ID, "gave up"))
		got, err = e.s.GetRecovery(e.ctx, store.AllConsumers(), r.ID)
		require.NoError(t, err)
		assert.Equal(t, store.RecoveryFailed, got.Status)
		assert.Equal(t, "gave up", got.Error)
		_, err = e.s.RecoverBatch(e.ctx, unknownID())
		require.ErrorIs(t, err, store.ErrNotFound)
	},
}
