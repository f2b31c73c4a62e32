package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/store"
)

var deliveryTests = map[string]func(*testing.T, *harness){
	"FanoutTargets": func(t *testing.T, h *harness) {
		e := h.env(t)
		a := e.subscription()
		b := e.subscription(func(s *store.Subscription) { s.RetrySchedule = []int{1, 2, 3} })
		res := e.publish()

		ev, targets, err := e.s.FanoutTargets(e.ctx, res.Event.ID)
		require.NoError(t, err)
		requireSameEvent(t, res.Event, ev)
		require.Len(t, targets, 2)
		bySub := map[string]*store.Target{}
		for _, tg := range targets {
			bySub[tg.Subscription.ID] = tg
			assert.Equal(t, tg.Subscription.ID, tg.Delivery.SubscriptionID)
			assert.Equal(t, res.Event.ID, tg.Delivery.EventID)
			assert.Equal(t, store.DeliveryPending, tg.Delivery.Status)
		}
		require.Contains(t, bySub, a.ID)
		require.Contains(t, bySub, b.ID)
		assert.Equal(t, *a, bySub[a.ID].Subscription, "subscription with its secret opened")
		assert.Equal(t, *b, bySub[b.ID].Subscription)

		// A tried delivery is the retry worker's, and a disabled
		// subscription gets nothing more.
		d := bySub[a.ID].Delivery
		require.NoError(t, e.s.RecordOutcomes(e.ctx, []store.Outcome{outcome(ev, &d, 503, time.Now().Add(time.Hour))}))
		_, targets, err = e.s.FanoutTargets(e.ctx, res.Event.ID)
		require.NoError(t, err)
		require.Len(t, targets, 1)
		assert.Equal(t, b.ID, targets[0].Subscription.ID)

		b.Status, b.DisabledReason = store.StatusDisabled, store.DisabledManual
		require.NoError(t, e.s.UpdateSubscription(e.ctx, store.AllConsumers(), b))
		_, targets, err = e.s.FanoutTargets(e.ctx, res.Event.ID)
		require.NoError(t, err)
		assert.Empty(t, targets)

		_, _, err = e.s.FanoutTargets(e.ctx, unknownID())
		require.ErrorIs(t, err, store.ErrNotFound)
	},
	"RetryTarget": func(t *testing.T, h *harness) {
		e := h.env(t)
		sub := e.subscription()
		res := e.publish()
		d := e.deliveryTo(res.Event.ID, sub.ID)

		ev, target, err := e.s.RetryTarget(e.ctx, d.ID)
		require.NoError(t, err)
		requireSameEvent(t, res.Event, ev)
		assert.Equal(t, *d, target.Delivery)
		assert.Equal(t, *sub, target.Subscription)

		// Disabled: still returned, the worker decides.
		sub.Status, sub.DisabledReason = store.StatusDisabled, store.DisabledManual
		require.NoError(t, e.s.UpdateSubscription(e.ctx, store.AllConsumers(), sub))
		_, target, err = e.s.RetryTarget(e.ctx, d.ID)
		require.NoError(t, err)
		assert.Equal(t, sub.ID, target.Subscription.ID)
		assert.Equal(t, store.StatusDisabled, target.Subscription.Status)
		assert.Equal(t, store.DeliveryCancelled, target.Delivery.Status)

		// Deleted: the delivery without a subscription.
		require.NoError(t, e.s.DeleteSubscription(e.ctx, store.AllConsumers(), sub.ID))
		ev, target, err = e.s.RetryTarget(e.ctx, d.ID)
		require.NoError(t, err)
		assert.Equal(t, res.Event.ID, ev.ID)
		assert.Equal(t, d.ID, target.Delivery.ID)
		assert.Equal(t, store.DeliveryCancelled, target.Delivery.Status)
		assert.Equal(t, store.Subscription{}, target.Subscription)

		_, _, err = e.s.RetryTarget(e.ctx, unknownID())
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = e.s.GetDelivery(e.ctx, store.AllConsumers(), unknownID())
		require.ErrorIs(t, err, store.ErrNotFound)
	},
	"RecordCancelledWithoutTry": func(t *testing.T, h *harness) {
		e := h.env(t)
		started := store.Time(time.Now().Add(-time.Hour))
		sub := e.subscription(func(s *store.Subscription) { s.FailStreak, s.FailStreakStartedAt = 2, &started })
		res := e.publish()
		d := e.deliveryTo(res.Event.ID, sub.ID)
		require.NoError(t, e.s.RecordOutcomes(e.ctx, []store.Outcome{{
			DeliveryID: d.ID, SubscriptionID: sub.ID, Status: store.DeliveryCancelled, At: store.Now(),
		}}))
		got, err := e.s.GetDelivery(e.ctx, store.AllConsumers(), d.ID)
		require.NoError(t, err)
		assert.Equal(t, store.DeliveryCancelled, got.Status)
		assert.Zero(t, got.Attempts)
		health, err := e.s.GetSubscription(e.ctx, store.AllConsumers(), sub.ID)
		require.NoError(t, err)
		assert.Equal(t, 2, health.FailStreak, "no try, no change of health")
		sameTime(t, started, health.FailStreakStartedAt, "FailStreakStartedAt")
		logged, err := e.s.ListAttempts(e.ctx, store.AllConsumers(), store.AttemptFilter{EventID: res.Event.ID}, store.Page{})
		require.NoError(t, err)
		assert.Empty(t, logged)
	},
	"RecordDelivered": func(t *testing.T, h *harness) {
		e := h.env(t)
		started := store.Time(time.Now().Add(-time.Hour))
		sub := e.subscription(func(s *store.Subscription) {
			s.FailStreak, s.FailStreakStartedAt, s.LastFailedAt = 4, &started, &started
		})
		res := e.publish()
		d := e.deliveryTo(res.Event.ID, sub.ID)

		o := outcome(res.Event, d, 204, time.Time{})
		require.NoError(t, e.s.RecordOutcomes(e.ctx, []store.Outcome{o}))

		got, err := e.s.GetDelivery(e.ctx, store.AllConsumers(), d.ID)
		require.NoError(t, err)
		assert.Equal(t, store.DeliveryDelivered, got.Status)
		assert.Equal(t, 1, got.Attempts)
		assert.Nil(t, got.NextAttemptAt)
		assert.False(t, got.UpdatedAt.Before(d.UpdatedAt))

		health, err := e.s.GetSubscription(e.ctx, store.AllConsumers(), sub.ID)
		require.NoError(t, err)
		assert.Zero(t, health.FailStreak, "success resets the streak")
		assert.Nil(t, health.FailStreakStartedAt)
		sameTime(t, o.At, health.LastSucceededAt, "LastSucceededAt")
		sameTime(t, started, health.LastFailedAt, "LastFailedAt kept")
		assert.Equal(t, store.StatusEnabled, health.Status)

		logged, err := e.s.ListAttempts(e.ctx, store.AllConsumers(), store.AttemptFilter{EventID: res.Event.ID}, store.Page{})
		require.NoError(t, err)
		require.Len(t, logged, 1)
		assert.Equal(t, o.Attempts[0], *logged[0], "attempt round trip")
	},
	"SuccessWritesHealthOnlyWhenItMatters": func(t *testing.T, h *harness) {
		e := h.env(t)
		sub := e.subscription()
		t0 := store.Time(time.Now().Add(-time.Hour))
		record := func(status int, at time.Time) {
			t.Helper()
			res := e.publish()
			o := outcome(res.Event, e.deliveryTo(res.Event.ID, sub.ID), status, time.Now().Add(time.Hour))
			o.At = at
			require.NoError(t, e.s.RecordOutcomes(e.ctx, []store.Outcome{o}))
		}
		health := func() *store.Subscription {
			t.Helper()
			got, err := e.s.GetSubscription(e.ctx, store.AllConsumers(), sub.ID)
			require.NoError(t, err)
			return got
		}

		record(204, t0)
		sameTime(t, t0, health().LastSucceededAt, "first success")
		record(204, t0.Add(store.SuccessResolution/2))
		sameTime(t, t0, health().LastSucceededAt, "a success within the resolution leaves the row alone")

		record(500, t0.Add(store.SuccessResolution*3/4))
		require.Equal(t, 1, health().FailStreak)
		ended := t0.Add(store.SuccessResolution * 7 / 8)
		record(204, ended)
		got := health()
		assert.Zero(t, got.FailStreak, "a success within the resolution still ends a fail streak")
		assert.Nil(t, got.FailStreakStartedAt)
		sameTime(t, ended, got.LastSucceededAt, "the success that ended the streak")

		later := ended.Add(store.SuccessResolution + time.Millisecond)
		record(204, later)
		sameTime(t, later, health().LastSucceededAt, "a success past the resolution")
	},
	"OutcomeNamingAnotherSubscriptionIsRefused": func(t *testing.T, h *harness) {
		e := h.env(t)
		sub, other := e.subscription(), e.subscription()
		res := e.publish()
		d := e.deliveryTo(res.Event.ID, sub.ID)
		o := outcome(res.Event, d, 204, time.Time{})
		o.SubscriptionID = other.ID
		err := e.s.RecordOutcomes(e.ctx, []store.Outcome{o})
		require.Error(t, err)
		assert.Contains(t, err.Error(), other.ID)
		got, err := e.s.GetDelivery(e.ctx, store.AllConsumers(), d.ID)
		require.NoError(t, err)
		assert.Equal(t, store.DeliveryPending, got.Status, "nothing written")
		logged, err := e.s.ListAttempts(e.ctx, store.AllConsumers(), store.AttemptFilter{EventID: res.Event.ID}, store.Page{})
		require.NoError(t, err)
		assert.Empty(t, logged)
	},
	"RecordPendingQueuesRetry": func(t *testing.T, h *harness) {
		e := h.env(t)
		sub := e.subscription()
		res := e.publish()
		d := e.deliveryTo(res.Event.ID, sub.ID)

		// Due now: River runs the retry job at once.
		o := outcome(res.Event, d, 500, time.Now().Add(-time.Second))
		require.NoError(t, e.s.RecordOutcomes(e.ctx, []store.Outcome{o}))
		got, err := e.s.GetDelivery(e.ctx, store.AllConsumers(), d.ID)
		require.NoError(t, err)
		assert.Equal(t, store.DeliveryPending, got.Status)
		assert.Equal(t, 1, got.Attempts)
		sameTime(t, o.NextAttemptAt, got.NextAttemptAt, "NextAttemptAt")
		eventually(t, func() bool { return len(RetriesWorked(d.ID)) == 1 }, "retry job of delivery %s not worked", d.ID)
		assert.Equal(t, []int{2}, RetriesWorked(d.ID), "the retry makes try 2")

		health, err := e.s.GetSubscription(e.ctx, store.AllConsumers(), sub.ID)
		require.NoError(t, err)
		assert.Equal(t, 1, health.FailStreak)
		sameTime(t, o.At, health.FailStreakStartedAt, "FailStreakStartedAt")
		sameTime(t, o.At, health.LastFailedAt, "LastFailedAt")
		assert.Nil(t, health.LastSucceededAt)

		// The second failure extends the streak from the same start.
		o2 := outcome(res.Event, got, 502, time.Now().Add(-time.Second))
		o2.At = store.Time(o.At.Add(time.Minute))
		require.NoError(t, e.s.RecordOutcomes(e.ctx, []store.Outcome{o2}))
		eventually(t, func() bool { return len(RetriesWorked(d.ID)) == 2 }, "second retry job not worked")
		assert.Equal(t, []int{2, 3}, RetriesWorked(d.ID))
		health, err = e.s.GetSubscription(e.ctx, store.AllConsumers(), sub.ID)
		require.NoError(t, err)
		assert.Equal(t, 2, health.FailStreak)
		sameTime(t, o.At, health.FailStreakStartedAt, "FailStreakStartedAt unchanged")
		sameTime(t, o2.At, health.LastFailedAt, "LastFailedAt")

		logged, err := e.s.ListAttempts(e.ctx, store.AllConsumers(), store.AttemptFilter{SubscriptionID: sub.ID}, store.Page{})
		require.NoError(t, err)
		require.Len(t, logged, 2)
		assert.True(t, logged[0].RetryScheduled)
		assert.False(t, logged[0].Success)
		assert.Equal(t, 2, logged[0].ExecutionAttempt, "newest first")
	},
	"RecordFailedAndDisable": func(t *testing.T, h *harness) {
		for _, reason := range []string{store.DisabledGone, store.DisabledRetryLimit} {
			t.Run(reason, func(t *testing.T) {
				t.Parallel()
				e := h.env(t)
				sub := e.subscription()
				other := e.subscription()
				first := e.publish()
				second := e.publish()
				d := e.deliveryTo(first.Event.ID, sub.ID)

				status := 410
				if reason == store.DisabledRetryLimit {
					status = 500
				}
				o := outcome(first.Event, d, status, time.Time{})
				o.Status, o.NextAttemptAt, o.Disable = store.DeliveryFailed, time.Time{}, reason
				o.Attempts[0].RetryScheduled = false
				require.NoError(t, e.s.RecordOutcomes(e.ctx, []store.Outcome{o}))

				got, err := e.s.GetDelivery(e.ctx, store.AllConsumers(), d.ID)
				require.NoError(t, err)
				assert.Equal(t, store.DeliveryFailed, got.Status)
				assert.Equal(t, 1, got.Attempts)
				assert.Equal(t, store.DeliveryCancelled, e.deliveryTo(second.Event.ID, sub.ID).Status, "other pending deliveries cancelled")
				assert.Equal(t, store.DeliveryPending, e.deliveryTo(second.Event.ID, other.ID).Status, "other subscriptions untouched")

				disabled, err := e.s.GetSubscription(e.ctx, store.AllConsumers(), sub.ID)
				require.NoError(t, err)
				assert.Equal(t, store.StatusDisabled, disabled.Status)
				assert.Equal(t, reason, disabled.DisabledReason)
				assert.Equal(t, 1, disabled.FailStreak)
				sameTime(t, o.At, disabled.LastFailedAt, "LastFailedAt")

				// A disabled subscription receives no new events.
				third := e.publish()
				assert.Equal(t, 1, third.Deliveries)
				e.deliveryTo(third.Event.ID, other.ID)
			})
		}
	},
	"RecordBatch": func(t *testing.T, h *harness) {
		e := h.env(t)
		ok := e.subscription()
		failing := e.subscription()
		gone := e.subscription()
		res := e.publish()
		later := store.Time(time.Now().Add(time.Hour))

		dOK := e.deliveryTo(res.Event.ID, ok.ID)
		dFail := e.deliveryTo(res.Event.ID, failing.ID)
		dGone := e.deliveryTo(res.Event.ID, gone.ID)
		goneOutcome := outcome(res.Event, dGone, 410, time.Time{})
		goneOutcome.Status, goneOutcome.NextAttemptAt, goneOutcome.Disable = store.DeliveryFailed, time.Time{}, store.DisabledGone
		require.NoError(t, e.s.RecordOutcomes(e.ctx, []store.Outcome{
			outcome(res.Event, dOK, 200, time.Time{}),
			outcome(res.Event, dFail, 500, later),
			goneOutcome,
		}))
		want := map[string]string{dOK.ID: store.DeliveryDelivered, dFail.ID: store.DeliveryPending, dGone.ID: store.DeliveryFailed}
		ds, err := e.s.ListDeliveries(e.ctx, store.AllConsumers(), res.Event.ID)
		require.NoError(t, err)
		for _, d := range ds {
			assert.Equal(t, want[d.ID], d.Status, "delivery to %s", d.SubscriptionID)
			assert.Equal(t, 1, d.Attempts)
		}
		logged, err := e.s.ListAttempts(e.ctx, store.AllConsumers(), store.AttemptFilter{EventID: res.Event.ID}, store.Page{})
		require.NoError(t, err)
		assert.Len(t, logged, 3)
		eventually(t, func() bool {
			stats, err := e.s.QueueStats(e.ctx)
			return err == nil && stats.Pending == 1
		}, "the scheduled retry is the one pending job")
	},
	"RecordErrors": func(t *testing.T, h *harness) {
		e := h.env(t)
		sub := e.subscription()
		res := e.publish()
		d := e.deliveryTo(res.Event.ID, sub.ID)
		unknown := *d
		unknown.ID = unknownID()
		err := e.s.RecordOutcomes(e.ctx, []store.Outcome{
			outcome(res.Event, d, 200, time.Time{}),
			outcome(res.Event, &unknown, 200, time.Time{}),
		})
		require.ErrorIs(t, err, store.ErrNotFound)
		got, err := e.s.GetDelivery(e.ctx, store.AllConsumers(), d.ID)
		require.NoError(t, err)
		assert.Equal(t, store.DeliveryPending, got.Status, "nothing of a failed batch is written")
		logged, err := e.s.ListAttempts(e.ctx, store.AllConsumers(), store.AttemptFilter{}, store.Page{})
		require.NoError(t, err)
		assert.Empty(t, logged)

		require.NoError(t, e.s.RecordOutcomes(e.ctx, nil), "an empty batch is fine")
	},
	"ListAttemptsFilters": func(t *testing.T, h *harness) {
		e := h.env(t)
		subA := e.subscription()
		subB := e.subscription(func(s *store.Subscription) { s.UnifiedAPI = "*" })
		paid := e.publish()
		vplan := e.publish(func(ev *event.Event) {
			ev.ServiceID, ev.ConsumerID, ev.UnifiedAPI, ev.EventType, ev.BaseEventType = "vplan", "globex", "issue-tracking", "issue-tracking.ticket.created", ""
		})
		require.Equal(t, 1, vplan.Deliveries, "only the any-API subscription")

		var all []store.Outcome
		add := func(ev *event.Event, sub *store.Subscription, status int) string {
			d := e.deliveryTo(ev.ID, sub.ID)
			o := outcome(ev, d, status, time.Now().Add(time.Hour))
			require.NoError(t, e.s.RecordOutcomes(e.ctx, []store.Outcome{o}))
			all = append(all, o)
			return o.Attempts[0].ID
		}
		a1 := add(paid.Event, subA, 500)  // acme, dversum, failure
		b1 := add(paid.Event, subB, 200)  // acme, dversum, success
		b2 := add(vplan.Event, subB, 503) // globex, vplan, failure
		a2 := add(paid.Event, subA, 200)  // second try of a1's delivery
		yes, no := true, false
		for name, tc := range map[string]struct {
			filter store.AttemptFilter
			want   []string // newest first
		}{
			"none":         {store.AttemptFilter{}, []string{a2, b2, b1, a1}},
			"success":      {store.AttemptFilter{Success: &yes}, []string{a2, b1}},
			"failure":      {store.AttemptFilter{Success: &no}, []string{b2, a1}},
			"event type":   {store.AttemptFilter{EventType: "accounting.invoice.paid"}, []string{a2, b1, a1}},
			"consumer":     {store.AttemptFilter{ConsumerID: "globex"}, []string{b2}},
			"service":      {store.AttemptFilter{ServiceID: "dversum"}, []string{a2, b1, a1}},
			"subscription": {store.AttemptFilter{SubscriptionID: subB.ID}, []string{b2, b1}},
			"event":        {store.AttemptFilter{EventID: vplan.Event.ID}, []string{b2}},
			"combined":     {store.AttemptFilter{SubscriptionID: subA.ID, Success: &no}, []string{a1}},
			"no match":     {store.AttemptFilter{ConsumerID: "initech"}, nil},
		} {
			t.Run(name, func(t *testing.T) {
				list, err := e.s.ListAttempts(e.ctx, store.AllConsumers(), tc.filter, store.Page{})
				require.NoError(t, err)
				got := ids(list, func(a *store.Attempt) string { return a.ID })
				if len(got) == 0 {
					got = nil
				}
				assert.Equal(t, tc.want, got)
			})
		}
	},
	"ListAttemptsPages": func(t *testing.T, h *harness) {
		e := h.env(t)
		sub := e.subscription()
		var want []string
		for range 8 {
			res := e.publish()
			o := outcome(res.Event, e.deliveryTo(res.Event.ID, sub.ID), 200, time.Time{})
			require.NoError(t, e.s.RecordOutcomes(e.ctx, []store.Outcome{o}))
			want = append(want, o.Attempts[0].ID)
		}
		want = reversed(want)
		walkPages(t, want, func(p store.Page) ([]string, error) {
			list, err := e.s.ListAttempts(e.ctx, store.AllConsumers(), store.AttemptFilter{SubscriptionID: sub.ID}, p)
			return ids(list, func(a *store.Attempt) string { return a.ID }), err
		})
	},
	"ListDeliveriesUnknownEvent": func(t *testing.T, h *harness) {
		e := h.env(t)
		ds, err := e.s.ListDeliveries(e.ctx, store.AllConsumers(), unknownID())
		require.NoError(t, err)
		assert.Empty(t, ds)
	},
}
