package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/api"
)

func validEvent(mods map[string]any) map[string]any {
	body := map[string]any{
		"event_type": "accounting.invoice.created", "consumer_id": "acme", "entity_id": "inv_1",
		"entity": map[string]any{"reference": "x"},
	}
	for k, v := range mods {
		body[k] = v
	}
	return body
}

// TestTextThatCannotBeStoredIsRefused: a NUL character (JSON \u0000), bytes
// that are not UTF-8 or a lone surrogate escape used to be a 500 on
// PostgreSQL and stored (then delivered as invalid JSON) on SQLite. Both
// stores now answer the same 400 naming the field, and store nothing.
func TestTextThatCannotBeStoredIsRefused(t *testing.T) {
	t.Parallel()
	stores(t, func(t *testing.T, open func(*testing.T, ...func(*api.Config)) *hub) {
		h := open(t)
		for _, tc := range []struct {
			name, path, body, field string
		}{
			{"NUL in the entity", "/webhook/events",
				`{"event_type":"accounting.invoice.created","consumer_id":"acme","entity_id":"inv_1","entity":{"name":"a\u0000b"}}`, "entity.name"},
			{"NUL deep in the entity", "/webhook/events",
				`{"event_type":"accounting.invoice.created","consumer_id":"acme","entity_id":"inv_1","entity":{"lines":[{"n":1},{"memo":"\u0000"}]}}`, "entity.lines[1].memo"},
			{"NUL in a key of the entity", "/webhook/events",
				`{"event_type":"accounting.invoice.created","consumer_id":"acme","entity_id":"inv_1","entity":{"a\u0000":1}}`, "entity.a\x00"},
			{"NUL in consumer_id", "/webhook/events",
				`{"event_type":"accounting.invoice.created","consumer_id":"ac\u0000me","entity_id":"inv_1"}`, "consumer_id"},
			{"invalid UTF-8 in the entity", "/webhook/events",
				"{\"event_type\":\"accounting.invoice.created\",\"consumer_id\":\"acme\",\"entity_id\":\"inv_1\",\"entity\":{\"name\":\"\xff\xfe\"}}", "entity.name"},
			{"invalid UTF-8 in consumer_id", "/webhook/events",
				"{\"event_type\":\"accounting.invoice.created\",\"consumer_id\":\"ac\xc3me\",\"entity_id\":\"inv_1\"}", "consumer_id"},
			{"lone surrogate in the entity", "/webhook/events",
				`{"event_type":"accounting.invoice.created","consumer_id":"acme","entity_id":"inv_1","entity":{"name":"\ud800"}}`, "entity.name"},
			{"NUL in a description", "/webhook/webhooks",
				`{"unified_api":"accounting","status":"enabled","delivery_url":"https://example.com/h","events":["*"],"description":"\u0000"}`, "description"},
			{"invalid UTF-8 in an event name", "/webhook/webhooks",
				"{\"unified_api\":\"accounting\",\"status\":\"enabled\",\"delivery_url\":\"https://example.com/h\",\"events\":[\"*\",\"\x80\"]}", "events[1]"},
		} {
			res := h.post(tc.path, tc.body)
			requireError(t, res, http.StatusBadRequest, api.TypeRequestValidation, tc.field)
			assert.Equal(t, tc.field, res.JSON["detail"].(map[string]any)["field"], tc.name)
		}
		subs, events := h.counts()
		assert.Zero(t, subs)
		assert.Zero(t, events)

		// Text that is merely unusual is stored as sent: an escaped
		// backslash before u0000, a surrogate pair, U+FFFD itself.
		id := h.publish(map[string]any{"event_type": "accounting.invoice.created", "consumer_id": "acme", "entity_id": "inv_1",
			"entity": map[string]any{"reference": `\u0000`, "customer_memo": "\U0001F600", "number": "\uFFFD"}})
		got := h.get("/webhook/events/" + id)
		require.Equal(t, http.StatusOK, got.Status)
		entity := got.Data()["entity"].(map[string]any)
		assert.Equal(t, `\u0000`, entity["reference"])
		assert.Equal(t, "\U0001F600", entity["customer_memo"])
		assert.Equal(t, "\uFFFD", entity["number"])
	})
}

// TestUnstorableTextInURLsAndHeadersIsRefused: such a value in a path
// parameter, a filter or a stored header reached a PostgreSQL query and
// answered 500; every store now answers 400 naming it.
func TestUnstorableTextInURLsAndHeadersIsRefused(t *testing.T) {
	t.Parallel()
	stores(t, func(t *testing.T, open func(*testing.T, ...func(*api.Config)) *hub) {
		h := open(t)
		for _, tc := range []struct{ path, field string }{
			{"/webhook/events/%00", "id"},
			{"/webhook/events/%FF", "id"},
			{"/webhook/webhooks/%00", "id"},
			{"/webhook/events?filter[consumer_id]=%00", "filter[consumer_id]"},
			{"/webhook/events?filter[consumer_id]=%FF", "filter[consumer_id]"},
			{"/webhook/logs?filter[event_id]=a%00", "filter[event_id]"},
		} {
			res := h.get(tc.path)
			requireError(t, res, http.StatusBadRequest, api.TypeRequestValidation, tc.field)
			assert.Equal(t, tc.field, res.JSON["detail"].(map[string]any)["field"], tc.path)
		}
		res := h.do(req{Method: "POST", Path: "/webhook/events", Key: bootstrapKey, Body: validEvent(nil),
			Header: map[string]string{"Idempotency-Key": "k\xff"}})
		requireError(t, res, http.StatusBadRequest, api.TypeRequestValidation, "Idempotency-Key contains bytes that are not valid UTF-8")
		_, events := h.counts()
		assert.Zero(t, events)
	})
}

// TestIdempotencyKeysOfDifferentConsumersDoNotCollide: the dedupe key was
// "api:" + consumer + ":" + key, so consumer "acme:eu" with key "k" and
// consumer "acme" with key "eu:k" shared one (the second got a 409, or the
// first one's event).
func TestIdempotencyKeysOfDifferentConsumersDoNotCollide(t *testing.T) {
	t.Parallel()
	stores(t, func(t *testing.T, open func(*testing.T, ...func(*api.Config)) *hub) {
		h := open(t)
		a := h.post("/webhook/events", validEvent(map[string]any{"consumer_id": "acme:eu", "idempotency_key": "k"}))
		require.Equal(t, http.StatusAccepted, a.Status, "%s", a.Body)
		b := h.post("/webhook/events", validEvent(map[string]any{"consumer_id": "acme", "idempotency_key": "eu:k"}))
		require.Equal(t, http.StatusAccepted, b.Status, "%s", b.Body)
		assert.Empty(t, b.Header.Get(api.IdempotentReplayedHeader))
		assert.NotEqual(t, a.Str("data", "id"), b.Str("data", "id"))

		// The same key of the same consumer still dedupes.
		again := h.post("/webhook/events", validEvent(map[string]any{"consumer_id": "acme", "idempotency_key": "eu:k"}))
		require.Equal(t, http.StatusAccepted, again.Status)
		assert.Equal(t, b.Str("data", "id"), again.Str("data", "id"))
		assert.Equal(t, "true", again.Header.Get(api.IdempotentReplayedHeader))
	})
}

// TestLongFieldsAreRefused: every string has a documented limit, counted
// in characters, and the 422 names the field, the limit and the length.
func TestLongFieldsAreRefused(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	long := func(n int) string { return strings.Repeat("a", n) }
	eventType := "accounting.invoice." + long(300)
	for _, tc := range []struct {
		name, path string
		body       map[string]any
		field      string
		want       string
	}{
		{"event_type", "/webhook/events", validEvent(map[string]any{"event_type": eventType}), "event_type",
			"event_type must be at most 255 characters, got 319"},
		{"base_event_type", "/webhook/events", validEvent(map[string]any{"base_event_type": eventType}), "base_event_type",
			"at most 255 characters, got 319"},
		{"consumer_id", "/webhook/events", validEvent(map[string]any{"consumer_id": long(256)}), "consumer_id",
			"consumer_id must be at most 255 characters, got 256"},
		{"entity_id", "/webhook/events", validEvent(map[string]any{"entity_id": long(1000)}), "entity_id", "got 1000"},
		{"idempotency_key", "/webhook/events", validEvent(map[string]any{"idempotency_key": long(256)}), "idempotency_key", "got 256"},
		{"entity_type", "/webhook/events", validEvent(map[string]any{"entity_type": long(65)}), "entity_type",
			"entity_type must be at most 64 characters, got 65"},
		{"service_id", "/webhook/events", validEvent(map[string]any{"service_id": long(65)}), "service_id", "at most 64 characters"},
		{"delivery_url", "/webhook/webhooks", subscription(map[string]any{"delivery_url": "https://example.com/" + long(2029)}), "delivery_url",
			"delivery_url must be at most 2048 characters, got 2049"},
		{"description in characters", "/webhook/webhooks", subscription(map[string]any{"description": strings.Repeat("é", 1001)}), "description",
			"description must be at most 1000 characters, got 1001"},
		{"an event name", "/webhook/webhooks", subscription(map[string]any{"events": []string{"*", eventType}}), "events[1]",
			"events[1] must be at most 255 characters, got 319"},
	} {
		res := h.post(tc.path, tc.body)
		requireError(t, res, http.StatusUnprocessableEntity, api.TypeRequestValidation, tc.want)
		assert.Equal(t, tc.field, res.JSON["detail"].(map[string]any)["field"], tc.name)
		assert.Less(t, len(res.Body), 2000, "%s: the error does not echo the value", tc.name)
	}
	// Characters, not bytes: 1000 two-byte characters are fine.
	h.subscribe(map[string]any{"description": strings.Repeat("é", 1000)})
	h.publish(validEvent(map[string]any{"consumer_id": strings.Repeat("é", 255)}))
}

func subscription(mods map[string]any) map[string]any {
	body := map[string]any{"unified_api": "accounting", "status": "enabled", "delivery_url": "https://example.com/hook", "events": []string{"*"}}
	for k, v := range mods {
		body[k] = v
	}
	return body
}

// TestRetryScheduleFloor: twenty zeros used to mean 21 tries within a
// second for every event; each wait must be at least --min-retry-delay.
func TestRetryScheduleFloor(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	res := h.post("/webhook/webhooks", subscription(map[string]any{"retry_schedule": make([]int, 20)}))
	requireError(t, res, http.StatusUnprocessableEntity, api.TypeRequestValidation,
		"retry_schedule[0] must be at least 1 seconds (the hub's minimum retry delay, --min-retry-delay 1s), got 0")
	errs := res.JSON["detail"].(map[string]any)["errors"].([]any)
	assert.Len(t, errs, 20, "every entry below the floor is named")
	h.subscribe(map[string]any{"retry_schedule": []int{1, 1, 1}})

	id := h.subscribe(nil)
	patched := h.patch("/webhook/webhooks/"+id, map[string]any{"retry_schedule": []int{5, 0}})
	requireError(t, patched, http.StatusUnprocessableEntity, api.TypeRequestValidation, "retry_schedule[1] must be at least 1 seconds")

	strict := newHub(t, func(c *api.Config) { c.MinRetryDelay = 30 * time.Second })
	requireError(t, strict.post("/webhook/webhooks", subscription(map[string]any{"retry_schedule": []int{60, 10}})),
		http.StatusUnprocessableEntity, api.TypeRequestValidation, "retry_schedule[1] must be at least 30 seconds (the hub's minimum retry delay, --min-retry-delay 30s), got 10")

	// Tests (and the fault suite) may lower it.
	open := newHub(t, func(c *api.Config) { c.MinRetryDelay = -1 })
	open.subscribe(map[string]any{"retry_schedule": []int{0, 0}})
}

// TestSubscriptionCaps: every subscription adds a delivery to each event it
// matches, so their number is capped per consumer and per hub, on both
// stores alike.
func TestSubscriptionCaps(t *testing.T) {
	t.Parallel()
	stores(t, func(t *testing.T, open func(*testing.T, ...func(*api.Config)) *hub) {
		h := open(t, func(c *api.Config) {
			c.MaxSubscriptionsPerConsumer = 2
			c.MaxSubscriptions = 4
			c.MaxEventsPerSubscription = 3
		})
		acme := map[string]any{"consumer_id": "acme"}
		first := h.subscribe(acme)
		h.subscribe(acme)
		res := h.post("/webhook/webhooks", subscription(acme))
		requireError(t, res, http.StatusUnprocessableEntity, api.TypeRequestValidation,
			`consumer_id consumer "acme" already has 2 subscriptions, the most one consumer may have (--max-subscriptions-per-consumer 2)`)

		// Application-wide subscriptions count as one consumer.
		h.subscribe(nil)
		globex := h.subscribe(map[string]any{"consumer_id": "globex"})
		// Moving one to a consumer at its cap is refused too.
		requireError(t, h.patch("/webhook/webhooks/"+globex, map[string]any{"consumer_id": "acme"}),
			http.StatusUnprocessableEntity, api.TypeRequestValidation, `consumer "acme" already has 2 subscriptions`)

		res = h.post("/webhook/webhooks", subscription(map[string]any{"consumer_id": "initech"}))
		requireError(t, res, http.StatusUnprocessableEntity, api.TypeRequestValidation,
			"the hub already has 4 subscriptions, the most it allows (--max-subscriptions 4)")

		require.Equal(t, http.StatusOK, h.del("/webhook/webhooks/"+first).Status)
		h.subscribe(acme)

		requireError(t, h.patch("/webhook/webhooks/"+globex, map[string]any{
			"events": []string{"accounting.invoice.created", "accounting.invoice.paid", "accounting.invoice.updated", "accounting.bill.created"}}),
			http.StatusUnprocessableEntity, api.TypeRequestValidation, "events must list at most 3 event types, got 4")
	})
}
