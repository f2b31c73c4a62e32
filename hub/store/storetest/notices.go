package storetest

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/store"
)

// opsTypes are the operational event types a watcher names.
var opsTypes = []string{event.SubscriptionFailing, event.SubscriptionDisabled, event.SubscriptionRecovered, event.DeliveryExhausted}

// watcher creates a subscription to every operational event, bound to
// consumer ("" for the application).
func (e *env) watcher(consumer string) *store.Subscription {
	return e.subscription(func(s *store.Subscription) {
		s.UnifiedAPI, s.Events, s.ConsumerID = event.OpsAPI, opsTypes, consumer
	})
}

// noticesOf lists the stored events of type typ, oldest first.
func (e *env) noticesOf(typ string) []*event.Event {
	e.t.Helper()
	evs, err := e.s.ListEvents(e.ctx, store.AllConsumers(), store.EventFilter{EventType: typ}, store.Page{})
	require.NoError(e.t, err)
	for i, j := 0, len(evs)-1; i < j; i, j = i+1, j-1 {
		evs[i], evs[j] = evs[j], evs[i]
	}
	return evs
}

// try records one try of the delivery of ev to sub (status 2xx delivered,
// else pending), changed by mods, and returns the outcome as recorded.
func (e *env) try(ev *event.Event, sub *store.Subscription, status int, mods ...func(*store.Outcome)) store.Outcome {
	e.t.Helper()
	d := e.deliveryTo(ev.ID, sub.ID)
	o := outcome(ev, d, status, time.Now().Add(time.Hour))
	o.Attempts[0].SubscriptionConsumerID = sub.ConsumerID
	o.Notify = true
	for _, mod := range mods {
		mod(&o)
	}
	outs := []store.Outcome{o}
	require.NoError(e.t, e.s.RecordOutcomes(e.ctx, outs))
	return outs[0]
}

// failing makes a failed try report the subscription failing if its streak
// started at all.
func failing(o *store.Outcome) { o.FailingSince = time.Now().Add(time.Hour) }

func recovering(o *store.Outcome) { o.CheckRecovered = true }

// deliveredTo reports whether a delivery of ev to sub was created.
func (e *env) deliveredTo(ev *event.Event, sub *store.Subscription) bool {
	e.t.Helper()
	ds, err := e.s.ListDeliveries(e.ctx, store.AllConsumers(), ev.ID)
	require.NoError(e.t, err)
	for _, d := range ds {
		if d.SubscriptionID == sub.ID {
			return true
		}
	}
	return false
}

var noticeTests = map[string]func(*testing.T, *harness){
	"FailingOncePerStreakThenRecovered": func(t *testing.T, h *harness) {
		e := h.env(t)
		sub := e.subscription()
		w := e.watcher("")

		ev := e.publish().Event
		o := e.try(ev, sub, 503, failing)
		require.Len(t, o.Published, 1, "failing reported to the caller")
		fails := e.noticesOf(event.SubscriptionFailing)
		require.Len(t, fails, 1)
		f := fails[0]
		assert.Equal(t, o.Published[0].ID, f.ID)
		assert.Equal(t, sub.ID, f.EntityID)
		assert.Equal(t, "subscription", f.EntityType)
		assert.Equal(t, event.OpsAPI, f.UnifiedAPI)
		assert.Equal(t, event.SourceHub, f.EventSource)
		assert.Equal(t, "", f.ConsumerID, "an application subscription's notice is the application's")
		var entity map[string]any
		require.NoError(t, json.Unmarshal(f.Entity, &entity))
		assert.Equal(t, sub.ID, entity["id"])
		assert.EqualValues(t, 1, entity["fail_streak"])
		assert.NotContains(t, string(f.Entity), sub.Secret, "no secret in a notice")
		assert.True(t, e.deliveredTo(f, w), "the watcher names failing")

		// The same streak: no second failing, whichever try.
		ev2 := e.publish().Event
		e.try(ev2, sub, 503, failing)
		e.try(ev, sub, 500, failing)
		require.Len(t, e.noticesOf(event.SubscriptionFailing), 1, "once per streak")

		o = e.try(ev2, sub, 200, recovering)
		require.Len(t, o.Published, 1)
		recs := e.noticesOf(event.SubscriptionRecovered)
		require.Len(t, recs, 1)
		assert.Equal(t, sub.ID, recs[0].EntityID)
		assert.True(t, e.deliveredTo(recs[0], w))

		// A success with nothing said before says nothing.
		ev3 := e.publish().Event
		e.try(ev3, sub, 200, recovering)
		assert.Len(t, e.noticesOf(event.SubscriptionRecovered), 1)

		// A new streak is reported again.
		ev4 := e.publish().Event
		e.try(ev4, sub, 503, failing)
		assert.Len(t, e.noticesOf(event.SubscriptionFailing), 2, "a new streak")
	},
	"FailingOnlyOnceTheStreakIsOldEnough": func(t *testing.T, h *harness) {
		e := h.env(t)
		sub := e.subscription()
		ev := e.publish().Event
		e.try(ev, sub, 503, func(o *store.Outcome) { o.FailingSince = time.Now().Add(-time.Hour) })
		assert.Empty(t, e.noticesOf(event.SubscriptionFailing), "streak started after FailingSince")
		e.try(ev, sub, 503, failing)
		assert.Len(t, e.noticesOf(event.SubscriptionFailing), 1)
	},
	"DisabledWithReasonAndRecoveredAfterReEnable": func(t *testing.T, h *harness) {
		e := h.env(t)
		sub := e.subscription(func(s *store.Subscription) { s.ConsumerID = "acme" })
		w := e.watcher("acme")
		ev := e.publish().Event
		o := e.try(ev, sub, 503, func(o *store.Outcome) {
			o.Status, o.NextAttemptAt, o.Disable, o.Exhausted = store.DeliveryFailed, time.Time{}, store.DisabledRetryLimit, true
		})
		types := []string{}
		for _, p := range o.Published {
			types = append(types, p.EventType)
		}
		assert.ElementsMatch(t, []string{event.DeliveryExhausted, event.SubscriptionDisabled}, types)
		dis := e.noticesOf(event.SubscriptionDisabled)
		require.Len(t, dis, 1)
		assert.Equal(t, "acme", dis[0].ConsumerID)
		var entity struct {
			Status, DisabledReason, Reason string
		}
		require.NoError(t, json.Unmarshal(dis[0].Entity, &entity))
		assert.Equal(t, store.StatusDisabled, entity.Status)
		assert.Contains(t, entity.Reason, store.DisabledRetryLimit)
		assert.True(t, e.deliveredTo(dis[0], w))

		ex := e.noticesOf(event.DeliveryExhausted)
		require.Len(t, ex, 1)
		assert.Equal(t, o.DeliveryID, ex[0].EntityID)
		assert.Equal(t, sub.ID, ex[0].Subject())
		assert.Equal(t, "acme", ex[0].ConsumerID)

		// Re-enabled, its first success says recovered.
		sub.Status, sub.DisabledReason = store.StatusEnabled, store.DisabledNone
		require.NoError(t, e.s.UpdateSubscription(e.ctx, store.AllConsumers(), sub))
		ev2 := e.publish().Event
		e.try(ev2, sub, 200, recovering)
		assert.Len(t, e.noticesOf(event.SubscriptionRecovered), 1)
	},
	"NothingAboutDeliveringANotice": func(t *testing.T, h *harness) {
		e := h.env(t)
		sub := e.subscription()
		ev := e.publish().Event
		o := e.try(ev, sub, 410, func(o *store.Outcome) {
			o.Notify = false
			o.FailingSince = time.Now().Add(time.Hour)
			o.Status, o.NextAttemptAt, o.Disable, o.Exhausted = store.DeliveryFailed, time.Time{}, store.DisabledGone, true
		})
		assert.Empty(t, o.Published)
		for _, typ := range opsTypes {
			assert.Empty(t, e.noticesOf(typ), typ)
		}
	},
	"NeverAboutItselfAndWithinItsConsumer": func(t *testing.T, h *harness) {
		e := h.env(t)
		acme := e.watcher("acme")
		acme.Events = append(acme.Events, "accounting.invoice.paid")
		acme.UnifiedAPI = "*"
		require.NoError(t, e.s.UpdateSubscription(e.ctx, store.AllConsumers(), acme))
		acme2 := e.watcher("acme")
		globex := e.watcher("globex")
		app := e.watcher("")
		star := e.subscription(func(s *store.Subscription) { s.UnifiedAPI, s.Events = "*", []string{"*"} })

		ev := e.publish().Event // acme's
		e.try(ev, acme, 503, failing)
		fails := e.noticesOf(event.SubscriptionFailing)
		require.Len(t, fails, 1)
		f := fails[0]
		assert.Equal(t, "acme", f.ConsumerID)
		assert.False(t, e.deliveredTo(f, acme), "never about the receiving subscription")
		assert.True(t, e.deliveredTo(f, acme2), "the same consumer's watcher")
		assert.True(t, e.deliveredTo(f, app), "the application's watcher")
		assert.False(t, e.deliveredTo(f, globex), "never another consumer's")
		assert.False(t, e.deliveredTo(f, star), `never through "*"`)
	},
	"ConcurrentFailuresSayFailingOnce": func(t *testing.T, h *harness) {
		// Concurrent outcomes (on PostgreSQL, parallel transactions, as
		// two nodes would write them) claim the one failing event once.
		e := h.env(t)
		sub := e.subscription()
		const n = 8
		evs := make([]*event.Event, n)
		for i := range evs {
			evs[i] = e.publish().Event
		}
		var wg sync.WaitGroup
		for _, ev := range evs {
			wg.Go(func() { e.try(ev, sub, 503, failing) })
		}
		wg.Wait()
		assert.Len(t, e.noticesOf(event.SubscriptionFailing), 1)
	},
}
