package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/api"
	"github.com/switchboardhq/switchboard/hub/apikey"
	"github.com/switchboardhq/switchboard/hub/store"
)

// settle records one outcome for the delivery of eventID to subID:
// delivered, or failed for good.
func (h *hub) settle(eventID, subID string, delivered bool) {
	h.t.Helper()
	ctx := context.Background()
	ds, err := h.store.ListDeliveries(ctx, store.AllConsumers(), eventID)
	require.NoError(h.t, err)
	for _, d := range ds {
		if d.SubscriptionID != subID {
			continue
		}
		o := store.Outcome{DeliveryID: d.ID, SubscriptionID: subID, Status: store.DeliveryFailed,
			Attempts: []store.Attempt{{DeliveryID: d.ID, EventID: eventID, SubscriptionID: subID, StatusCode: 500,
				ExecutionAttempt: 1, Endpoint: "https://example.com/hook", EventType: "accounting.invoice.created",
				UnifiedAPI: "accounting", ConsumerID: "acme"}}}
		if delivered {
			o.Status, o.Attempts[0].StatusCode, o.Attempts[0].Success = store.DeliveryDelivered, 200, true
		}
		require.NoError(h.t, h.store.RecordOutcomes(ctx, []store.Outcome{o}))
		return
	}
	h.t.Fatalf("no delivery of %s to %s", eventID, subID)
}

func TestRecover(t *testing.T) {
	t.Parallel()
	stores(t, func(t *testing.T, open func(t *testing.T, configure ...func(*api.Config)) *hub) {
		h := open(t, func(c *api.Config) { c.MaxRecoveryEvents = 2 })
		ctx := context.Background()
		since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
		sub := h.subscribe(map[string]any{"consumer_id": "acme"})
		publish := func() string {
			return h.publish(map[string]any{"event_type": "accounting.invoice.created", "consumer_id": "acme", "entity_id": "inv_1"})
		}
		ok, failed, pending := publish(), publish(), publish()
		h.settle(ok, sub, true)
		h.settle(failed, sub, false)
		_ = pending // its try is still to come: never doubled

		res := h.post("/webhook/webhooks/"+sub+"/recover", map[string]any{"since": since, "dry_run": true})
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		assert.Equal(t, 1.0, res.Data()["count"])

		res = h.post("/webhook/webhooks/"+sub+"/recover", map[string]any{"since": since})
		require.Equal(t, http.StatusAccepted, res.Status, "%s", res.Body)
		id := res.Str("data", "id")
		assert.Equal(t, "running", res.Str("data", "status"))
		assert.Equal(t, 1.0, res.Data()["total"])
		requireError(t, h.post("/webhook/webhooks/"+sub+"/recover", map[string]any{"since": since}),
			http.StatusConflict, "ConflictError", "already running")

		res = h.get("/webhook/recoveries/" + id)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		assert.Equal(t, "running", res.Str("data", "status"))
		assert.Equal(t, sub, res.Str("data", "subscription_id"))

		// The queue of this test hub does nothing: work the job's batch
		// here as the worker would.
		r, err := h.store.RecoverBatch(ctx, id)
		require.NoError(t, err)
		require.Equal(t, store.RecoveryCompleted, r.Status)
		res = h.get("/webhook/recoveries/" + id)
		assert.Equal(t, "completed", res.Str("data", "status"))
		assert.Equal(t, 1.0, res.Data()["done"])
		ds, err := h.store.ListDeliveries(ctx, store.AllConsumers(), failed)
		require.NoError(t, err)
		assert.Len(t, ds, 2, "the failed event was delivered again")
		for _, ev := range []string{ok, pending} {
			ds, err := h.store.ListDeliveries(ctx, store.AllConsumers(), ev)
			require.NoError(t, err)
			assert.Len(t, ds, 1, "event %s was not sent again", ev)
		}

		// The cap: three events to recover, with MaxRecoveryEvents 2.
		for _, ev := range []string{publish(), publish(), publish()} {
			h.settle(ev, sub, false)
		}
		requireError(t, h.post("/webhook/webhooks/"+sub+"/recover", map[string]any{"since": since}),
			http.StatusUnprocessableEntity, "RequestValidationError", "more than 2 events")

		requireError(t, h.post("/webhook/webhooks/"+sub+"/recover", map[string]any{}),
			http.StatusUnprocessableEntity, "RequestValidationError", "since is required")
		requireError(t, h.post("/webhook/webhooks/"+sub+"/recover", map[string]any{"since": "yesterday"}),
			http.StatusUnprocessableEntity, "RequestValidationError", "since must be an RFC 3339 time")
		requireError(t, h.post("/webhook/webhooks/"+sub+"/recover", map[string]any{"since": since, "until": since}),
			http.StatusUnprocessableEntity, "RequestValidationError", "until must be after since")
		requireError(t, h.post("/webhook/webhooks/"+sub+"/recover", `{"since":"`+since+`","dry":true}`),
			http.StatusBadRequest, "RequestValidationError", "dry is not a known field")
		missing := "01938a8e-7d1c-7c4e-9d7e-2b1f4a9c0e11"
		requireError(t, h.post("/webhook/webhooks/"+missing+"/recover", map[string]any{"since": since}),
			http.StatusNotFound, "EntityNotFoundError", "subscription "+missing+" not found")
		requireError(t, h.get("/webhook/recoveries/"+missing), http.StatusNotFound, "EntityNotFoundError", "recovery "+missing+" not found")
		off := h.subscribe(map[string]any{"status": "disabled"})
		requireError(t, h.post("/webhook/webhooks/"+off+"/recover", map[string]any{"since": since}),
			http.StatusConflict, "ConflictError", "is disabled")

		// Tenancy: another consumer's key neither recovers nor sees.
		globex := h.boundKey("globex", apikey.ScopeWebhooksWrite, apikey.ScopeWebhooksRead)
		requireError(t, h.do(req{Method: "POST", Path: "/webhook/webhooks/" + sub + "/recover", Key: globex, Body: map[string]any{"since": since, "dry_run": true}}),
			http.StatusNotFound, "EntityNotFoundError", "not found")
		requireError(t, h.do(req{Method: "GET", Path: "/webhook/recoveries/" + id, Key: globex}),
			http.StatusNotFound, "EntityNotFoundError", "recovery "+id+" not found")
		acme := h.boundKey("acme", apikey.ScopeWebhooksRead)
		res = h.do(req{Method: "GET", Path: "/webhook/recoveries/" + id, Key: acme})
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		requireError(t, h.do(req{Method: "POST", Path: "/webhook/webhooks/" + sub + "/recover", Key: acme, Body: map[string]any{"since": since}}),
			http.StatusForbidden, "ForbiddenError", "lacks the webhooks:write scope")
	})
}
