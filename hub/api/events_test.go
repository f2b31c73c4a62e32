package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/store"
)

func TestPublishEvent(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	all := h.subscribe(map[string]any{"events": []string{"*"}})
	updated := h.subscribe(map[string]any{"events": []string{"accounting.invoice.updated"}})
	h.subscribe(map[string]any{"events": []string{"accounting.invoice.created"}}) // does not match
	h.subscribe(map[string]any{"events": []string{"*"}, "consumer_id": "other"})  // other consumer
	h.subscribe(map[string]any{"events": []string{"*"}, "status": "disabled"})    // disabled

	res := h.post("/webhook/events", map[string]any{
		"event_type":  "accounting.invoice.paid",
		"consumer_id": "acme",
		"entity_id":   "inv_abc123",
		"entity":      map[string]any{"id": "inv_abc123", "total": 1190.00, "currency": "EUR"},
		"occurred_at": "2024-01-15T10:30:00Z",
	})
	require.Equal(t, http.StatusAccepted, res.Status, "%s", res.Body)
	assert.Equal(t, "Accepted", res.JSON["status"])
	assert.Equal(t, 202.0, res.JSON["status_code"])
	id := res.Str("data", "id")
	assert.Equal(t, "accounting.invoice.paid", res.Str("data", "event_type"))
	assert.Equal(t, 2.0, res.Data()["deliveries"], "the * subscription and the one for the base type")
	assert.Empty(t, res.Header.Get("Idempotent-Replayed"))

	ev, err := h.store.GetEvent(context.Background(), store.AllConsumers(), id)
	require.NoError(t, err)
	assert.Equal(t, "accounting", ev.UnifiedAPI)
	assert.Equal(t, "accounting.invoice.updated", ev.BaseEventType, "from the catalogue")
	assert.Equal(t, "switchboard", ev.ServiceID)
	assert.Equal(t, "api", ev.EventSource)
	assert.Equal(t, "invoice", ev.EntityType, "from the event type")
	assert.Equal(t, "https://hub.example.com/accounting/invoices/inv_abc123", ev.EntityURL)
	assert.Equal(t, time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC), ev.OccurredAt)
	assert.JSONEq(t, `{"id":"inv_abc123","total":1190,"currency":"EUR"}`, string(ev.Entity))

	got := h.get("/webhook/events/" + id)
	require.Equal(t, http.StatusOK, got.Status, "%s", got.Body)
	d := got.Data()
	assert.Equal(t, id, d["id"])
	assert.Equal(t, "accounting.invoice.updated", d["base_event_type"])
	assert.Nil(t, d["connection_id"])
	assert.Equal(t, "2024-01-15T10:30:00Z", d["occurred_at"])
	assert.Equal(t, "EUR", d["entity"].(map[string]any)["currency"])
	deliveries := d["deliveries"].([]any)
	require.Len(t, deliveries, 2)
	var subs []string
	for _, dl := range deliveries {
		dm := dl.(map[string]any)
		assert.Equal(t, "pending", dm["status"])
		subs = append(subs, dm["subscription_id"].(string))
	}
	assert.ElementsMatch(t, []string{all, updated}, subs)

	// The catalogue fixes entity_type and base_event_type: a publisher
	// may repeat them, not contradict them.
	res = h.post("/webhook/events", map[string]any{
		"event_type": "issue-tracking.ticket.created", "consumer_id": "acme", "entity_id": "T-1",
		"entity_type": "issue", "base_event_type": "issue-tracking.ticket.updated", "service_id": "vplan",
	})
	requireFieldErrors(t, res, "base_event_type", "entity_type")
	res = h.post("/webhook/events", map[string]any{
		"event_type": "issue-tracking.ticket.created", "consumer_id": "acme", "entity_id": "T-1",
		"entity_type": "ticket", "service_id": "vplan",
	})
	require.Equal(t, http.StatusAccepted, res.Status, "%s", res.Body)
	ev, err = h.store.GetEvent(context.Background(), store.AllConsumers(), res.Str("data", "id"))
	require.NoError(t, err)
	assert.Equal(t, "ticket", ev.EntityType)
	assert.Equal(t, "", ev.BaseEventType)
	assert.Equal(t, "vplan", ev.ServiceID)
	assert.Equal(t, "issue-tracking", ev.UnifiedAPI)
	assert.Equal(t, 0.0, res.Data()["deliveries"])

	assert.Equal(t, 2.0, counterValue(t, h.metrics.EventsPublished.WithLabelValues("api", "false")))

	requireError(t, h.get("/webhook/events/01938a8e-7d1c-7c4e-9d7e-2b1f4a9c0e11"), 404, "EntityNotFoundError", "event 01938a8e-7d1c-7c4e-9d7e-2b1f4a9c0e11 not found")
}

func TestPublishIdempotency(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	h.subscribe(nil)
	body := map[string]any{
		"event_type": "accounting.invoice.created", "consumer_id": "acme", "entity_id": "inv_1",
		"entity": map[string]any{"total": 1, "customer": map[string]any{"id": "c1"}}, "idempotency_key": "k-1",
	}
	first := h.post("/webhook/events", body)
	require.Equal(t, http.StatusAccepted, first.Status, "%s", first.Body)
	id := first.Str("data", "id")

	// The same request, keys in another order and spaced differently.
	same := `{"idempotency_key":"k-1", "entity": {"customer": {"id": "c1"}, "total": 1}, "entity_id":"inv_1","consumer_id":"acme","event_type":"accounting.invoice.created"}`
	second := h.post("/webhook/events", same)
	require.Equal(t, http.StatusAccepted, second.Status, "%s", second.Body)
	assert.Equal(t, id, second.Str("data", "id"))
	assert.Equal(t, "true", second.Header.Get("Idempotent-Replayed"))
	assert.Equal(t, 1.0, second.Data()["deliveries"], "the deliveries the first request made")

	// The key may come as a header too.
	hdr := h.do(req{Method: "POST", Path: "/webhook/events", Key: bootstrapKey,
		Body:   map[string]any{"event_type": "accounting.invoice.created", "consumer_id": "acme", "entity_id": "inv_1", "entity": map[string]any{"total": 1, "customer": map[string]any{"id": "c1"}}},
		Header: map[string]string{"Idempotency-Key": "k-1"}})
	require.Equal(t, http.StatusAccepted, hdr.Status, "%s", hdr.Body)
	assert.Equal(t, id, hdr.Str("data", "id"))

	changed := h.post("/webhook/events", map[string]any{
		"event_type": "accounting.invoice.created", "consumer_id": "acme", "entity_id": "inv_2", "idempotency_key": "k-1",
	})
	requireError(t, changed, http.StatusConflict, "ConflictError", "idempotency_key was already used for a different request")

	// Keys are per consumer.
	other := h.post("/webhook/events", map[string]any{
		"event_type": "accounting.invoice.created", "consumer_id": "globex", "entity_id": "inv_2", "idempotency_key": "k-1",
	})
	require.Equal(t, http.StatusAccepted, other.Status, "%s", other.Body)
	assert.NotEqual(t, id, other.Str("data", "id"))

	_, events := h.counts()
	assert.Equal(t, 2, events)
	assert.Equal(t, 2.0, counterValue(t, h.metrics.EventsPublished.WithLabelValues("api", "true")))
	assert.Equal(t, 2.0, counterValue(t, h.metrics.EventsPublished.WithLabelValues("api", "false")))
}

func TestPublishValidation(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	valid := func(change map[string]any) map[string]any {
		b := map[string]any{"event_type": "accounting.invoice.created", "consumer_id": "acme", "entity_id": "inv_1"}
		for k, v := range change {
			if v == "<delete>" {
				delete(b, k)
				continue
			}
			b[k] = v
		}
		return b
	}
	tests := []struct {
		name   string
		body   any
		status int
		field  string
		want   string
	}{
		{"event_type missing", valid(map[string]any{"event_type": "<delete>"}), 422, "event_type", "event_type is required"},
		{"event_type bad", valid(map[string]any{"event_type": "InvoiceCreated"}), 422, "event_type", `event_type must be an event type such as accounting.invoice.created, got "InvoiceCreated"`},
		{"event_type number", valid(map[string]any{"event_type": 5}), 400, "event_type", "event_type must be a string, got number"},
		{"consumer_id missing", valid(map[string]any{"consumer_id": "<delete>"}), 422, "consumer_id", "consumer_id is required"},
		{"consumer_id too long", valid(map[string]any{"consumer_id": strings.Repeat("a", 256)}), 422, "consumer_id", "at most 255"},
		{"entity_id missing", valid(map[string]any{"entity_id": ""}), 422, "entity_id", "entity_id is required"},
		{"entity_type bad", valid(map[string]any{"entity_type": "Invoice Type"}), 422, "entity_type", "entity_type must be a lower-case name"},
		{"entity array", valid(map[string]any{"entity": []int{1}}), 422, "entity", "entity must be a JSON object"},
		{"entity string", valid(map[string]any{"entity": "x"}), 422, "entity", "entity must be a JSON object"},
		{"occurred_at bad", valid(map[string]any{"occurred_at": "yesterday"}), 422, "occurred_at", "occurred_at must be an RFC 3339 time"},
		{"occurred_at no zone", valid(map[string]any{"occurred_at": "2024-01-15T10:30:00"}), 422, "occurred_at", "occurred_at must be an RFC 3339 time"},
		{"idempotency_key too long", valid(map[string]any{"idempotency_key": strings.Repeat("k", 256)}), 422, "idempotency_key", "at most 255"},
		{"base_event_type bad", valid(map[string]any{"base_event_type": "x"}), 422, "base_event_type", "base_event_type must be an event type"},
		{"service_id bad", valid(map[string]any{"service_id": "D Versum"}), 422, "service_id", "service_id must be a lower-case service id"},
		{"unknown field", valid(map[string]any{"event_id": "x"}), 400, "event_id", "event_id is not a known field"},
		{"operational type", valid(map[string]any{"event_type": "webhook.subscription.disabled"}), 422, "event_type",
			"webhook.subscription.disabled is an operational event the hub sends itself; it cannot be published"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := h.post("/webhook/events", tt.body)
			requireError(t, res, tt.status, "RequestValidationError", tt.want)
			assert.Equal(t, tt.field, res.JSON["detail"].(map[string]any)["field"])
		})
	}
	_, events := h.counts()
	assert.Zero(t, events, "no refused publish stored an event")
}

func TestListEvents(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	var acme []string
	for range 5 {
		acme = append(acme, h.publish(map[string]any{"event_type": "accounting.invoice.created", "consumer_id": "acme", "entity_id": "i"}))
	}
	globex := h.publish(map[string]any{"event_type": "crm.opportunity.created", "consumer_id": "globex", "entity_id": "l", "service_id": "dversum"})

	all := h.get("/webhook/events")
	require.Equal(t, http.StatusOK, all.Status, "%s", all.Body)
	assert.Len(t, all.List(), 6)
	assert.Equal(t, globex, all.List()[0]["id"], "newest first")
	assert.NotContains(t, all.List()[0], "deliveries", "lists leave deliveries out")

	byConsumer := h.get("/webhook/events?filter[consumer_id]=acme&limit=2")
	var seen []string
	for page := byConsumer; ; page = h.get(nextPath(page)) {
		require.Equal(t, http.StatusOK, page.Status, "%s", page.Body)
		seen = append(seen, idsOf(page)...)
		if page.JSON["links"].(map[string]any)["next"] == nil {
			break
		}
		assert.Contains(t, nextPath(page), "filter%5Bconsumer_id%5D=acme", "links keep the filters")
	}
	assert.ElementsMatch(t, acme, seen)
	assert.Len(t, seen, 5)

	assert.Equal(t, []string{globex}, idsOf(h.get("/webhook/events?filter[event_type]=crm.opportunity.created")))
	assert.Equal(t, []string{globex}, idsOf(h.get("/webhook/events?filter[service_id]=dversum")))
	assert.Empty(t, idsOf(h.get("/webhook/events?filter[consumer_id]=nobody")))
	requireError(t, h.get("/webhook/events?filter[entity_id]=i"), 400, "RequestValidationError", "filter[entity_id] is not a supported filter")
	requireError(t, h.get("/webhook/events?cursor="+cursorFor("logs", acme[0])), 400, "InvalidCursorError", "cursor")
}

func TestReplay(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	ctx := context.Background()
	a := h.subscribe(map[string]any{"events": []string{"accounting.invoice.created"}})
	b := h.subscribe(map[string]any{"events": []string{"*"}})
	crm := h.subscribe(map[string]any{"unified_api": "crm", "events": []string{"crm.opportunity.created"}})
	id := h.publish(map[string]any{"event_type": "accounting.invoice.created", "consumer_id": "acme", "entity_id": "inv_1"})

	res := h.post("/webhook/events/"+id+"/replay", nil)
	require.Equal(t, http.StatusAccepted, res.Status, "%s", res.Body)
	assert.Equal(t, id, res.Str("data", "event_id"))
	assert.Equal(t, 2.0, res.Data()["deliveries"])

	res = h.post("/webhook/events/"+id+"/replay", map[string]any{"subscription_id": a})
	require.Equal(t, http.StatusAccepted, res.Status, "%s", res.Body)
	assert.Equal(t, 1.0, res.Data()["deliveries"])

	res = h.post("/webhook/events/"+id+"/replay", map[string]any{"subscription_id": crm})
	require.Equal(t, http.StatusAccepted, res.Status, "%s", res.Body)
	assert.Equal(t, 0.0, res.Data()["deliveries"], "a subscription that does not match gets nothing")

	ds, err := h.store.ListDeliveries(ctx, store.AllConsumers(), id)
	require.NoError(t, err)
	assert.Len(t, ds, 5)
	perSub := map[string]int{}
	for _, d := range ds {
		perSub[d.SubscriptionID]++
	}
	assert.Equal(t, map[string]int{a: 3, b: 2}, perSub)
	assert.Len(t, h.get("/webhook/events/" + id).Data()["deliveries"], 5)

	missing := "01938a8e-7d1c-7c4e-9d7e-2b1f4a9c0e11"
	requireError(t, h.post("/webhook/events/"+missing+"/replay", nil), 404, "EntityNotFoundError", "event "+missing+" not found")
	requireError(t, h.post("/webhook/events/"+id+"/replay", map[string]any{"subscription_id": missing}), 404, "EntityNotFoundError", "subscription "+missing+" not found")
	requireError(t, h.post("/webhook/events/"+id+"/replay", `{"subscription":"x"}`), 400, "RequestValidationError", "subscription is not a known field")
	requireError(t, h.post("/webhook/events/"+id+"/replay", `{`), 400, "RequestValidationError", "not valid JSON")
	ds, err = h.store.ListDeliveries(ctx, store.AllConsumers(), id)
	require.NoError(t, err)
	assert.Len(t, ds, 5, "refused replays created nothing")
}
