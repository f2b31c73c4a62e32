package vault_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/store"
	"github.com/switchboardhq/switchboard/hub/vault"
)

// TestConnectionEvents: creating, updating, disabling, enabling and
// deleting a connection publish Apideck's vault.connection.* events to the
// connection's consumer, stored and fanned out like any event; "*" never
// receives them, and another consumer's subscription never does.
func TestConnectionEvents(t *testing.T) {
	t.Parallel()
	h := newHub(t) // a vault over the hub's store publishes its connection events
	ctx := context.Background()
	named := []string{vault.EventConnectionCreated, vault.EventConnectionUpdated, vault.EventConnectionDeleted,
		vault.EventConnectionCallable, vault.EventConnectionDisabled}
	sub := func(api, consumer string, events ...string) string {
		s := &store.Subscription{UnifiedAPI: api, Status: store.StatusEnabled, DisabledReason: store.DisabledNone,
			DeliveryURL: "https://example.com/hook", Events: events, ConsumerID: consumer, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
		sc := store.AllConsumers()
		require.NoError(t, h.store.CreateSubscription(ctx, sc, s))
		return s.ID
	}
	acmeSub := sub("vault", acme, named...)
	appSub := sub("*", "", "vault.connection.deleted")
	wildcard := sub("*", "", "*")
	sub("vault", globex, named...)

	res := h.create(acme, managedBody())
	id := res.Str("data", "id")
	upd := h.patch(acme, "/vault/connections/"+id, map[string]any{"status": "disabled"})
	require.Equal(t, http.StatusOK, upd.Status, "%s", upd.Body)
	upd = h.patch(acme, "/vault/connections/"+id, map[string]any{"status": "active"})
	require.Equal(t, http.StatusOK, upd.Status, "%s", upd.Body)
	del := h.del(acme, "/vault/connections/"+id)
	require.Equal(t, http.StatusOK, del.Status, "%s", del.Body)

	evs, err := h.store.ListEvents(ctx, store.Consumer(acme), store.EventFilter{}, store.Page{Limit: 50})
	require.NoError(t, err)
	var types []string
	for i := len(evs) - 1; i >= 0; i-- { // oldest first
		types = append(types, evs[i].EventType)
	}
	require.Equal(t, []string{
		"vault.connection.created", "vault.connection.callable",
		"vault.connection.updated", "vault.connection.disabled",
		"vault.connection.updated", "vault.connection.callable",
		"vault.connection.deleted",
	}, types)
	for _, ev := range evs {
		assert.Equal(t, "vault", ev.UnifiedAPI)
		assert.Equal(t, acme, ev.ConsumerID)
		assert.Equal(t, "managed", ev.ServiceID)
		assert.Equal(t, id, ev.EntityID)
		assert.Equal(t, id, ev.ConnectionID)
		assert.Equal(t, "connection", ev.EntityType)
		assert.Equal(t, publicURL+"/vault/connections/"+id, ev.EntityURL)
		var entity map[string]any
		require.NoError(t, json.Unmarshal(ev.Entity, &entity))
		assert.Equal(t, id, entity["id"])
		assert.Equal(t, "accounting", entity["unified_api"], "the connector's first unified API")
		assert.NotContains(t, string(ev.Entity), apiKey, "never a credential")
		assert.NotContains(t, entity, "settings")

		deliveries, err := h.store.ListDeliveries(ctx, store.AllConsumers(), ev.ID)
		require.NoError(t, err)
		var to []string
		for _, d := range deliveries {
			to = append(to, d.SubscriptionID)
			assert.NotEqual(t, wildcard, d.SubscriptionID, `"*" never receives vault events`)
		}
		want := []string{acmeSub}
		if ev.EventType == vault.EventConnectionDeleted {
			want = append(want, appSub)
		}
		assert.ElementsMatch(t, want, to, "%s goes to the subscriptions naming it, in the consumer's scope", ev.EventType)
	}
	disabled := evs[3]
	require.Equal(t, vault.EventConnectionDisabled, disabled.EventType)
	assert.JSONEq(t, `false`, string(mustField(t, disabled.Entity, "enabled")))
	assert.JSONEq(t, `"disabled"`, string(mustField(t, disabled.Entity, "status")))

	// Each event is valid against the catalogue's connection schema.
	cat := event.Default()
	for _, ev := range evs {
		typ, ok := cat.Lookup(ev.EventType)
		require.True(t, ok, ev.EventType)
		sch, ok := cat.Schema(typ.EntityType)
		require.True(t, ok, typ.EntityType)
		require.NoError(t, sch.Validate(ev.Entity), ev.EventType)
	}
	assert.Contains(t, h.logs.String(), "connection event published")
}

func mustField(t *testing.T, doc json.RawMessage, field string) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(doc, &m))
	return m[field]
}
