package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/store"
)

// requireSameEvent compares events, the entity as JSON (a database may
// re-encode it).
func requireSameEvent(t *testing.T, want, got *event.Event) {
	t.Helper()
	require.NotNil(t, got)
	if len(want.Entity) > 0 {
		assert.JSONEq(t, string(want.Entity), string(got.Entity))
	} else {
		assert.Empty(t, got.Entity)
	}
	w, g := *want, *got
	w.Entity, g.Entity = nil, nil
	assert.Equal(t, w, g)
}

var eventTests = map[string]func(*testing.T, *harness){
	"PublishMatchesSubscriptions": func(t *testing.T, h *harness) {
		e := h.env(t)
		exact := e.subscription(func(s *store.Subscription) { s.Events = []string{"accounting.invoice.paid"} })
		wildcard := e.subscription()
		base := e.subscription(func(s *store.Subscription) { s.Events = []string{"accounting.invoice.updated"} })
		boundToAcme := e.subscription(func(s *store.Subscription) { s.ConsumerID = "acme" })
		anyAPI := e.subscription(func(s *store.Subscription) { s.UnifiedAPI = "*" })
		e.subscription(func(s *store.Subscription) { s.Events = []string{"accounting.invoice.created"} })
		e.subscription(func(s *store.Subscription) { s.ConsumerID = "globex" })
		e.subscription(func(s *store.Subscription) { s.UnifiedAPI = "crm" })
		e.subscription(func(s *store.Subscription) {
			s.Status = store.StatusDisabled
			s.DisabledReason = store.DisabledManual
		})

		ev := newEvent()
		res, err := e.s.PublishEvent(e.ctx, store.AllConsumers(), ev)
		require.NoError(t, err)
		assert.False(t, res.Duplicate)
		assert.Equal(t, 5, res.Deliveries)
		assert.Equal(t, ev.ID, res.Event.ID)

		ds, err := e.s.ListDeliveries(e.ctx, store.AllConsumers(), ev.ID)
		require.NoError(t, err)
		var got []string
		for _, d := range ds {
			requireUUIDv7(t, d.ID)
			assert.Equal(t, ev.ID, d.EventID)
			assert.Equal(t, store.DeliveryPending, d.Status)
			assert.Zero(t, d.Attempts)
			assert.Nil(t, d.NextAttemptAt)
			got = append(got, d.SubscriptionID)
		}
		assert.ElementsMatch(t, []string{exact.ID, wildcard.ID, base.ID, boundToAcme.ID, anyAPI.ID}, got)

		stored, err := e.s.GetEvent(e.ctx, store.AllConsumers(), ev.ID)
		require.NoError(t, err)
		requireSameEvent(t, ev, stored)

		eventually(t, func() bool { return FanoutsWorked(ev.ID) == 1 }, "fan-out job of event %s not worked", ev.ID)
	},
	"PassThroughEventsReachWildcards": func(t *testing.T, h *harness) {
		e := h.env(t)
		wildcard := e.subscription()
		named := e.subscription(func(s *store.Subscription) { s.Events = []string{"dversum.page.created"} })
		e.subscription(func(s *store.Subscription) { s.Events = []string{"accounting.invoice.paid"} })
		res := e.publish(func(ev *event.Event) {
			ev.EventType, ev.BaseEventType, ev.UnifiedAPI = "dversum.page.created", "", "dversum"
		})
		assert.Equal(t, 2, res.Deliveries)
		e.deliveryTo(res.Event.ID, wildcard.ID)
		e.deliveryTo(res.Event.ID, named.ID)
	},
	"PublishWithoutSubscribers": func(t *testing.T, h *harness) {
		e := h.env(t)
		res := e.publish(func(ev *event.Event) { ev.Entity = nil })
		assert.Zero(t, res.Deliveries)
		stored, err := e.s.GetEvent(e.ctx, store.AllConsumers(), res.Event.ID)
		require.NoError(t, err, "the event is stored even when nobody receives it")
		requireSameEvent(t, res.Event, stored)
		ds, err := e.s.ListDeliveries(e.ctx, store.AllConsumers(), res.Event.ID)
		require.NoError(t, err)
		assert.Empty(t, ds)
	},
	"PublishFillsIDAndCreatedAt": func(t *testing.T, h *harness) {
		e := h.env(t)
		res := e.publish(func(ev *event.Event) { ev.ID, ev.CreatedAt = "", time.Time{} })
		requireUUIDv7(t, res.Event.ID)
		assert.False(t, res.Event.CreatedAt.IsZero())
		stored, err := e.s.GetEvent(e.ctx, store.AllConsumers(), res.Event.ID)
		require.NoError(t, err)
		assert.True(t, res.Event.CreatedAt.Equal(stored.CreatedAt))
	},
	"Dedupe": func(t *testing.T, h *harness) {
		e := h.env(t)
		e.subscription()
		e.subscription()
		key := "acme:" + store.NewID()
		first := e.publish(func(ev *event.Event) { ev.DedupeKey, ev.RequestHash = key, "hash-1" })
		require.False(t, first.Duplicate)
		require.Equal(t, 2, first.Deliveries)

		// A subscription added since does not change the answer.
		e.subscription()
		again := newEvent(func(ev *event.Event) { ev.DedupeKey, ev.RequestHash = key, "hash-1" })
		res, err := e.s.PublishEvent(e.ctx, store.AllConsumers(), again)
		require.NoError(t, err)
		assert.True(t, res.Duplicate)
		assert.Equal(t, first.Event.ID, res.Event.ID, "the first event is returned")
		assert.Equal(t, 2, res.Deliveries, "the first event's deliveries")
		_, err = e.s.GetEvent(e.ctx, store.AllConsumers(), again.ID)
		require.ErrorIs(t, err, store.ErrNotFound, "the duplicate is not stored")

		conflict := newEvent(func(ev *event.Event) { ev.DedupeKey, ev.RequestHash = key, "hash-2" })
		_, err = e.s.PublishEvent(e.ctx, store.AllConsumers(), conflict)
		require.ErrorIs(t, err, store.ErrIdempotencyConflict)
		var ce *store.IdempotencyConflictError
		require.ErrorAs(t, err, &ce, "the conflict carries the event that holds the key")
		assert.Equal(t, first.Event.ID, ce.First.ID)
		assert.Equal(t, key, ce.Key)

		// Events without a key never collide.
		a, b := e.publish(), e.publish()
		assert.False(t, a.Duplicate)
		assert.False(t, b.Duplicate)
	},
	"ListFilters": func(t *testing.T, h *harness) {
		e := h.env(t)
		paid := e.publish()
		created := e.publish(func(ev *event.Event) { ev.EventType, ev.BaseEventType = "accounting.invoice.created", "" })
		globex := e.publish(func(ev *event.Event) { ev.ConsumerID = "globex" })
		vplan := e.publish(func(ev *event.Event) {
			ev.ServiceID, ev.UnifiedAPI, ev.EventType, ev.BaseEventType = "vplan", "issue-tracking", "issue-tracking.ticket.created", ""
		})
		for name, tc := range map[string]struct {
			filter store.EventFilter
			want   []*store.PublishResult // newest first
		}{
			"none":        {store.EventFilter{}, []*store.PublishResult{vplan, globex, created, paid}},
			"event type":  {store.EventFilter{EventType: "accounting.invoice.paid"}, []*store.PublishResult{globex, paid}},
			"consumer":    {store.EventFilter{ConsumerID: "globex"}, []*store.PublishResult{globex}},
			"service":     {store.EventFilter{ServiceID: "vplan"}, []*store.PublishResult{vplan}},
			"combined":    {store.EventFilter{ServiceID: "dversum", ConsumerID: "acme"}, []*store.PublishResult{created, paid}},
			"no match":    {store.EventFilter{EventType: "crm.lead.created"}, nil},
			"all exclude": {store.EventFilter{ServiceID: "vplan", ConsumerID: "globex"}, nil},
		} {
			t.Run(name, func(t *testing.T) {
				list, err := e.s.ListEvents(e.ctx, store.AllConsumers(), tc.filter, store.Page{})
				require.NoError(t, err)
				want := ids(tc.want, func(r *store.PublishResult) string { return r.Event.ID })
				if len(want) == 0 {
					want = nil
				}
				got := ids(list, func(ev *event.Event) string { return ev.ID })
				if len(got) == 0 {
					got = nil
				}
				assert.Equal(t, want, got)
			})
		}
	},
	"ListPages": func(t *testing.T, h *harness) {
		e := h.env(t)
		var want []string
		for range 10 {
			want = append(want, e.publish().Event.ID)
			e.publish(func(ev *event.Event) { ev.ConsumerID = "globex" }) // filtered out below
		}
		want = reversed(want)
		walkPages(t, want, func(p store.Page) ([]string, error) {
			list, err := e.s.ListEvents(e.ctx, store.AllConsumers(), store.EventFilter{ConsumerID: "acme"}, p)
			return ids(list, func(ev *event.Event) string { return ev.ID }), err
		})
	},
	"PageLimits": func(t *testing.T, h *harness) {
		e := h.env(t)
		for range store.MaxPageLimit + 5 {
			e.publish()
		}
		for limit, want := range map[int]int{0: store.DefaultPageLimit, -1: store.DefaultPageLimit, 7: 7, store.MaxPageLimit + 1: store.MaxPageLimit} {
			list, err := e.s.ListEvents(e.ctx, store.AllConsumers(), store.EventFilter{}, store.Page{Limit: limit})
			require.NoError(t, err)
			assert.Len(t, list, want, "limit %d", limit)
		}
	},
	"ReplayAllMatching": func(t *testing.T, h *harness) {
		e := h.env(t)
		a := e.subscription()
		b := e.subscription()
		res := e.publish()
		require.Equal(t, 2, res.Deliveries)
		eventually(t, func() bool { return FanoutsWorked(res.Event.ID) == 1 }, "first fan-out")

		// Only subscriptions enabled and matching now receive a replay.
		c := e.subscription()
		b.Status, b.DisabledReason = store.StatusDisabled, store.DisabledManual
		require.NoError(t, e.s.UpdateSubscription(e.ctx, store.AllConsumers(), b))

		n, err := e.s.Replay(e.ctx, store.AllConsumers(), res.Event.ID, "")
		require.NoError(t, err)
		assert.Equal(t, 2, n)
		ds, err := e.s.ListDeliveries(e.ctx, store.AllConsumers(), res.Event.ID)
		require.NoError(t, err)
		pending := map[string]int{}
		for _, d := range ds {
			if d.Status == store.DeliveryPending {
				pending[d.SubscriptionID]++
			}
		}
		assert.Equal(t, map[string]int{a.ID: 2, c.ID: 1}, pending)
		eventually(t, func() bool { return FanoutsWorked(res.Event.ID) == 2 }, "replay's fan-out job not worked")
	},
	"ReplayOneSubscription": func(t *testing.T, h *harness) {
		e := h.env(t)
		a := e.subscription()
		b := e.subscription()
		res := e.publish()

		n, err := e.s.Replay(e.ctx, store.AllConsumers(), res.Event.ID, b.ID)
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		ds, err := e.s.ListDeliveries(e.ctx, store.AllConsumers(), res.Event.ID)
		require.NoError(t, err)
		count := map[string]int{}
		for _, d := range ds {
			count[d.SubscriptionID]++
		}
		assert.Equal(t, map[string]int{a.ID: 1, b.ID: 2}, count)

		_, err = e.s.Replay(e.ctx, store.AllConsumers(), res.Event.ID, unknownID())
		require.ErrorIs(t, err, store.ErrNotFound, "unknown subscription")
		_, err = e.s.Replay(e.ctx, store.AllConsumers(), unknownID(), "")
		require.ErrorIs(t, err, store.ErrNotFound, "unknown event")

		b.Status, b.DisabledReason = store.StatusDisabled, store.DisabledManual
		require.NoError(t, e.s.UpdateSubscription(e.ctx, store.AllConsumers(), b))
		n, err = e.s.Replay(e.ctx, store.AllConsumers(), res.Event.ID, b.ID)
		require.NoError(t, err)
		assert.Zero(t, n, "a disabled subscription gets no replay")
	},
	"EntityRoundTrip": func(t *testing.T, h *harness) {
		e := h.env(t)
		entity := json.RawMessage(`{"id":"inv_1","customer":{"id":"cli_1"},"lines":[{"qty":2,"price":9.99}],"note":"ümlaut \"quoted\"","paid":true,"due":null}`)
		res := e.publish(func(ev *event.Event) { ev.Entity = entity })
		got, err := e.s.GetEvent(e.ctx, store.AllConsumers(), res.Event.ID)
		require.NoError(t, err)
		assert.JSONEq(t, string(entity), string(got.Entity))
		body, err := got.Body(1)
		require.NoError(t, err)
		assert.Contains(t, string(body), `"execution_attempt":1`)
	},
	"NotFound": func(t *testing.T, h *harness) {
		e := h.env(t)
		_, err := e.s.GetEvent(e.ctx, store.AllConsumers(), unknownID())
		require.ErrorIs(t, err, store.ErrNotFound)
		list, err := e.s.ListEvents(e.ctx, store.AllConsumers(), store.EventFilter{}, store.Page{})
		require.NoError(t, err)
		assert.Empty(t, list)
	},
}
