package api_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/api"
	"github.com/switchboardhq/switchboard/hub/apikey"
	"github.com/switchboardhq/switchboard/hub/store"
)

func (h *hub) storeConnection(consumerID string, registrations json.RawMessage) string {
	h.t.Helper()
	hash := make([]byte, 32)
	_, _ = rand.Read(hash)
	c := &store.Connection{ConsumerID: consumerID, ServiceID: "dversum", Status: store.ConnectionActive,
		Settings: json.RawMessage(`{}`), Credentials: map[string]string{"signing_secret": "s3cret"},
		Token: "tok_" + store.NewID(), TokenHash: hash, Registrations: registrations}
	require.NoError(h.t, h.store.CreateConnection(context.Background(), store.AllConsumers(), c))
	return c.ID
}

func TestEraseConsumerData(t *testing.T) {
	t.Parallel()
	stores(t, func(t *testing.T, open func(t *testing.T, configure ...func(*api.Config)) *hub) {
		h := open(t)
		ctx := context.Background()
		acmeSub := h.subscribe(map[string]any{"consumer_id": "acme"})
		appSub := h.subscribe(nil)
		ev1 := h.publish(map[string]any{"event_type": "accounting.invoice.created", "consumer_id": "acme", "entity_id": "inv_1"})
		h.publish(map[string]any{"event_type": "accounting.invoice.created", "consumer_id": "acme", "entity_id": "inv_2"})
		other := h.publish(map[string]any{"event_type": "accounting.invoice.created", "consumer_id": "globex", "entity_id": "inv_3"})
		ds, err := h.store.ListDeliveries(ctx, store.AllConsumers(), ev1)
		require.NoError(t, err)
		require.Len(t, ds, 2)
		var outcomes []store.Outcome
		for _, d := range ds {
			outcomes = append(outcomes, store.Outcome{DeliveryID: d.ID, SubscriptionID: d.SubscriptionID, Status: store.DeliveryDelivered,
				Attempts: []store.Attempt{{DeliveryID: d.ID, EventID: ev1, EventType: "accounting.invoice.created", SubscriptionID: d.SubscriptionID,
					ConsumerID: "acme", StatusCode: 200, Success: true, ExecutionAttempt: 1}}})
		}
		require.NoError(t, h.store.RecordOutcomes(ctx, outcomes))
		plain := h.storeConnection("acme", nil)
		registered := h.storeConnection("acme", json.RawMessage(`{"hook_id":"h_1"}`))

		// Only an application-wide admin may erase.
		for _, key := range []string{h.createKey("webhooks:read", "webhooks:write", "events:write"), boundAdmin(t, h, "acme")} {
			res := h.do(req{Method: "DELETE", Path: "/webhook/consumers/acme/data", Key: key})
			assert.Equal(t, http.StatusForbidden, res.Status, "%s", res.Body)
		}
		requireError(t, h.del("/webhook/consumers/acme/data?connections=maybe"), http.StatusBadRequest, api.TypeRequestValidation, "connections must be true or false")

		// A registered connection refuses the whole call before anything goes.
		res := h.del("/webhook/consumers/acme/data?connections=true")
		requireError(t, res, http.StatusConflict, api.TypeConflict, "DELETE /vault/connections/{id}")
		assert.Equal(t, http.StatusOK, h.get("/webhook/events/"+ev1).Status, "nothing erased")

		res = h.del("/webhook/consumers/acme/data")
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		assert.Equal(t, map[string]any{"consumer_id": "acme", "events": 2.0, "deliveries": 4.0, "attempts": 2.0,
			"connections": 0.0, "subscriptions": 0.0}, res.Data())
		assert.Equal(t, http.StatusNotFound, h.get("/webhook/events/"+ev1).Status)
		assert.Equal(t, http.StatusOK, h.get("/webhook/events/"+other).Status, "another consumer's event stays")
		logs := h.get("/webhook/logs?filter[consumer_id]=acme")
		require.Equal(t, http.StatusOK, logs.Status)
		assert.Empty(t, logs.List(), "the consumer's log is gone")
		assert.Equal(t, http.StatusOK, h.get("/webhook/webhooks/"+acmeSub).Status, "subscriptions stay unless asked")

		require.NoError(t, h.store.DeleteConnection(ctx, store.Consumer("acme"), registered))
		res = h.del("/webhook/consumers/acme/data?connections=true&subscriptions=true")
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		assert.Equal(t, map[string]any{"consumer_id": "acme", "events": 0.0, "deliveries": 0.0, "attempts": 0.0,
			"connections": 1.0, "subscriptions": 1.0}, res.Data())
		_, err = h.store.GetConnection(ctx, store.AllConsumers(), plain)
		require.ErrorIs(t, err, store.ErrNotFound)
		assert.Equal(t, http.StatusNotFound, h.get("/webhook/webhooks/"+acmeSub).Status)
		assert.Equal(t, http.StatusOK, h.get("/webhook/webhooks/"+appSub).Status, "application-wide subscriptions stay")
	})
}

// boundAdmin stores an admin key bound to consumerID and returns it.
func boundAdmin(t *testing.T, h *hub, consumerID string) string {
	t.Helper()
	plain, k, err := apikey.Generate("bound", []string{apikey.ScopeAdmin}, consumerID)
	if err != nil {
		// Admin keys may not be bound; a bound key with every other scope
		// is the strongest consumer credential then.
		plain, k, err = apikey.Generate("bound", []string{"webhooks:read", "webhooks:write", "events:write", "connections:write"}, consumerID)
	}
	require.NoError(t, err)
	require.NoError(t, h.store.CreateAPIKey(context.Background(), k))
	return plain
}
