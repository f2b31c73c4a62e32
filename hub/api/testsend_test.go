package api_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/api"
	"github.com/switchboardhq/switchboard/hub/apikey"
	"github.com/switchboardhq/switchboard/hub/store"
)

// boundKey stores a key bound to consumer and returns its plaintext.
func (h *hub) boundKey(consumer string, scopes ...string) string {
	h.t.Helper()
	plain, k, err := apikey.Generate("bound", scopes, consumer)
	require.NoError(h.t, err)
	require.NoError(h.t, h.store.CreateAPIKey(context.Background(), k))
	return plain
}

func TestSendTestEvent(t *testing.T) {
	t.Parallel()
	stores(t, func(t *testing.T, open func(t *testing.T, configure ...func(*api.Config)) *hub) {
		h := open(t)
		ctx := context.Background()
		mine := h.subscribe(map[string]any{"consumer_id": "acme", "events": []string{"accounting.invoice.paid", "accounting.invoice.created"}})
		// Takes the same events of every consumer, yet never gets a test
		// send meant for another subscription.
		appWide := h.subscribe(map[string]any{"events": []string{"*"}})

		res := h.post("/webhook/webhooks/"+mine+"/test", nil)
		require.Equal(t, http.StatusAccepted, res.Status, "%s", res.Body)
		evID := res.Str("data", "event_id")
		assert.Contains(t, []string{"accounting.invoice.paid", "accounting.invoice.created"}, res.Str("data", "event_type"))
		assert.Equal(t, "acme", res.Str("data", "consumer_id"))
		assert.Equal(t, mine, res.Str("data", "delivery", "subscription_id"))
		assert.Equal(t, "pending", res.Str("data", "delivery", "status"))
		ds, err := h.store.ListDeliveries(ctx, store.AllConsumers(), evID)
		require.NoError(t, err)
		require.Len(t, ds, 1, "only the tested subscription gets the event")
		assert.Equal(t, mine, ds[0].SubscriptionID)
		ev := h.get("/webhook/events/" + evID)
		require.Equal(t, http.StatusOK, ev.Status, "%s", ev.Body)
		assert.Equal(t, "test", ev.Str("data", "event_source"))
		assert.Equal(t, "acme", ev.Str("data", "consumer_id"))

		res = h.post("/webhook/webhooks/"+mine+"/test", map[string]any{"event_type": "accounting.invoice.paid"})
		require.Equal(t, http.StatusAccepted, res.Status, "%s", res.Body)
		assert.Equal(t, "accounting.invoice.paid", res.Str("data", "event_type"))

		// An application-wide subscription's test event belongs to the
		// test consumer, not to a real one.
		res = h.post("/webhook/webhooks/"+appWide+"/test", nil)
		require.Equal(t, http.StatusAccepted, res.Status, "%s", res.Body)
		assert.Equal(t, api.TestConsumerID, res.Str("data", "consumer_id"))
		assert.Regexp(t, `^accounting\.`, res.Str("data", "event_type"))

		_, before := h.counts()
		requireError(t, h.post("/webhook/webhooks/"+mine+"/test", map[string]any{"event_type": "accounting.invoice.pad"}),
			http.StatusUnprocessableEntity, "RequestValidationError", "closest it takes: accounting.invoice.paid")
		requireError(t, h.post("/webhook/webhooks/"+mine+"/test", map[string]any{"event_type": "crm.lead.created"}),
			http.StatusUnprocessableEntity, "RequestValidationError", `does not take "crm.lead.created"`)
		requireError(t, h.post("/webhook/webhooks/"+mine+"/test", `{"type":"x"}`),
			http.StatusBadRequest, "RequestValidationError", "type is not a known field")
		missing := "01938a8e-7d1c-7c4e-9d7e-2b1f4a9c0e11"
		requireError(t, h.post("/webhook/webhooks/"+missing+"/test", nil), http.StatusNotFound, "EntityNotFoundError", "subscription "+missing+" not found")

		off := h.subscribe(map[string]any{"status": "disabled"})
		requireError(t, h.post("/webhook/webhooks/"+off+"/test", nil), http.StatusConflict, "ConflictError", "is disabled")

		// A consumer-bound key tests its own subscriptions only.
		globex := h.boundKey("globex", apikey.ScopeWebhooksWrite)
		requireError(t, h.do(req{Method: "POST", Path: "/webhook/webhooks/" + mine + "/test", Key: globex}),
			http.StatusNotFound, "EntityNotFoundError", "subscription "+mine+" not found")
		requireError(t, h.do(req{Method: "POST", Path: "/webhook/webhooks/" + appWide + "/test", Key: globex}),
			http.StatusNotFound, "EntityNotFoundError", "not found")
		_, after := h.counts()
		assert.Equal(t, before, after, "refused test sends stored nothing")

		acme := h.boundKey("acme", apikey.ScopeWebhooksWrite)
		res = h.do(req{Method: "POST", Path: "/webhook/webhooks/" + mine + "/test", Key: acme})
		require.Equal(t, http.StatusAccepted, res.Status, "%s", res.Body)
	})
}
