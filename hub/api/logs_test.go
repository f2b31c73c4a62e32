package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/store"
)

// seedAttempts publishes events to two subscriptions and records tries for
// every delivery: odd events fail with a retry, even ones succeed. It returns
// every attempt id, newest first.
func seedAttempts(t *testing.T, h *hub, events int) (ids []string, subA, subB string) {
	t.Helper()
	ctx := context.Background()
	subA = h.subscribe(map[string]any{"events": []string{"*"}, "delivery_url": "https://a.example.com/hook"})
	subB = h.subscribe(map[string]any{"unified_api": "*", "events": []string{"*"}, "delivery_url": "https://b.example.com/hook"})
	for i := range events {
		consumer := "acme"
		typ := "accounting.invoice.created"
		if i%3 == 0 {
			consumer, typ = "globex", "accounting.invoice.updated"
		}
		evID := h.publish(map[string]any{"event_type": typ, "consumer_id": consumer, "entity_id": fmt.Sprint("inv_", i)})
		ds, err := h.store.ListDeliveries(ctx, store.AllConsumers(), evID)
		require.NoError(t, err)
		require.Len(t, ds, 2)
		var outcomes []store.Outcome
		for _, d := range ds {
			endpoint := "https://a.example.com/hook"
			if d.SubscriptionID == subB {
				endpoint = "https://b.example.com/hook"
			}
			a := store.Attempt{
				EventID: evID, EventType: typ, UnifiedAPI: "accounting", ConsumerID: consumer, ServiceID: "switchboard",
				Endpoint: endpoint, ExecutionAttempt: 1, DurationMS: 12,
			}
			o := store.Outcome{DeliveryID: d.ID, SubscriptionID: d.SubscriptionID, At: time.Now()}
			if i%2 == 1 {
				a.StatusCode, a.ResponseBody, a.RetryScheduled = 503, "busy", true
				o.Status, o.NextAttemptAt = store.DeliveryPending, time.Now().Add(time.Hour)
			} else {
				a.StatusCode, a.Success, a.ResponseBody = 200, true, `{"ok":true}`
				o.Status = store.DeliveryDelivered
			}
			if i == 1 {
				a.StatusCode, a.ResponseBody, a.Error = 0, "", "dial tcp: connection refused"
			}
			o.Attempts = []store.Attempt{a}
			outcomes = append(outcomes, o)
		}
		require.NoError(t, h.store.RecordOutcomes(ctx, outcomes))
	}
	all, err := h.store.ListAttempts(ctx, store.AllConsumers(), store.AttemptFilter{}, store.Page{Limit: store.MaxPageLimit})
	require.NoError(t, err)
	for _, a := range all {
		ids = append(ids, a.ID)
	}
	require.Len(t, ids, 2*events)
	return ids, subA, subB
}

func TestLogs(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	ids, subA, _ := seedAttempts(t, h, 10)

	res := h.get("/webhook/logs?limit=200")
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	assert.Equal(t, ids, idsOf(res))
	item := res.List()[0]
	for _, f := range []string{"id", "event_id", "event_type", "subscription_id", "consumer_id", "service", "endpoint",
		"status_code", "success", "execution_attempt", "timestamp", "response_body", "retry_scheduled",
		"unified_api", "duration_ms", "error"} {
		assert.Contains(t, item, f)
	}
	assert.Equal(t, map[string]any{"id": "switchboard"}, item["service"])

	refused := h.get("/webhook/logs?filter[error]=x")
	requireError(t, refused, 400, "RequestValidationError", "filter[error] is not a supported filter")

	var noAnswer map[string]any
	for _, it := range res.List() {
		if it["error"] != nil {
			noAnswer = it
		}
	}
	require.NotNil(t, noAnswer, "the try without an answer is listed")
	assert.Nil(t, noAnswer["status_code"])
	assert.Equal(t, "dial tcp: connection refused", noAnswer["error"])
	assert.Equal(t, false, noAnswer["success"])

	tests := []struct {
		query string
		count int
		check func(t *testing.T, it map[string]any)
	}{
		{"filter[success]=true", 10, func(t *testing.T, it map[string]any) { assert.Equal(t, true, it["success"]) }},
		{"filter[success]=false", 10, func(t *testing.T, it map[string]any) {
			assert.Equal(t, false, it["success"])
			assert.Equal(t, true, it["retry_scheduled"])
		}},
		{"filter[consumer_id]=globex", 8, func(t *testing.T, it map[string]any) { assert.Equal(t, "globex", it["consumer_id"]) }},
		{"filter[event_type]=accounting.invoice.updated", 8, func(t *testing.T, it map[string]any) {
			assert.Equal(t, "accounting.invoice.updated", it["event_type"])
		}},
		{"filter[subscription_id]=" + subA, 10, func(t *testing.T, it map[string]any) {
			assert.Equal(t, subA, it["subscription_id"])
			assert.Equal(t, "https://a.example.com/hook", it["endpoint"])
		}},
		{"filter[service_id]=switchboard", 20, nil},
		{"filter[service_id]=dversum", 0, nil},
		{"filter[success]=true&filter[consumer_id]=globex", 4, func(t *testing.T, it map[string]any) {
			assert.Equal(t, true, it["success"])
			assert.Equal(t, "globex", it["consumer_id"])
		}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			got := walk(t, h, "/webhook/logs?limit=3&"+tt.query)
			assert.Len(t, got, tt.count)
			for _, it := range got {
				if tt.check != nil {
					tt.check(t, it)
				}
			}
		})
	}

	evID := res.List()[0]["event_id"].(string)
	byEvent := h.get("/webhook/logs?filter[event_id]=" + url.QueryEscape(evID))
	require.Len(t, byEvent.List(), 2)
	for _, it := range byEvent.List() {
		assert.Equal(t, evID, it["event_id"])
	}

	for _, bad := range []string{"yes", "1", "TRUE"} {
		requireError(t, h.get("/webhook/logs?filter[success]="+bad), 400, "RequestValidationError",
			fmt.Sprintf(`filter[success] must be true or false, got %q`, bad))
	}
}

// walk follows links.next from path to the end and returns every item,
// failing on a repeated one; then walks back with links.previous and checks
// it meets the same pages.
func walk(t *testing.T, h *hub, path string) []map[string]any {
	t.Helper()
	var items []map[string]any
	seen := map[string]bool{}
	var pages []response
	for page := h.get(path); ; page = h.get(nextPath(page)) {
		require.Equal(t, http.StatusOK, page.Status, "%s", page.Body)
		pages = append(pages, page)
		for _, it := range page.List() {
			id := it["id"].(string)
			require.False(t, seen[id], "item %s on two pages", id)
			seen[id] = true
			items = append(items, it)
		}
		if page.JSON["links"].(map[string]any)["next"] == nil {
			break
		}
	}
	for i := len(pages) - 1; i > 0; i-- {
		prev := h.get(prevPath(pages[i]))
		require.Equal(t, idsOf(pages[i-1]), idsOf(prev), "walking back meets the same page")
	}
	return items
}

func TestLogsPaginationWalk(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	ids, _, _ := seedAttempts(t, h, 11) // 22 attempts
	for _, limit := range []int{1, 4, 7, 21, 22, 23} {
		t.Run(fmt.Sprint("limit=", limit), func(t *testing.T) {
			got := walk(t, h, fmt.Sprint("/webhook/logs?limit=", limit))
			var gotIDs []string
			for _, it := range got {
				gotIDs = append(gotIDs, it["id"].(string))
			}
			assert.Equal(t, ids, gotIDs, "every attempt once, newest first")
		})
	}
}
