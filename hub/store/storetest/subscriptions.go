package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/secret"
	"github.com/switchboardhq/switchboard/hub/store"
)

var subscriptionTests = map[string]func(*testing.T, *harness){
	"Count": func(t *testing.T, h *harness) {
		e := h.env(t)
		c, err := e.s.CountSubscriptions(e.ctx, "acme")
		require.NoError(t, err)
		assert.Equal(t, store.SubscriptionCounts{}, c, "an empty hub")

		e.subscription(func(s *store.Subscription) { s.ConsumerID = "acme" })
		e.subscription(func(s *store.Subscription) { s.ConsumerID = "acme" })
		e.subscription(func(s *store.Subscription) { s.ConsumerID = "globex" })
		e.subscription() // application-wide
		gone := e.subscription(func(s *store.Subscription) { s.ConsumerID = "acme" })
		require.NoError(t, e.s.DeleteSubscription(e.ctx, store.AllConsumers(), gone.ID))

		for consumer, want := range map[string]store.SubscriptionCounts{
			"acme":    {Consumer: 2, Total: 4},
			"globex":  {Consumer: 1, Total: 4},
			"":        {Consumer: 1, Total: 4}, // application-wide ones
			"initech": {Consumer: 0, Total: 4},
		} {
			c, err := e.s.CountSubscriptions(e.ctx, consumer)
			require.NoError(t, err)
			assert.Equal(t, want, c, "consumer %q", consumer)
		}
	},
	"CreateGetRoundTrip": func(t *testing.T, h *harness) {
		e := h.env(t)
		previous, err := secret.NewWebhookSecret()
		require.NoError(t, err)
		expires := store.Time(time.Now().Add(24 * time.Hour))
		started := store.Time(time.Now().Add(-time.Hour))
		sub := e.subscription(func(s *store.Subscription) {
			s.Events = []string{"accounting.invoice.created", "accounting.invoice.paid"}
			s.ConsumerID = "acme"
			s.RetrySchedule = []int{5, 300, 1800}
			s.PreviousSecret = previous
			s.PreviousSecretExpiresAt = &expires
			s.FailStreak = 3
			s.FailStreakStartedAt = &started
			s.LastFailedAt = &started
		})
		requireUUIDv7(t, sub.ID)
		require.False(t, sub.CreatedAt.IsZero(), "CreatedAt filled")
		require.False(t, sub.UpdatedAt.IsZero(), "UpdatedAt filled")

		got, err := e.s.GetSubscription(e.ctx, store.AllConsumers(), sub.ID)
		require.NoError(t, err)
		assert.Equal(t, sub, got)
		assert.Equal(t, previous, got.PreviousSecret, "previous secret opened")
	},
	"DeliveryFormatAndSigningKey": func(t *testing.T, h *harness) {
		e := h.env(t)
		std := e.subscription()
		assert.Equal(t, store.FormatStandard, std.DeliveryFormat, "spelled out when unset")
		got, err := e.s.GetSubscription(e.ctx, store.AllConsumers(), std.ID)
		require.NoError(t, err)
		assert.Equal(t, store.FormatStandard, got.DeliveryFormat)
		assert.Empty(t, got.SigningKey)

		sub := e.subscription(func(s *store.Subscription) {
			s.DeliveryFormat, s.SigningKey = store.FormatApideck, "sk_live_key"
		})
		got, err = e.s.GetSubscription(e.ctx, store.AllConsumers(), sub.ID)
		require.NoError(t, err)
		assert.Equal(t, sub, got)
		assert.Equal(t, "sk_live_key", got.SigningKey, "signing key opened")

		// Fan-out targets carry the format and the opened key.
		res := e.publish()
		ev, targets, err := e.s.FanoutTargets(e.ctx, res.Event.ID)
		require.NoError(t, err)
		require.Equal(t, res.Event.ID, ev.ID)
		keys := map[string]string{}
		for _, tg := range targets {
			keys[tg.Subscription.ID] = tg.Subscription.Format() + "/" + tg.Subscription.SigningKey
		}
		assert.Equal(t, store.FormatApideck+"/sk_live_key", keys[sub.ID])
		assert.Equal(t, store.FormatStandard+"/", keys[std.ID])

		got.SigningKey = "rotated"
		require.NoError(t, e.s.UpdateSubscription(e.ctx, store.AllConsumers(), got))
		again, err := e.s.GetSubscription(e.ctx, store.AllConsumers(), sub.ID)
		require.NoError(t, err)
		assert.Equal(t, "rotated", again.SigningKey)
		again.DeliveryFormat = store.FormatStandard
		require.NoError(t, e.s.UpdateSubscription(e.ctx, store.AllConsumers(), again))
		again, err = e.s.GetSubscription(e.ctx, store.AllConsumers(), sub.ID)
		require.NoError(t, err)
		assert.Equal(t, store.FormatStandard, again.DeliveryFormat)
		assert.Equal(t, "rotated", again.SigningKey, "kept for a switch back")

		bad := &store.Subscription{UnifiedAPI: "accounting", Status: store.StatusEnabled, DisabledReason: store.DisabledNone,
			DeliveryURL: "https://example.com/x", Events: []string{"*"}, Secret: std.Secret, DeliveryFormat: "svix"}
		require.Error(t, e.s.CreateSubscription(e.ctx, store.AllConsumers(), bad), "an unknown format is refused")
	},
	"DefaultsAndEmptyOptionals": func(t *testing.T, h *harness) {
		e := h.env(t)
		sub := e.subscription()
		got, err := e.s.GetSubscription(e.ctx, store.AllConsumers(), sub.ID)
		require.NoError(t, err)
		assert.Nil(t, got.RetrySchedule, "no schedule: the hub's default")
		assert.Empty(t, got.PreviousSecret)
		assert.Nil(t, got.PreviousSecretExpiresAt)
		assert.Nil(t, got.FailStreakStartedAt)
		assert.Nil(t, got.LastFailedAt)
		assert.Nil(t, got.LastSucceededAt)
		assert.Empty(t, got.ConsumerID)
		assert.Equal(t, sub.Secret, got.Secret)
	},
	"Update": func(t *testing.T, h *harness) {
		e := h.env(t)
		sub := e.subscription()
		created := sub.CreatedAt
		before := sub.UpdatedAt

		rotated, err := secret.NewWebhookSecret()
		require.NoError(t, err)
		expires := store.Time(time.Now().Add(time.Hour))
		sub.Description = "renamed"
		sub.DeliveryURL = "https://example.org/new"
		sub.Events = []string{"accounting.invoice.created"}
		sub.ConsumerID = "globex"
		sub.RetrySchedule = []int{1, 2}
		sub.PreviousSecret, sub.Secret = sub.Secret, rotated
		sub.PreviousSecretExpiresAt = &expires
		require.NoError(t, e.s.UpdateSubscription(e.ctx, store.AllConsumers(), sub))
		assert.False(t, sub.UpdatedAt.Before(before), "UpdatedAt set")

		got, err := e.s.GetSubscription(e.ctx, store.AllConsumers(), sub.ID)
		require.NoError(t, err)
		assert.Equal(t, sub, got)
		assert.True(t, created.Equal(got.CreatedAt), "CreatedAt unchanged")

		unknown := *sub
		unknown.ID = unknownID()
		require.ErrorIs(t, e.s.UpdateSubscription(e.ctx, store.AllConsumers(), &unknown), store.ErrNotFound)
	},
	"List": func(t *testing.T, h *harness) {
		e := h.env(t)
		var want []string
		for range 8 {
			want = append(want, e.subscription().ID)
		}
		want = reversed(want)
		walkPages(t, want, func(p store.Page) ([]string, error) {
			subs, err := e.s.ListSubscriptions(e.ctx, store.AllConsumers(), p)
			for _, s := range subs {
				if s.Secret == "" {
					t.Errorf("listed subscription %s without its secret", s.ID)
				}
			}
			return ids(subs, func(s *store.Subscription) string { return s.ID }), err
		})
	},
	"DeleteCancelsPendingDeliveriesKeepsHistory": func(t *testing.T, h *harness) {
		e := h.env(t)
		sub := e.subscription()
		other := e.subscription()
		first := e.publish()
		second := e.publish()

		// One try of the first event failed and is logged.
		d := e.deliveryTo(first.Event.ID, sub.ID)
		require.NoError(t, e.s.RecordOutcomes(e.ctx, []store.Outcome{outcome(first.Event, d, 500, time.Now().Add(time.Hour))}))

		require.NoError(t, e.s.DeleteSubscription(e.ctx, store.AllConsumers(), sub.ID))
		_, err := e.s.GetSubscription(e.ctx, store.AllConsumers(), sub.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
		require.ErrorIs(t, e.s.DeleteSubscription(e.ctx, store.AllConsumers(), sub.ID), store.ErrNotFound)

		for _, ev := range []*store.PublishResult{first, second} {
			assert.Equal(t, store.DeliveryCancelled, e.deliveryTo(ev.Event.ID, sub.ID).Status)
			assert.Equal(t, store.DeliveryPending, e.deliveryTo(ev.Event.ID, other.ID).Status, "other subscriptions untouched")
		}
		logged, err := e.s.ListAttempts(e.ctx, store.AllConsumers(), store.AttemptFilter{SubscriptionID: sub.ID}, store.Page{})
		require.NoError(t, err)
		assert.Len(t, logged, 1, "attempt log kept")
	},
	"DisableCancelsPendingDeliveries": func(t *testing.T, h *harness) {
		e := h.env(t)
		sub := e.subscription()
		res := e.publish()
		sub.Status = store.StatusDisabled
		sub.DisabledReason = store.DisabledManual
		require.NoError(t, e.s.UpdateSubscription(e.ctx, store.AllConsumers(), sub))
		assert.Equal(t, store.DeliveryCancelled, e.deliveryTo(res.Event.ID, sub.ID).Status)

		got, err := e.s.GetSubscription(e.ctx, store.AllConsumers(), sub.ID)
		require.NoError(t, err)
		assert.Equal(t, store.StatusDisabled, got.Status)
		assert.Equal(t, store.DisabledManual, got.DisabledReason)
	},
	"UpdateKeepsHealthWrittenMeanwhile": func(t *testing.T, h *harness) {
		e := h.env(t)
		sub := e.subscription()
		stale, err := e.s.GetSubscription(e.ctx, store.AllConsumers(), sub.ID)
		require.NoError(t, err)

		// A delivery fails between the API's read and its write.
		res := e.publish()
		d := e.deliveryTo(res.Event.ID, sub.ID)
		require.NoError(t, e.s.RecordOutcomes(e.ctx, []store.Outcome{outcome(res.Event, d, 500, time.Now().Add(time.Hour))}))

		stale.Description = "renamed"
		require.NoError(t, e.s.UpdateSubscription(e.ctx, store.AllConsumers(), stale))
		assert.Equal(t, 1, stale.FailStreak, "update returns the stored health")

		got, err := e.s.GetSubscription(e.ctx, store.AllConsumers(), sub.ID)
		require.NoError(t, err)
		assert.Equal(t, "renamed", got.Description)
		assert.Equal(t, 1, got.FailStreak, "the failure recorded meanwhile survives the update")
		require.NotNil(t, got.FailStreakStartedAt)
		require.NotNil(t, got.LastFailedAt)
	},
	"ReenableResetsFailStreak": func(t *testing.T, h *harness) {
		e := h.env(t)
		sub := e.subscription()
		res := e.publish()
		d := e.deliveryTo(res.Event.ID, sub.ID)
		o := outcome(res.Event, d, 410, time.Time{})
		o.Status, o.Disable, o.Attempts[0].RetryScheduled = store.DeliveryFailed, store.DisabledGone, false
		require.NoError(t, e.s.RecordOutcomes(e.ctx, []store.Outcome{o}))

		got, err := e.s.GetSubscription(e.ctx, store.AllConsumers(), sub.ID)
		require.NoError(t, err)
		require.Equal(t, store.StatusDisabled, got.Status)
		require.Equal(t, 1, got.FailStreak)

		got.Status, got.DisabledReason = store.StatusEnabled, store.DisabledNone
		require.NoError(t, e.s.UpdateSubscription(e.ctx, store.AllConsumers(), got))
		assert.Zero(t, got.FailStreak)
		assert.Nil(t, got.FailStreakStartedAt)
		assert.NotNil(t, got.LastFailedAt, "the last failure stays on record")

		again, err := e.s.GetSubscription(e.ctx, store.AllConsumers(), sub.ID)
		require.NoError(t, err)
		assert.Equal(t, got, again)
	},
	"NotFound": func(t *testing.T, h *harness) {
		e := h.env(t)
		_, err := e.s.GetSubscription(e.ctx, store.AllConsumers(), unknownID())
		require.ErrorIs(t, err, store.ErrNotFound)
		require.ErrorIs(t, e.s.DeleteSubscription(e.ctx, store.AllConsumers(), unknownID()), store.ErrNotFound)
		list, err := e.s.ListSubscriptions(e.ctx, store.AllConsumers(), store.Page{})
		require.NoError(t, err)
		assert.Empty(t, list)
	},
}
