package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/api"
	"github.com/switchboardhq/switchboard/hub/store"
)

func TestSubscriptionLifecycle(t *testing.T) {
	t.Parallel()
	h := newHub(t)

	res := h.post("/webhook/webhooks", map[string]any{
		"description":  "billing",
		"unified_api":  "accounting",
		"status":       "enabled",
		"delivery_url": "https://example.com/hook?a=1&b=2",
		"events":       []string{"accounting.invoice.updated", "accounting.invoice.created", "accounting.invoice.created"},
		"consumer_id":  "acme",
	})
	require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
	assert.Equal(t, float64(201), res.JSON["status_code"])
	assert.Equal(t, "Created", res.JSON["status"])
	d := res.Data()
	id := d["id"].(string)
	secret := d["secret"].(string)
	assert.True(t, strings.HasPrefix(secret, "whsec_"), secret)
	assert.Equal(t, "billing", d["description"])
	assert.Equal(t, "enabled", d["status"])
	assert.Equal(t, "none", d["disabled_reason"])
	assert.Equal(t, "https://example.com/hook?a=1&b=2", d["delivery_url"])
	assert.Contains(t, string(res.Body), `"https://example.com/hook?a=1&b=2"`, "URLs are not HTML-escaped")
	assert.Equal(t, []any{"accounting.invoice.created", "accounting.invoice.updated"}, d["events"], "sorted, without repeats")
	assert.Equal(t, "acme", d["consumer_id"])
	assert.Equal(t, []any{5.0, 300.0, 1800.0}, d["retry_schedule"], "the hub default when none is set")
	assert.Equal(t, 0.0, d["fail_streak"])
	assert.Nil(t, d["last_failed_at"])

	stored, err := h.store.GetSubscription(context.Background(), store.AllConsumers(), id)
	require.NoError(t, err)
	assert.Equal(t, secret, stored.Secret)
	assert.Nil(t, stored.RetrySchedule, "the default is not copied into the subscription")

	get := h.get("/webhook/webhooks/" + id)
	require.Equal(t, http.StatusOK, get.Status)
	assert.Equal(t, "OK", get.JSON["status"])
	assert.NotContains(t, get.Data(), "secret")
	assert.NotContains(t, string(get.Body), secret)

	list := h.get("/webhook/webhooks")
	require.Equal(t, http.StatusOK, list.Status)
	require.Len(t, list.List(), 1)
	assert.Equal(t, id, list.List()[0]["id"])
	assert.NotContains(t, string(list.Body), secret)

	// PATCH changes only what is sent; null clears optional fields.
	upd := h.patch("/webhook/webhooks/"+id, map[string]any{
		"description": nil, "consumer_id": nil, "retry_schedule": []int{1, 2}, "delivery_url": "http://10.0.0.1:9000/x",
	})
	require.Equal(t, http.StatusOK, upd.Status, "%s", upd.Body)
	d = upd.Data()
	assert.Nil(t, d["description"])
	assert.Nil(t, d["consumer_id"])
	assert.Equal(t, []any{1.0, 2.0}, d["retry_schedule"])
	assert.Equal(t, "http://10.0.0.1:9000/x", d["delivery_url"])
	assert.Equal(t, []any{"accounting.invoice.created", "accounting.invoice.updated"}, d["events"], "untouched")
	assert.NotContains(t, d, "secret")
	stored, err = h.store.GetSubscription(context.Background(), store.AllConsumers(), id)
	require.NoError(t, err)
	assert.Equal(t, "", stored.ConsumerID)
	assert.Equal(t, []int{1, 2}, stored.RetrySchedule)
	assert.Equal(t, secret, stored.Secret, "PATCH keeps the secret")

	upd = h.patch("/webhook/webhooks/"+id, map[string]any{"retry_schedule": nil, "events": []string{"*"}})
	require.Equal(t, http.StatusOK, upd.Status, "%s", upd.Body)
	assert.Equal(t, []any{5.0, 300.0, 1800.0}, upd.Data()["retry_schedule"], "null returns to the default")
	assert.Equal(t, []any{"*"}, upd.Data()["events"])

	// Rotation returns the new secret once; the old one is kept for the grace period.
	rot := h.post("/webhook/webhooks/"+id+"/rotate-secret", nil)
	require.Equal(t, http.StatusOK, rot.Status, "%s", rot.Body)
	newSecret := rot.Str("data", "secret")
	assert.True(t, strings.HasPrefix(newSecret, "whsec_"))
	assert.NotEqual(t, secret, newSecret)
	stored, err = h.store.GetSubscription(context.Background(), store.AllConsumers(), id)
	require.NoError(t, err)
	assert.Equal(t, newSecret, stored.Secret)
	assert.Equal(t, secret, stored.PreviousSecret)
	require.NotNil(t, stored.PreviousSecretExpiresAt)
	assert.NotContains(t, string(h.get("/webhook/webhooks/"+id).Body), newSecret)

	del := h.del("/webhook/webhooks/" + id)
	require.Equal(t, http.StatusOK, del.Status, "%s", del.Body)
	assert.Equal(t, id, del.Str("data", "id"))
	assert.NotContains(t, del.Data(), "secret")
	requireError(t, h.get("/webhook/webhooks/"+id), 404, "EntityNotFoundError", "subscription "+id+" not found")
	requireError(t, h.del("/webhook/webhooks/"+id), 404, "EntityNotFoundError", "not found")
	requireError(t, h.patch("/webhook/webhooks/"+id, map[string]any{"description": "x"}), 404, "EntityNotFoundError", "not found")
	requireError(t, h.post("/webhook/webhooks/"+id+"/rotate-secret", nil), 404, "EntityNotFoundError", "not found")
	subs, _ := h.counts()
	assert.Zero(t, subs)
}

func TestRotateSecretGracePeriod(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)
	h := newHub(t, func(c *api.Config) {
		c.Now = func() time.Time { return now }
		c.SecretGracePeriod = 2 * time.Hour
	})
	id := h.subscribe(nil)
	first, err := h.store.GetSubscription(context.Background(), store.AllConsumers(), id)
	require.NoError(t, err)

	rot := h.post("/webhook/webhooks/"+id+"/rotate-secret", nil)
	require.Equal(t, http.StatusOK, rot.Status, "%s", rot.Body)
	stored, err := h.store.GetSubscription(context.Background(), store.AllConsumers(), id)
	require.NoError(t, err)
	assert.Equal(t, first.Secret, stored.PreviousSecret)
	require.NotNil(t, stored.PreviousSecretExpiresAt)
	assert.Equal(t, now.Add(2*time.Hour), *stored.PreviousSecretExpiresAt)
}

func TestSubscriptionStatus(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	ctx := context.Background()
	id := h.subscribe(map[string]any{"status": "disabled"})
	got := h.get("/webhook/webhooks/" + id)
	assert.Equal(t, "disabled", got.Str("data", "status"))
	assert.Equal(t, "manual", got.Str("data", "disabled_reason"))

	enabled := h.patch("/webhook/webhooks/"+id, map[string]any{"status": "enabled"})
	require.Equal(t, http.StatusOK, enabled.Status, "%s", enabled.Body)
	assert.Equal(t, "none", enabled.Str("data", "disabled_reason"))

	// Let a failed try build a streak, then have the hub disable it.
	evID := h.publish(map[string]any{"event_type": "accounting.invoice.created", "consumer_id": "acme", "entity_id": "inv_1"})
	ds, err := h.store.ListDeliveries(ctx, store.AllConsumers(), evID)
	require.NoError(t, err)
	require.Len(t, ds, 1)
	at := time.Now()
	require.NoError(t, h.store.RecordOutcomes(ctx, []store.Outcome{{
		DeliveryID: ds[0].ID, SubscriptionID: id, Status: store.DeliveryFailed, Disable: store.DisabledRetryLimit, At: at,
		Attempts: []store.Attempt{{EventID: evID, EventType: "accounting.invoice.created", Endpoint: "https://example.com/hook", StatusCode: 500, ExecutionAttempt: 1}},
	}}))
	got = h.get("/webhook/webhooks/" + id)
	assert.Equal(t, "disabled", got.Str("data", "status"))
	assert.Equal(t, "retry_limit", got.Str("data", "disabled_reason"))
	assert.Equal(t, 1.0, got.Data()["fail_streak"])
	assert.NotNil(t, got.Data()["fail_streak_started_at"])
	assert.NotNil(t, got.Data()["last_failed_at"])

	// Disabling again keeps the hub's reason; re-enabling clears reason and streak.
	again := h.patch("/webhook/webhooks/"+id, map[string]any{"status": "disabled"})
	assert.Equal(t, "retry_limit", again.Str("data", "disabled_reason"))
	enabled = h.patch("/webhook/webhooks/"+id, map[string]any{"status": "enabled"})
	require.Equal(t, http.StatusOK, enabled.Status, "%s", enabled.Body)
	d := enabled.Data()
	assert.Equal(t, "enabled", d["status"])
	assert.Equal(t, "none", d["disabled_reason"])
	assert.Equal(t, 0.0, d["fail_streak"])
	assert.Nil(t, d["fail_streak_started_at"])
	stored, err := h.store.GetSubscription(ctx, store.AllConsumers(), id)
	require.NoError(t, err)
	assert.Zero(t, stored.FailStreak)
	assert.Nil(t, stored.FailStreakStartedAt)
	assert.Equal(t, store.DisabledNone, stored.DisabledReason)
}

func TestSubscriptionValidation(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	valid := func(change map[string]any) map[string]any {
		b := map[string]any{
			"unified_api":  "accounting",
			"status":       "enabled",
			"delivery_url": "https://example.com/hook",
			"events":       []string{"accounting.invoice.created"},
		}
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
		{"unified_api missing", valid(map[string]any{"unified_api": "<delete>"}), 422, "unified_api", "unified_api is required"},
		{"unified_api bad", valid(map[string]any{"unified_api": "Accounting!"}), 422, "unified_api", "unified_api must be a unified API id"},
		{"status missing", valid(map[string]any{"status": "<delete>"}), 422, "status", "status is required"},
		{"status bad", valid(map[string]any{"status": "paused"}), 422, "status", `status must be enabled or disabled, got "paused"`},
		{"delivery_url missing", valid(map[string]any{"delivery_url": "<delete>"}), 422, "delivery_url", "delivery_url is required"},
		{"delivery_url relative", valid(map[string]any{"delivery_url": "/hook"}), 422, "delivery_url", "delivery_url"},
		{"delivery_url ftp", valid(map[string]any{"delivery_url": "ftp://example.com/x"}), 422, "delivery_url", "delivery_url must use http or https"},
		{"delivery_url userinfo", valid(map[string]any{"delivery_url": "https://u:p@example.com/"}), 422, "delivery_url", "user info"},
		{"delivery_url no host", valid(map[string]any{"delivery_url": "https:///x"}), 422, "delivery_url", "host"},
		{"events missing", valid(map[string]any{"events": "<delete>"}), 422, "events", "events must list at least one event type"},
		{"events empty", valid(map[string]any{"events": []string{}}), 422, "events", "events must list at least one"},
		{"events bad entry", valid(map[string]any{"events": []string{"accounting.invoice.created", "Invoice Created"}}), 422, "events[1]", `events[1] must be "*" or an event type`},
		{"events not array", valid(map[string]any{"events": "*"}), 400, "events", "events must be an array of strings, got string"},
		{"retry_schedule empty", valid(map[string]any{"retry_schedule": []int{}}), 422, "retry_schedule", "retry_schedule must list 1 to 20"},
		{"retry_schedule too long", valid(map[string]any{"retry_schedule": make([]int, 21)}), 422, "retry_schedule", "got 21"},
		{"retry_schedule negative", valid(map[string]any{"retry_schedule": []int{5, -1}}), 422, "retry_schedule[1]", "retry_schedule[1] must be at least 1 seconds"},
		{"retry_schedule too big", valid(map[string]any{"retry_schedule": []int{604801}}), 422, "retry_schedule[0]", "604801"},
		{"retry_schedule fraction", valid(map[string]any{"retry_schedule": []any{1.5}}), 400, "retry_schedule", "retry_schedule must be an integer, got number 1.5"},
		{"description too long", valid(map[string]any{"description": strings.Repeat("x", 1001)}), 422, "description", "description must be at most 1000"},
		{"description not string", valid(map[string]any{"description": 5}), 400, "description", "description must be a string, got number"},
		{"consumer_id too long", valid(map[string]any{"consumer_id": strings.Repeat("c", 256)}), 422, "consumer_id", "consumer_id must be at most 255"},
		{"unknown field", valid(map[string]any{"secret": "whsec_mine"}), 400, "secret", `secret is not a known field`},
		{"unknown field typo", valid(map[string]any{"event": []string{"*"}}), 400, "event", "event is not a known field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := h.post("/webhook/webhooks", tt.body)
			requireError(t, res, tt.status, "RequestValidationError", tt.want)
			detail := res.JSON["detail"].(map[string]any)
			assert.Equal(t, tt.field, detail["field"], "%s", res.Body)
			assert.NotEmpty(t, detail["reason"])
			assert.NotEmpty(t, detail["errors"])
		})
	}
	subs, _ := h.counts()
	assert.Zero(t, subs, "no refused request stored anything")

	t.Run("several problems are all reported", func(t *testing.T) {
		res := h.post("/webhook/webhooks", map[string]any{"unified_api": "accounting", "status": "on", "delivery_url": "nope", "events": []string{}})
		requireError(t, res, 422, "RequestValidationError", "status must be enabled or disabled")
		fields := []string{}
		for _, e := range res.JSON["detail"].(map[string]any)["errors"].([]any) {
			fields = append(fields, e.(map[string]any)["field"].(string))
		}
		assert.Equal(t, []string{"status", "delivery_url", "events"}, fields)
		assert.Contains(t, res.JSON["message"], "delivery_url")
		assert.Contains(t, res.JSON["message"], "events")
	})
}

func TestSubscriptionPatchValidation(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	id := h.subscribe(map[string]any{"description": "keep me"})
	before, err := h.store.GetSubscription(context.Background(), store.AllConsumers(), id)
	require.NoError(t, err)
	tests := []struct {
		name   string
		body   any
		status int
		field  string
		want   string
	}{
		{"unified_api is fixed", map[string]any{"unified_api": "crm"}, 400, "unified_api", "unified_api is not a known field"},
		{"id is read-only", map[string]any{"id": "x"}, 400, "id", "id is not a known field"},
		{"status null", map[string]any{"status": nil}, 422, "status", "got null"},
		{"status bad", map[string]any{"status": "off"}, 422, "status", "status must be enabled or disabled"},
		{"delivery_url null", map[string]any{"delivery_url": nil}, 422, "delivery_url", "delivery_url must be an absolute http(s) URL, got null"},
		{"delivery_url bad", map[string]any{"delivery_url": "example.com"}, 422, "delivery_url", "delivery_url"},
		{"events null", map[string]any{"events": nil}, 422, "events", "events must list at least one"},
		{"events bad", map[string]any{"events": []string{"*", "x"}}, 422, "events[1]", "events[1]"},
		{"retry_schedule bad", map[string]any{"retry_schedule": []int{1, 700000}}, 422, "retry_schedule[1]", "retry_schedule[1] must be at most 604800 seconds"},
		{"body array", []any{1}, 400, "", "request body must be a JSON object, got array"},
		{"body null", "null", 400, "", "request body must be a JSON object, got null"},
		{"body empty", "", 400, "", "request body is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := h.patch("/webhook/webhooks/"+id, tt.body)
			requireError(t, res, tt.status, "RequestValidationError", tt.want)
			assert.Equal(t, tt.field, res.JSON["detail"].(map[string]any)["field"])
		})
	}
	after, err := h.store.GetSubscription(context.Background(), store.AllConsumers(), id)
	require.NoError(t, err)
	assert.Equal(t, before, after, "no refused PATCH changed anything")

	t.Run("valid fields are not applied when another is invalid", func(t *testing.T) {
		res := h.patch("/webhook/webhooks/"+id, map[string]any{"description": "changed", "status": "nope"})
		requireError(t, res, 422, "RequestValidationError", "status")
		after, err := h.store.GetSubscription(context.Background(), store.AllConsumers(), id)
		require.NoError(t, err)
		assert.Equal(t, "keep me", after.Description)
	})
}

func TestMalformedBodies(t *testing.T) {
	t.Parallel()
	h := newHub(t, func(c *api.Config) { c.MaxBodyBytes = 2048 })
	big := `{"unified_api":"accounting","status":"enabled","delivery_url":"https://example.com/","events":["*"],"description":"` + strings.Repeat("x", 4096) + `"}`
	tests := []struct {
		name   string
		path   string
		body   string
		status int
		typ    string
		want   string
	}{
		{"truncated", "/webhook/webhooks", `{"unified_api": "accounting"`, 400, "RequestValidationError", "request body is not valid JSON: unexpected EOF: it ends too early, at offset 28 (line 1, column 29)"},
		{"truncated on line 3", "/webhook/webhooks", "{\n  \"unified_api\": \"accounting\",\n  \"events\": [\"*\"\n", 400, "RequestValidationError", "it ends too early, at offset 49 (line 3, column 17)"},
		{"syntax", "/webhook/webhooks", `{"unified_api": accounting}`, 400, "RequestValidationError", "request body is not valid JSON: invalid character 'a' looking for beginning of value at offset 17 (line 1, column 18)"},
		{"trailing data", "/webhook/webhooks", `{"unified_api": "accounting"} {}`, 400, "RequestValidationError", "unexpected data after the JSON object"},
		{"not an object", "/webhook/webhooks", `"hello"`, 400, "RequestValidationError", "request body must be a JSON object, got string"},
		{"empty", "/webhook/webhooks", ``, 400, "RequestValidationError", "request body is empty"},
		{"too large", "/webhook/webhooks", big, 413, "RequestTooLargeError", "larger than the limit of 2048 bytes"},
		{"publish truncated", "/webhook/events", `{"event_type":`, 400, "RequestValidationError", "unexpected EOF"},
		{"publish unknown field", "/webhook/events", `{"event_type":"crm.opportunity.created","consumer_id":"a","entity_id":"1","payload":{}}`, 400, "RequestValidationError", "payload is not a known field"},
		{"publish too large", "/webhook/events", `{"event_type":"crm.opportunity.created","consumer_id":"a","entity_id":"1","entity":{"x":"` + strings.Repeat("y", 4096) + `"}}`, 413, "RequestTooLargeError", "2048"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := h.post(tt.path, tt.body)
			requireError(t, res, tt.status, tt.typ, tt.want)
		})
	}
	t.Run("too large without content length", func(t *testing.T) {
		// A chunked body has no declared length: MaxBytesReader cuts it off.
		r := httptestChunked(h, "/webhook/webhooks", big)
		requireError(t, r, 413, "RequestTooLargeError", "2048")
	})
	subs, events := h.counts()
	assert.Zero(t, subs)
	assert.Zero(t, events)
}

func TestPagination(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	var ids []string
	for i := range 7 {
		ids = append(ids, h.subscribe(map[string]any{"description": fmt.Sprint(i)}))
	}
	// Newest first.
	for i, j := 0, len(ids)-1; i < j; i, j = i+1, j-1 {
		ids[i], ids[j] = ids[j], ids[i]
	}

	first := h.get("/webhook/webhooks?limit=3")
	require.Equal(t, 200, first.Status, "%s", first.Body)
	assert.Equal(t, ids[:3], idsOf(first))
	meta := first.JSON["meta"].(map[string]any)
	assert.Equal(t, 3.0, meta["items_on_page"])
	cursors := meta["cursors"].(map[string]any)
	assert.Nil(t, cursors["previous"])
	assert.Nil(t, cursors["current"])
	require.NotNil(t, cursors["next"])
	links := first.JSON["links"].(map[string]any)
	assert.Equal(t, "https://hub.example.com/webhook/webhooks?limit=3", links["current"])
	assert.Nil(t, links["previous"])
	assert.Equal(t, "https://hub.example.com/webhook/webhooks?cursor="+cursors["next"].(string)+"&limit=3", links["next"])

	second := h.get(strings.TrimPrefix(links["next"].(string), "https://hub.example.com"))
	assert.Equal(t, ids[3:6], idsOf(second))
	third := h.get(nextPath(second))
	assert.Equal(t, ids[6:], idsOf(third))
	assert.Nil(t, third.JSON["meta"].(map[string]any)["cursors"].(map[string]any)["next"], "last page")
	assert.Nil(t, third.JSON["links"].(map[string]any)["next"])

	// And back again.
	back := h.get(prevPath(third))
	assert.Equal(t, ids[3:6], idsOf(back))
	back = h.get(prevPath(back))
	assert.Equal(t, ids[:3], idsOf(back))
	assert.Nil(t, back.JSON["meta"].(map[string]any)["cursors"].(map[string]any)["previous"], "back on the first page")

	all := h.get("/webhook/webhooks?limit=200")
	assert.Equal(t, ids, idsOf(all))
	assert.Nil(t, all.JSON["meta"].(map[string]any)["cursors"].(map[string]any)["next"])
	exact := h.get("/webhook/webhooks?limit=7")
	assert.Equal(t, ids, idsOf(exact))
	assert.Nil(t, exact.JSON["meta"].(map[string]any)["cursors"].(map[string]any)["next"], "a full page with nothing after it has no next")

	tests := []struct {
		query string
		typ   string
		field string
		want  string
	}{
		{"limit=0", "RequestValidationError", "limit", "limit must be between 1 and 200"},
		{"limit=201", "RequestValidationError", "limit", "limit must be between 1 and 200"},
		{"limit=-1", "RequestValidationError", "limit", "limit must be between 1 and 200"},
		{"limit=abc", "RequestValidationError", "limit", "limit must be an integer"},
		{"limit=1.5", "RequestValidationError", "limit", "limit must be an integer"},
		{"limit=", "RequestValidationError", "limit", "limit must be an integer"},
		{"cursor=garbage!", "InvalidCursorError", "cursor", "cursor is not valid"},
		{"cursor=djF8d2ViaG9va3N8YXxub3QtYS11dWlk", "InvalidCursorError", "cursor", "cursor is not valid"},                 // v1|webhooks|a|not-a-uuid
		{"cursor=" + cursorFor("events", ids[0]), "InvalidCursorError", "cursor", "cursor is not valid"},                   // another list's cursor
		{"filter[status]=enabled", "RequestValidationError", "filter[status]", "filter[status] is not a supported filter"}, // webhooks has no filters
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			res := h.get("/webhook/webhooks?" + tt.query)
			requireError(t, res, 400, tt.typ, tt.want)
			assert.Equal(t, tt.field, res.JSON["detail"].(map[string]any)["field"])
		})
	}
}

func idsOf(r response) []string {
	var out []string
	for _, it := range r.List() {
		out = append(out, it["id"].(string))
	}
	return out
}

func nextPath(r response) string {
	return strings.TrimPrefix(r.JSON["links"].(map[string]any)["next"].(string), "https://hub.example.com")
}

func prevPath(r response) string {
	return strings.TrimPrefix(r.JSON["links"].(map[string]any)["previous"].(string), "https://hub.example.com")
}
