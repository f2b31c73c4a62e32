package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/store"
)

// tenants is two consumers' data side by side, plus an application-wide
// subscription: what the Tenancy tests read and write across.
type tenants struct {
	subA, subB, subApp     *store.Subscription
	evA, evB               *event.Event
	dA, dAApp, dB          *store.Delivery // deliveries of evA to subA and subApp, of evB to subB
	connA, connB           *store.Connection
	sessA, sessB           *store.Session
	attemptsA, attemptsApp string // attempt ids: evA to subA, evA to subApp
	attemptsB              string
}

// twoTenants stores the data of consumers acme (A) and globex (B): one
// subscription each and an application-wide one, one event each (A's
// reaches A's and the application's subscription), a logged try of every
// delivery, a connection and a session each.
func (e *env) twoTenants() *tenants {
	e.t.Helper()
	var tt tenants
	tt.subA = e.subscription(func(s *store.Subscription) { s.ConsumerID = "acme" })
	tt.subB = e.subscription(func(s *store.Subscription) { s.ConsumerID = "globex" })
	tt.subApp = e.subscription()
	tt.evA = e.publish(func(ev *event.Event) { ev.ConsumerID = "acme" }).Event
	tt.evB = e.publish(func(ev *event.Event) { ev.ConsumerID = "globex"; ev.EntityID = "inv_b" }).Event
	tt.dA = e.deliveryTo(tt.evA.ID, tt.subA.ID)
	tt.dAApp = e.deliveryTo(tt.evA.ID, tt.subApp.ID)
	tt.dB = e.deliveryTo(tt.evB.ID, tt.subB.ID)

	var outcomes []store.Outcome
	for _, x := range []struct {
		ev  *event.Event
		d   *store.Delivery
		sub *store.Subscription
		id  *string
	}{{tt.evA, tt.dA, tt.subA, &tt.attemptsA}, {tt.evA, tt.dAApp, tt.subApp, &tt.attemptsApp}, {tt.evB, tt.dB, tt.subB, &tt.attemptsB}} {
		o := outcome(x.ev, x.d, 200, time.Time{})
		o.Attempts[0].SubscriptionConsumerID = x.sub.ConsumerID
		*x.id = o.Attempts[0].ID
		outcomes = append(outcomes, o)
	}
	require.NoError(e.t, e.s.RecordOutcomes(e.ctx, outcomes))

	tt.connA = e.connection("acme")
	tt.connB = e.connection("globex")
	tt.sessA = e.session("acme")
	tt.sessB = e.session("globex")
	return &tt
}

// session stores an hour-long session of consumerID.
func (e *env) session(consumerID string) *store.Session {
	e.t.Helper()
	_, hash := newToken()
	ss := &store.Session{
		ID:          store.NewID(),
		Hash:        hash,
		ConsumerID:  consumerID,
		Scopes:      []string{"connections:write", "webhooks:read"},
		ParentKeyID: "key_" + store.NewID(),
		ParentHash:  hash,
		ExpiresAt:   store.Now().Add(time.Hour),
	}
	require.NoError(e.t, e.s.CreateSession(e.ctx, store.Consumer(consumerID), ss))
	return ss
}

// tenancyTests prove on every store that a consumer's scope never reads or
// changes another consumer's rows, nor the application's, through any
// scoped method; that AllConsumers sees everything; and that the zero
// Scope sees and changes nothing.
var tenancyTests = map[string]func(*testing.T, *harness){
	"ReadsStayInScope": func(t *testing.T, h *harness) {
		e := h.env(t)
		tt := e.twoTenants()
		a := store.Consumer("acme")

		_, err := e.s.GetSubscription(e.ctx, a, tt.subA.ID)
		require.NoError(t, err, "own subscription")
		for name, id := range map[string]string{"B's": tt.subB.ID, "application-wide": tt.subApp.ID} {
			_, err := e.s.GetSubscription(e.ctx, a, id)
			require.ErrorIs(t, err, store.ErrNotFound, "%s subscription", name)
		}
		subs, err := e.s.ListSubscriptions(e.ctx, a, store.Page{})
		require.NoError(t, err)
		assert.Equal(t, []string{tt.subA.ID}, ids(subs, func(s *store.Subscription) string { return s.ID }))

		_, err = e.s.GetEvent(e.ctx, a, tt.evA.ID)
		require.NoError(t, err, "own event")
		_, err = e.s.GetEvent(e.ctx, a, tt.evB.ID)
		require.ErrorIs(t, err, store.ErrNotFound, "B's event")
		evs, err := e.s.ListEvents(e.ctx, a, store.EventFilter{}, store.Page{})
		require.NoError(t, err)
		assert.Equal(t, []string{tt.evA.ID}, ids(evs, func(ev *event.Event) string { return ev.ID }))
		evs, err = e.s.ListEvents(e.ctx, a, store.EventFilter{ConsumerID: "globex"}, store.Page{})
		require.NoError(t, err)
		assert.Empty(t, evs, "a filter naming B finds nothing in A's scope")

		_, err = e.s.GetDelivery(e.ctx, a, tt.dA.ID)
		require.NoError(t, err, "delivery to own subscription")
		for name, id := range map[string]string{"B's": tt.dB.ID, "to the application's subscription": tt.dAApp.ID} {
			_, err := e.s.GetDelivery(e.ctx, a, id)
			require.ErrorIs(t, err, store.ErrNotFound, "delivery %s", name)
		}
		ds, err := e.s.ListDeliveries(e.ctx, a, tt.evA.ID)
		require.NoError(t, err)
		assert.Equal(t, []string{tt.dA.ID}, ids(ds, func(d *store.Delivery) string { return d.ID }), "only deliveries to A's subscriptions")
		ds, err = e.s.ListDeliveries(e.ctx, a, tt.evB.ID)
		require.NoError(t, err)
		assert.Empty(t, ds, "B's event's deliveries")

		logs, err := e.s.ListAttempts(e.ctx, a, store.AttemptFilter{}, store.Page{})
		require.NoError(t, err)
		assert.Equal(t, []string{tt.attemptsA}, ids(logs, func(x *store.Attempt) string { return x.ID }),
			"only the tries of A's subscriptions, not the application's tries of A's events")
		logs, err = e.s.ListAttempts(e.ctx, a, store.AttemptFilter{SubscriptionID: tt.subB.ID}, store.Page{})
		require.NoError(t, err)
		assert.Empty(t, logs, "a filter naming B's subscription")

		_, err = e.s.GetConnection(e.ctx, a, tt.connA.ID)
		require.NoError(t, err, "own connection")
		_, err = e.s.GetConnection(e.ctx, a, tt.connB.ID)
		require.ErrorIs(t, err, store.ErrNotFound, "B's connection")
		conns, err := e.s.ListConnections(e.ctx, a, store.Page{})
		require.NoError(t, err)
		assert.Equal(t, []string{tt.connA.ID}, connectionIDs(conns))

		sess, err := e.s.ListSessions(e.ctx, a, store.Now(), store.Page{})
		require.NoError(t, err)
		assert.Equal(t, []string{tt.sessA.ID}, ids(sess, func(s *store.Session) string { return s.ID }))
	},
	"AllConsumersSeesEverything": func(t *testing.T, h *harness) {
		e := h.env(t)
		tt := e.twoTenants()
		all := store.AllConsumers()
		subs, err := e.s.ListSubscriptions(e.ctx, all, store.Page{})
		require.NoError(t, err)
		assert.Len(t, subs, 3)
		evs, err := e.s.ListEvents(e.ctx, all, store.EventFilter{}, store.Page{})
		require.NoError(t, err)
		assert.Len(t, evs, 2)
		ds, err := e.s.ListDeliveries(e.ctx, all, tt.evA.ID)
		require.NoError(t, err)
		assert.Len(t, ds, 2)
		logs, err := e.s.ListAttempts(e.ctx, all, store.AttemptFilter{}, store.Page{})
		require.NoError(t, err)
		assert.Len(t, logs, 3)
		conns, err := e.s.ListConnections(e.ctx, all, store.Page{})
		require.NoError(t, err)
		assert.Len(t, conns, 2)
		sess, err := e.s.ListSessions(e.ctx, all, store.Now(), store.Page{})
		require.NoError(t, err)
		assert.Len(t, sess, 2)
		sess, err = e.s.ListSessions(e.ctx, all.Narrow("globex"), store.Now(), store.Page{})
		require.NoError(t, err)
		assert.Equal(t, []string{tt.sessB.ID}, ids(sess, func(s *store.Session) string { return s.ID }), "narrowed to one consumer")
	},
	"ZeroScopeMatchesNothing": func(t *testing.T, h *harness) {
		e := h.env(t)
		tt := e.twoTenants()
		var none store.Scope
		_, err := e.s.GetSubscription(e.ctx, none, tt.subApp.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = e.s.GetEvent(e.ctx, none, tt.evA.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = e.s.GetDelivery(e.ctx, none, tt.dA.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = e.s.GetConnection(e.ctx, none, tt.connA.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
		subs, err := e.s.ListSubscriptions(e.ctx, none, store.Page{})
		require.NoError(t, err)
		assert.Empty(t, subs)
		evs, err := e.s.ListEvents(e.ctx, none, store.EventFilter{}, store.Page{})
		require.NoError(t, err)
		assert.Empty(t, evs)
		ds, err := e.s.ListDeliveries(e.ctx, none, tt.evA.ID)
		require.NoError(t, err)
		assert.Empty(t, ds)
		logs, err := e.s.ListAttempts(e.ctx, none, store.AttemptFilter{}, store.Page{})
		require.NoError(t, err)
		assert.Empty(t, logs)
		conns, err := e.s.ListConnections(e.ctx, none, store.Page{})
		require.NoError(t, err)
		assert.Empty(t, conns)
		sess, err := e.s.ListSessions(e.ctx, none, store.Now(), store.Page{})
		require.NoError(t, err)
		assert.Empty(t, sess)

		require.ErrorIs(t, e.s.DeleteSubscription(e.ctx, none, tt.subA.ID), store.ErrNotFound)
		require.ErrorIs(t, e.s.DeleteConnection(e.ctx, none, tt.connA.ID), store.ErrNotFound)
		require.ErrorIs(t, e.s.RevokeSession(e.ctx, none, tt.sessA.ID, store.Now()), store.ErrNotFound)
		_, err = e.s.Replay(e.ctx, none, tt.evA.ID, "")
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = e.s.PublishEvent(e.ctx, none, newEvent())
		require.ErrorIs(t, err, store.ErrOutOfScope)
	},
	"WritesStayInScope": func(t *testing.T, h *harness) {
		e := h.env(t)
		tt := e.twoTenants()
		a := store.Consumer("acme")

		// Creating for another consumer, or application-wide.
		for _, owner := range []string{"globex", ""} {
			sub := *tt.subA
			sub.ID, sub.ConsumerID = "", owner
			require.ErrorIs(t, e.s.CreateSubscription(e.ctx, a, &sub), store.ErrOutOfScope, "subscription for %q", owner)
			_, err := e.s.PublishEvent(e.ctx, a, newEvent(func(ev *event.Event) { ev.ConsumerID = owner }))
			require.ErrorIs(t, err, store.ErrOutOfScope, "event for %q", owner)
		}
		conn := *tt.connA
		conn.ID, conn.ConsumerID = "", "globex"
		conn.Token, conn.TokenHash = newToken()
		require.ErrorIs(t, e.s.CreateConnection(e.ctx, a, &conn), store.ErrOutOfScope)
		sess := *tt.sessA
		sess.ID, sess.ConsumerID = store.NewID(), "globex"
		require.ErrorIs(t, e.s.CreateSession(e.ctx, a, &sess), store.ErrOutOfScope)

		// Changing another's rows, even when the change names A as owner.
		for name, id := range map[string]string{"B's": tt.subB.ID, "application-wide": tt.subApp.ID} {
			hijack := *tt.subB
			hijack.ID, hijack.ConsumerID, hijack.DeliveryURL = id, "acme", "https://attacker.example/steal"
			require.ErrorIs(t, e.s.UpdateSubscription(e.ctx, a, &hijack), store.ErrNotFound, "updating %s subscription", name)
			require.ErrorIs(t, e.s.DeleteSubscription(e.ctx, a, id), store.ErrNotFound, "deleting %s subscription", name)
			got, err := e.s.GetSubscription(e.ctx, store.AllConsumers(), id)
			require.NoError(t, err, "%s subscription still there", name)
			assert.Equal(t, "https://example.com/hooks", got.DeliveryURL, "%s subscription unchanged", name)
		}
		give := *tt.subA
		give.ConsumerID = "globex"
		require.ErrorIs(t, e.s.UpdateSubscription(e.ctx, a, &give), store.ErrOutOfScope, "handing own subscription to B")
		give.ConsumerID = ""
		require.ErrorIs(t, e.s.UpdateSubscription(e.ctx, a, &give), store.ErrOutOfScope, "making own subscription application-wide")

		hijack := *tt.connB
		hijack.Credentials = map[string]string{"signing_secret": "attacker"}
		require.ErrorIs(t, e.s.UpdateConnection(e.ctx, a, &hijack), store.ErrNotFound)
		require.ErrorIs(t, e.s.DeleteConnection(e.ctx, a, tt.connB.ID), store.ErrNotFound)
		got, err := e.s.GetConnection(e.ctx, store.AllConsumers(), tt.connB.ID)
		require.NoError(t, err)
		assert.Equal(t, tt.connB.Credentials, got.Credentials, "B's credentials unchanged")

		require.ErrorIs(t, e.s.RevokeSession(e.ctx, a, tt.sessB.ID, store.Now()), store.ErrNotFound)
		sessions, err := e.s.ListSessions(e.ctx, store.Consumer("globex"), store.Now(), store.Page{})
		require.NoError(t, err)
		assert.Len(t, sessions, 1, "B's session still active")

		// Replays reach only A's own events and subscriptions.
		_, err = e.s.Replay(e.ctx, a, tt.evB.ID, "")
		require.ErrorIs(t, err, store.ErrNotFound, "replaying B's event")
		for name, id := range map[string]string{"B's": tt.subB.ID, "application-wide": tt.subApp.ID} {
			_, err := e.s.Replay(e.ctx, a, tt.evA.ID, id)
			require.ErrorIs(t, err, store.ErrNotFound, "replaying to %s subscription", name)
		}
		n, err := e.s.Replay(e.ctx, a, tt.evA.ID, "")
		require.NoError(t, err)
		assert.Equal(t, 1, n, "replay of A's event reaches A's subscription only, not the application's")
		n, err = e.s.Replay(e.ctx, store.AllConsumers(), tt.evA.ID, "")
		require.NoError(t, err)
		assert.Equal(t, 2, n, "the application's replay reaches both")

		// A's own writes work.
		require.NoError(t, e.s.RevokeSession(e.ctx, a, tt.sessA.ID, store.Now()))
		require.NoError(t, e.s.DeleteConnection(e.ctx, a, tt.connA.ID))
		require.NoError(t, e.s.DeleteSubscription(e.ctx, a, tt.subA.ID))
	},
	"SessionsEndWithTheirKey": func(t *testing.T, h *harness) {
		e := h.env(t)
		k := newKey("parent")
		require.NoError(t, e.s.CreateAPIKey(e.ctx, k))
		mine := e.session("acme")
		other := e.session("acme")
		_, hash := newToken()
		child := &store.Session{ID: store.NewID(), Hash: hash, ConsumerID: "acme", Scopes: []string{"webhooks:read"},
			ParentKeyID: k.ID, ParentHash: hash, ExpiresAt: store.Now().Add(time.Hour)}
		require.NoError(t, e.s.CreateSession(e.ctx, store.AllConsumers(), child))
		expired := &store.Session{ID: store.NewID(), Hash: hash, ConsumerID: "acme", Scopes: []string{"webhooks:read"},
			ParentKeyID: k.ID, ParentHash: hash, ExpiresAt: store.Now().Add(time.Minute)}
		require.NoError(t, e.s.CreateSession(e.ctx, store.AllConsumers(), expired))

		got, err := e.s.GetSession(e.ctx, child.ID)
		require.NoError(t, err)
		assert.Equal(t, "acme", got.ConsumerID)
		assert.Equal(t, []string{"webhooks:read"}, got.Scopes)
		assert.Equal(t, k.ID, got.ParentKeyID)
		assert.Equal(t, hash, got.ParentHash)
		assert.JSONEq(t, `{}`, string(got.Metadata))
		assert.Nil(t, got.RevokedAt)

		require.NoError(t, e.s.RevokeAPIKey(e.ctx, k.ID, store.Now()))
		got, err = e.s.GetSession(e.ctx, child.ID)
		require.NoError(t, err)
		assert.NotNil(t, got.RevokedAt, "revoking the key revoked its session")

		// An hour on, the minute-long session has expired.
		list, err := e.s.ListSessions(e.ctx, store.Consumer("acme"), store.Now().Add(time.Hour-time.Second), store.Page{})
		require.NoError(t, err)
		assert.ElementsMatch(t, []string{mine.ID, other.ID}, ids(list, func(s *store.Session) string { return s.ID }),
			"the revoked and the expired session are not listed")
		require.ErrorIs(t, e.s.RevokeSession(e.ctx, store.Consumer("acme"), child.ID, store.Now()), store.ErrNotFound, "already revoked")
		_, err = e.s.GetSession(e.ctx, unknownID())
		require.ErrorIs(t, err, store.ErrNotFound)
	},
}
