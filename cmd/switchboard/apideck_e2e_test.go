package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
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
	hub := startHub(t, t.TempDir(), freeAddr(t), "--app-id", appID, "--retry-schedule", "1s,1h")

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
	// The 404s are tried again after a second: a log then lists both tries.
	require.Eventually(t, func() bool {
		_, raw := hub.request(t, hub.key, "", "GET", "/webhook/logs?limit=200", nil)
		return strings.Contains(string(raw), `"execution_attempt":2`)
	}, 30*time.Second, 100*time.Millisecond, "no second try was logged")

	// A consumer with two connections to one service: Apideck's
	// /vault/connections/{unified_api}/{service_id} cannot name one (409).
	for range 2 {
		data(hub.doAs(t, "multi", "POST", "/vault/connections", map[string]any{"service_id": "dversum"}))
	}

	// A key bound to acme reaches through /apideck exactly what it reaches
	// through the hub's own routes.
	t.Run("bound key", func(t *testing.T) { checkApideckBound(t, hub, appID, boundKey) })

	t.Run("attempts", func(t *testing.T) {
		req, err := http.NewRequest("GET", "http://"+hub.addr+"/apideck/webhook/logs?limit=1&filter[execution_attempt]=2", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+appKey)
		req.Header.Set("x-apideck-app-id", appID)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var env struct {
			Data []struct {
				ExecutionAttempt int `json:"execution_attempt"`
				StatusCode       int `json:"status_code"`
				Attempts         []struct {
					ExecutionAttempt int `json:"execution_attempt"`
					StatusCode       int `json:"status_code"`
				} `json:"attempts"`
			} `json:"data"`
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&env))
		require.Len(t, env.Data, 1)
		l := env.Data[0]
		assert.Equal(t, 2, l.ExecutionAttempt)
		assert.Equal(t, http.StatusNotFound, l.StatusCode)
		require.GreaterOrEqual(t, len(l.Attempts), 2, "every try of the delivery, oldest first")
		assert.Equal(t, 1, l.Attempts[0].ExecutionAttempt)
		assert.Equal(t, 2, l.Attempts[1].ExecutionAttempt)
	})

	// Real answers of the edge against its own OpenAPI document.
	t.Run("responses match openapi", func(t *testing.T) { checkApideckResponses(t, hub, appID, appKey) })

	env := []string{"HUB_URL=http://" + hub.addr, "APP_KEY=" + appKey, "BOUND_KEY=" + boundKey, "APP_ID=" + appID,
		"LOG_CONSUMER=acme", "MULTI_CONSUMER=multi"}
	t.Run("unify", func(t *testing.T) { runNode(t, "apideck-unify.test.mjs", env...) })
	t.Run("node", func(t *testing.T) { runNode(t, "apideck-node.test.mjs", env...) })
	t.Run("openapi", func(t *testing.T) { runNode(t, "apideck-openapi.test.mjs", env...) })
}

// checkApideckResponses sends one request per documented answer of the
// /apideck edge and validates the body against the schema the served
// OpenAPI document gives for that operation and status.
func checkApideckResponses(t *testing.T, hub *hubProcess, appID, key string) {
	base := "http://" + hub.addr
	send := func(method, path, consumer string, body any) (int, []byte) {
		var rd io.Reader
		if body != nil {
			b, err := json.Marshal(body)
			require.NoError(t, err)
			rd = bytes.NewReader(b)
		}
		req, err := http.NewRequest(method, base+path, rd)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("x-apideck-app-id", appID)
		req.Header.Set("Content-Type", "application/json")
		if consumer != "" {
			req.Header.Set("x-apideck-consumer-id", consumer)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, raw
	}

	code, rawDoc := send("GET", "/apideck/openapi.json", "", nil)
	require.Equal(t, http.StatusOK, code)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(rawDoc))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	require.NoError(t, c.AddResource("apideck.json", doc))
	var ops struct {
		Paths map[string]map[string]struct {
			Responses map[string]struct {
				Ref     string `json:"$ref"`
				Content map[string]struct {
					Schema struct {
						Ref string `json:"$ref"`
					} `json:"schema"`
				} `json:"content"`
			} `json:"responses"`
		} `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(rawDoc, &ops))
	schemaOf := func(template, method string, status int) *jsonschema.Schema {
		op, ok := ops.Paths[template][strings.ToLower(method)]
		require.True(t, ok, "%s %s is documented", method, template)
		res, ok := op.Responses[strconv.Itoa(status)]
		require.True(t, ok, "%s %s documents %d", method, template, status)
		ref := res.Content["application/json"].Schema.Ref
		if res.Ref != "" {
			ref = "#/components/schemas/Error" // every error response is the Error body
		}
		require.NotEmpty(t, ref, "%s %s %d has a schema", method, template, status)
		s, err := c.Compile("apideck.json" + ref)
		require.NoError(t, err)
		return s
	}

	stamp := strconv.FormatInt(time.Now().UnixNano(), 36)
	consumer := "schema-" + stamp
	cases := []struct {
		method, path, template, consumer string
		body                             any
		status                           int
	}{
		{"POST", "/apideck/webhook/webhooks", "/webhook/webhooks", "", map[string]any{"unified_api": "accounting", "status": "enabled",
			"delivery_url": "https://example.com/schema", "events": []string{"accounting.invoice.created"}}, 201},
		{"GET", "/apideck/webhook/webhooks?limit=2", "/webhook/webhooks", "", nil, 200},
		{"GET", "/apideck/webhook/webhooks/01900000-0000-7000-8000-000000000000", "/webhook/webhooks/{id}", "", nil, 404},
		{"GET", "/apideck/webhook/logs?limit=3&filter[consumer_id]=acme", "/webhook/logs", "", nil, 200},
		{"GET", "/apideck/webhook/logs?filter[nope]=1", "/webhook/logs", "", nil, 400},
		{"GET", "/apideck/connector/connectors", "/connector/connectors", "", nil, 200},
		{"GET", "/apideck/connector/connectors/dversum", "/connector/connectors/{id}", "", nil, 200},
		{"POST", "/apideck/vault/connections/accounting/dversum/import", "/vault/connections/{unified_api}/{service_id}/import", consumer, map[string]any{}, 200},
		{"GET", "/apideck/vault/connections", "/vault/connections", consumer, nil, 200},
		{"GET", "/apideck/vault/connections/accounting/dversum", "/vault/connections/{unified_api}/{service_id}", consumer, nil, 200},
		{"PATCH", "/apideck/vault/connections/accounting/dversum", "/vault/connections/{unified_api}/{service_id}", consumer, map[string]any{"enabled": false}, 200},
		{"GET", "/apideck/vault/connections/accounting/dversum", "/vault/connections/{unified_api}/{service_id}", "multi", nil, 409},
		{"POST", "/apideck/vault/sessions", "/vault/sessions", consumer, map[string]any{"consumer_metadata": map[string]any{"account_name": "Schema"}}, 200},
		{"POST", "/apideck/vault/consumers", "/vault/consumers", "", map[string]any{"consumer_id": "c-" + stamp, "metadata": map[string]any{"email": "c@example.com"}}, 200},
		{"POST", "/apideck/vault/consumers", "/vault/consumers", "", map[string]any{"consumer_id": "c-" + stamp}, 409},
		{"GET", "/apideck/vault/consumers?limit=2", "/vault/consumers", "", nil, 200},
		{"GET", "/apideck/vault/consumers/" + consumer, "/vault/consumers/{consumer_id}", "", nil, 200},
		{"PATCH", "/apideck/vault/consumers/c-" + stamp, "/vault/consumers/{consumer_id}", "", map[string]any{"metadata": map[string]any{"user_name": "U"}}, 200},
		{"DELETE", "/apideck/vault/consumers/c-" + stamp, "/vault/consumers/{consumer_id}", "", nil, 200},
		{"GET", "/apideck/vault/consumers/c-" + stamp, "/vault/consumers/{consumer_id}", "", nil, 404},
	}
	for _, tc := range cases {
		code, raw := send(tc.method, tc.path, tc.consumer, tc.body)
		require.Equal(t, tc.status, code, "%s %s: %s", tc.method, tc.path, raw)
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		require.NoError(t, err, "%s %s", tc.method, tc.path)
		assert.NoError(t, schemaOf(tc.template, tc.method, tc.status).Validate(v), "%s %s: %s", tc.method, tc.path, raw)
	}
	// The catch-all's 501 is documented in the description, in the Error shape.
	code, raw := send("GET", "/apideck/crm/leads", "", nil)
	require.Equal(t, http.StatusNotImplemented, code)
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	require.NoError(t, err)
	errSchema, err := c.Compile("apideck.json#/components/schemas/Error")
	require.NoError(t, err)
	assert.NoError(t, errSchema.Validate(v), "%s", raw)
}

// checkApideckBound tries, with a key bound to consumer acme, to reach
// other consumers' data through the /apideck edge.
func checkApideckBound(t *testing.T, hub *hubProcess, appID, key string) {
	send := func(method, path, consumer string) (int, string) {
		req, err := http.NewRequest(method, "http://"+hub.addr+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("x-apideck-app-id", appID)
		if consumer != "" {
			req.Header.Set("x-apideck-consumer-id", consumer)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(raw)
	}
	for _, tc := range []struct {
		method, path, consumer string
		status                 int
	}{
		{"GET", "/apideck/vault/connections", "multi", http.StatusForbidden},
		{"GET", "/apideck/vault/connections/accounting/dversum", "multi", http.StatusForbidden},
		{"DELETE", "/apideck/vault/connections/accounting/dversum", "multi", http.StatusForbidden},
		{"POST", "/apideck/vault/sessions", "multi", http.StatusForbidden},
		{"GET", "/apideck/vault/consumers/multi", "", http.StatusNotFound},
		{"DELETE", "/apideck/vault/consumers/multi", "", http.StatusNotFound},
		{"GET", "/apideck/webhook/logs?filter[consumer_id]=multi", "", http.StatusForbidden},
		{"GET", "/apideck/vault/connections", "", http.StatusOK},
	} {
		code, raw := send(tc.method, tc.path, tc.consumer)
		assert.Equal(t, tc.status, code, "%s %s as acme for %q: %s", tc.method, tc.path, tc.consumer, raw)
		if code < 300 {
			assert.NotContains(t, raw, `"multi"`, "%s %s: another consumer's data", tc.method, tc.path)
		}
	}
	// Its lists hold only acme's rows.
	for _, path := range []string{"/apideck/webhook/webhooks?limit=200", "/apideck/webhook/logs?limit=200", "/apideck/vault/consumers?limit=200"} {
		code, raw := send("GET", path, "")
		require.Equal(t, http.StatusOK, code, raw)
		var env struct {
			Data []map[string]any `json:"data"`
		}
		require.NoError(t, json.Unmarshal([]byte(raw), &env))
		for _, item := range env.Data {
			if id, ok := item["consumer_id"]; ok {
				assert.Equal(t, "acme", id, "%s: %v", path, item)
			}
		}
	}
	// The multi consumer's connections survived every try.
	code, raw := hub.request(t, hub.key, "multi", "GET", "/vault/connections", nil)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, 2, strings.Count(string(raw), `"service_id":"dversum"`))
}
