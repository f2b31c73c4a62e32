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

// record applies one try with the given status to the delivery of ev to sub
// (2xx delivered, otherwise a retry due in an hour).
func (e *env) record(ev *event.Event, sub *store.Subscription, status int) {
	e.t.Helper()
	d := e.deliveryTo(ev.ID, sub.ID)
	require.NoError(e.t, e.s.RecordOutcomes(e.ctx, []store.Outcome{outcome(ev, d, status, time.Now().Add(time.Hour))}))
}

func (e *env) gone(sc store.Scope, eventID string) bool {
	e.t.Helper()
	_, err := e.s.GetEvent(e.ctx, sc, eventID)
	if err != nil {
		require.ErrorIs(e.t, err, store.ErrNotFound)
		return true
	}
	return false
}

func (e *env) attemptsOf(eventID string) int {
	e.t.Helper()
	list, err := e.s.ListAttempts(e.ctx, store.AllConsumers(), store.AttemptFilter{EventID: eventID}, store.Page{})
	require.NoError(e.t, err)
	return len(list)
}

var retentionTests = map[string]func(*testing.T, *harness){
	"PurgeDeletesOldSettledEventsOldestFirst": func(t *testing.T, h *harness) {
		e := h.env(t)
		sub := e.subscription()
		// Ids are UUIDv7 made at publish time: an old event has an old id,
		// each a millisecond after the one before.
		n := 0
		old := func(ev *event.Event) {
			n++
			at := time.Now().Add(-48*time.Hour + time.Duration(n)*time.Millisecond)
			ev.ID, ev.CreatedAt = store.NewIDAt(at), store.Time(at)
		}

		delivered := e.publish(old).Event
		e.record(delivered, sub, 200)
		retrying := e.publish(old).Event
		e.record(retrying, sub, 503) // a retry is due: kept
		unmatched := e.publish(old, func(ev *event.Event) {
			ev.UnifiedAPI, ev.EventType, ev.BaseEventType = "crm", "crm.contact.created", "crm.contact.created"
		}).Event
		fresh := e.publish().Event
		e.record(fresh, sub, 200)

		cutoff := time.Now().Add(-24 * time.Hour)
		got, err := e.s.Purge(e.ctx, cutoff, 1)
		require.NoError(t, err)
		assert.Equal(t, store.PurgeCounts{Events: 1, Deliveries: 1, Attempts: 1}, got, "the oldest settled event first, with its delivery and try")
		assert.True(t, e.gone(store.AllConsumers(), delivered.ID))
		assert.Zero(t, e.attemptsOf(delivered.ID))

		got, err = e.s.Purge(e.ctx, cutoff, 0)
		require.NoError(t, err)
		assert.Equal(t, store.PurgeCounts{Events: 1}, got, "the old event without deliveries")
		assert.True(t, e.gone(store.AllConsumers(), unmatched.ID))

		got, err = e.s.Purge(e.ctx, cutoff, 0)
		require.NoError(t, err)
		assert.Equal(t, store.PurgeCounts{}, got, "nothing left to purge")
		assert.False(t, e.gone(store.AllConsumers(), retrying.ID), "an event with a retry due is kept")
		assert.Equal(t, 1, e.attemptsOf(retrying.ID))
		assert.False(t, e.gone(store.AllConsumers(), fresh.ID), "a young event is kept")
		assert.Equal(t, 1, e.attemptsOf(fresh.ID))

		// Once its retry is settled, the old event goes too.
		e.record(retrying, sub, 200)
		got, err = e.s.Purge(e.ctx, cutoff, 0)
		require.NoError(t, err)
		assert.Equal(t, store.PurgeCounts{Events: 1, Deliveries: 1, Attempts: 2}, got)
	},

	"EraseConsumer": func(t *testing.T, h *harness) {
		e := h.env(t)
		acmeSub := e.subscription(func(s *store.Subscription) { s.ConsumerID = "acme" })
		appSub := e.subscription()
		ev1 := e.publish().Event
		ev2 := e.publish().Event
		e.record(ev1, acmeSub, 200)
		e.record(ev2, appSub, 503) // pending: erased all the same
		other := e.publish(func(ev *event.Event) { ev.ConsumerID = "globex" }).Event
		e.record(other, appSub, 200)
		plain := e.connection("acme")
		registered := e.connection("acme", func(c *store.Connection) { c.Registrations = json.RawMessage(`{"hook_id":"h1"}`) })
		globexConn := e.connection("globex")

		for _, sc := range []store.Scope{store.AllConsumers(), {}, store.Consumer("")} {
			_, err := e.s.EraseConsumer(e.ctx, sc, store.EraseOptions{})
			require.ErrorIs(t, err, store.ErrOutOfScope, "scope %s", sc)
		}

		_, err := e.s.EraseConsumer(e.ctx, store.Consumer("acme"), store.EraseOptions{Connections: true})
		require.ErrorIs(t, err, store.ErrRegistered)
		assert.False(t, e.gone(store.AllConsumers(), ev1.ID), "refused before anything is erased")

		got, err := e.s.EraseConsumer(e.ctx, store.Consumer("acme"), store.EraseOptions{})
		require.NoError(t, err)
		assert.Equal(t, store.EraseCounts{Events: 2, Deliveries: 4, Attempts: 2}, got)
		assert.True(t, e.gone(store.AllConsumers(), ev1.ID))
		assert.True(t, e.gone(store.AllConsumers(), ev2.ID))
		assert.Zero(t, e.attemptsOf(ev1.ID)+e.attemptsOf(ev2.ID))
		assert.False(t, e.gone(store.AllConsumers(), other.ID), "another consumer's events stay")
		assert.Equal(t, 1, e.attemptsOf(other.ID))
		_, err = e.s.GetSubscription(e.ctx, store.AllConsumers(), acmeSub.ID)
		require.NoError(t, err, "subscriptions stay unless asked")
		_, err = e.s.GetConnection(e.ctx, store.AllConsumers(), plain.ID)
		require.NoError(t, err, "connections stay unless asked")

		require.NoError(t, e.s.DeleteConnection(e.ctx, store.Consumer("acme"), registered.ID))
		got, err = e.s.EraseConsumer(e.ctx, store.Consumer("acme"), store.EraseOptions{Connections: true, Subscriptions: true})
		require.NoError(t, err)
		assert.Equal(t, store.EraseCounts{Connections: 1, Subscriptions: 1}, got)
		_, err = e.s.GetConnection(e.ctx, store.AllConsumers(), plain.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = e.s.GetSubscription(e.ctx, store.AllConsumers(), acmeSub.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = e.s.GetConnection(e.ctx, store.AllConsumers(), globexConn.ID)
		require.NoError(t, err, "another consumer's connections stay")
		_, err = e.s.GetSubscription(e.ctx, store.AllConsumers(), appSub.ID)
		require.NoError(t, err, "application-wide subscriptions stay")
	},

	"EraseConsumerInBatches": func(t *testing.T, h *harness) {
		e := h.env(t)
		n := store.PurgeBatch + 3
		for range n {
			e.publish()
		}
		got, err := e.s.EraseConsumer(e.ctx, store.Consumer("acme"), store.EraseOptions{})
		require.NoError(t, err)
		assert.Equal(t, n, got.Events)
		list, err := e.s.ListEvents(e.ctx, store.AllConsumers(), store.EventFilter{}, store.Page{})
		require.NoError(t, err)
		assert.Empty(t, list)
	},
}
