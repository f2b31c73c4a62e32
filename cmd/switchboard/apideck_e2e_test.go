package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestApideckSDKs drives Apideck's own Node SDKs, @apideck/unify (current)
// and @apideck/node (deprecated), against a real hub through its /apideck
// edge, as an Apideck user writes them: only the server URL changes. The
// hub runs with --app-id, so every call also proves x-apideck-app-id is
// checked. compat/apideck-*.test.mjs hold the calls and their assertions.
func TestApideckSDKs(t *testing.T) {
	requireNode(t)
	const appID = "sb-apideck-app"
	hub := startHub(t, t.TempDir(), freeAddr(t), "--app-id", appID, "--retry-schedule", "1h")

	// Deliveries to /gone fail with 404, the others succeed: the logs then
	// hold both for the status filters.
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/gone") {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rcv.Close)

	data := func(code int, body map[string]any) map[string]any {
		t.Helper()
		require.Less(t, code, 300, "%v", body)
		return body["data"].(map[string]any)
	}
	key := func(name string, consumer string) string {
		body := map[string]any{"name": name, "scopes": []string{"webhooks:read", "webhooks:write", "connections:write", "events:write"}}
		if consumer != "" {
			body["consumer_id"] = consumer
		}
		return data(hub.do(t, "POST", "/admin/api-keys", body))["key"].(string)
	}
	appKey, boundKey := key("apideck-app", ""), key("apideck-bound", "acme")

	// acme's subscriptions and events: 3 events x 2 subscriptions = 6 tries.
	for _, path := range []string{"/ok", "/gone"} {
		data(hub.do(t, "POST", "/webhook/webhooks", map[string]any{"unified_api": "accounting", "status": "enabled",
			"events": []string{"*"}, "delivery_url": rcv.URL + path, "consumer_id": "acme"}))
	}
	for i, typ := range []string{"accounting.invoice.paid", "accounting.customer.created", "accounting.invoice.paid"} {
		data(hub.do(t, "POST", "/webhook/events", map[string]any{"event_type": typ, "consumer_id": "acme",
			"entity_id": "ent_" + string(rune('a'+i))}))
	}
	require.Eventually(t, func() bool {
		_, raw := hub.request(t, hub.key, "", "GET", "/webhook/logs?limit=200", nil)
		var env struct {
			Data []any `json:"data"`
		}
		return json.Unmarshal(raw, &env) == nil && len(env.Data) >= 6
	}, 30*time.Second, 50*time.Millisecond, "deliveries were not logged")

	// A consumer with two connections to one service: Apideck's
	// /vault/connections/{unified_api}/{service_id} cannot name one (409).
	for range 2 {
		data(hub.doAs(t, "multi", "POST", "/vault/connections", map[string]any{"service_id": "dversum"}))
	}

	env := []string{"HUB_URL=http://" + hub.addr, "APP_KEY=" + appKey, "BOUND_KEY=" + boundKey, "APP_ID=" + appID,
		"LOG_CONSUMER=acme", "MULTI_CONSUMER=multi"}
	t.Run("unify", func(t *testing.T) { runNode(t, "apideck-unify.test.mjs", env...) })
	t.Run("node", func(t *testing.T) { runNode(t, "apideck-node.test.mjs", env...) })
	t.Run("openapi", func(t *testing.T) { runNode(t, "apideck-openapi.test.mjs", env...) })
}
