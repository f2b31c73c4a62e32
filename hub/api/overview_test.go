package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/api"
	"github.com/switchboardhq/switchboard/hub/store"
)

func TestOverview(t *testing.T) {
	t.Parallel()
	stores(t, func(t *testing.T, open func(*testing.T, ...func(*api.Config)) *hub) {
		h := open(t, func(c *api.Config) {
			c.Connectors = func() []api.ConnectorHealth {
				return []api.ConnectorHealth{{ID: "dversum", Status: "running", Restarts: 2}}
			}
		})
		live := h.subscribe(map[string]any{"events": []string{"accounting.invoice.paid"}})
		dead := h.subscribe(map[string]any{"consumer_id": "acme"})
		require.Equal(t, http.StatusOK, h.patch("/webhook/webhooks/"+dead, map[string]any{"status": "disabled"}).Status)
		ev := h.publish(map[string]any{"event_type": "accounting.invoice.paid", "entity_id": "inv_1", "consumer_id": "globex"})
		h.publish(map[string]any{"event_type": "accounting.invoice.created", "entity_id": "inv_2", "consumer_id": "globex"})

		// One failed try of the first event's delivery, as a worker logs it.
		ctx := context.Background()
		ds, err := h.store.ListDeliveries(ctx, store.AllConsumers(), ev)
		require.NoError(t, err)
		require.Len(t, ds, 1)
		d := ds[0]
		now := store.Now()
		require.NoError(t, h.store.RecordOutcomes(ctx, []store.Outcome{{
			DeliveryID: d.ID, SubscriptionID: live, Status: store.DeliveryPending, At: now, NextAttemptAt: now.Add(time.Hour),
			Attempts: []store.Attempt{{ID: store.NewID(), DeliveryID: d.ID, EventID: ev, EventType: "accounting.invoice.paid",
				SubscriptionID: live, Endpoint: "https://example.com/hook", StatusCode: 503, ExecutionAttempt: 1, Timestamp: now, RetryScheduled: true}},
		}}))

		res := h.get("/admin/overview")
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		data := res.Data()
		minutes := data["minutes"].([]any)
		require.Len(t, minutes, 60, "every minute of the hour, zeros included")
		last := minutes[59].(map[string]any)
		first := minutes[0].(map[string]any)
		assert.Less(t, first["minute"], last["minute"], "oldest first")
		totals := data["totals"].(map[string]any)
		assert.EqualValues(t, 2, totals["events"])
		assert.EqualValues(t, 1, totals["deliveries"])
		assert.EqualValues(t, 1, totals["failures"])
		assert.EqualValues(t, 1, totals["failure_rate"])
		queue := data["queue"].(map[string]any)
		assert.GreaterOrEqual(t, queue["pending"], 0.0)
		conns := data["connectors"].([]any)
		require.Len(t, conns, 1)
		assert.EqualValues(t, 2, conns[0].(map[string]any)["restarts"])
		subs := data["subscriptions"].(map[string]any)
		assert.EqualValues(t, 2, subs["total"])
		assert.EqualValues(t, 1, subs["disabled"])
		listed := subs["disabled_list"].([]any)
		require.Len(t, listed, 1)
		assert.Equal(t, dead, listed[0].(map[string]any)["id"])
		assert.Equal(t, "acme", listed[0].(map[string]any)["consumer_id"])

		bound := h.do(req{Method: "GET", Path: "/admin/overview", Key: h.createKey("webhooks:read")})
		assert.Equal(t, http.StatusForbidden, bound.Status, "only admins see the overview")
	})
}
