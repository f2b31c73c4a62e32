package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/api"
	"github.com/switchboardhq/switchboard/hub/api/apitest"
)

func TestAdminAPIKeys(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	res := h.post("/admin/api-keys", map[string]any{"name": "portal-acme", "scopes": []string{"webhooks:read", "connections:write"}, "consumer_id": "acme"})
	require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
	key, id := res.Str("data", "key"), res.Str("data", "id")
	require.True(t, strings.HasPrefix(key, "sb_"), key)
	assert.Equal(t, "acme", res.Str("data", "consumer_id"))

	list := h.get("/admin/api-keys")
	require.Equal(t, http.StatusOK, list.Status)
	assert.NotContains(t, string(list.Body), key, "the key is shown once")
	assert.Contains(t, string(list.Body), id)

	// The bound key works for its consumer and cannot manage keys.
	got := h.do(req{Method: "GET", Path: "/webhook/webhooks", Key: key})
	assert.Equal(t, http.StatusOK, got.Status, "%s", got.Body)
	requireError(t, h.do(req{Method: "GET", Path: "/admin/api-keys", Key: key}), http.StatusForbidden, "ForbiddenError", "application only")

	tests := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"no name", map[string]any{"scopes": []string{"webhooks:read"}}, "name"},
		{"no scopes", map[string]any{"name": "x"}, "scopes"},
		{"unknown scope", map[string]any{"name": "x", "scopes": []string{"root"}}, "scopes[0]"},
		{"admin bound to a consumer", map[string]any{"name": "x", "scopes": []string{"admin"}, "consumer_id": "acme"}, "scopes[0]"},
	}
	for _, tt := range tests {
		res := h.post("/admin/api-keys", tt.body)
		requireError(t, res, http.StatusUnprocessableEntity, "RequestValidationError", tt.field)
	}

	require.Equal(t, http.StatusOK, h.del("/admin/api-keys/"+id).Status)
	requireError(t, h.do(req{Method: "GET", Path: "/webhook/webhooks", Key: key}), http.StatusUnauthorized, "UnauthorizedError", "invalid API key")
	requireError(t, h.del("/admin/api-keys/"+id), http.StatusNotFound, "EntityNotFoundError", "not found")
	requireError(t, h.del("/admin/api-keys/0123456789abcdef"), http.StatusNotFound, "EntityNotFoundError", "not found")
}

func TestConsumerHeaderOfABoundKey(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	key := h.post("/admin/api-keys", map[string]any{"name": "acme", "scopes": []string{"webhooks:read"}, "consumer_id": "acme"}).Str("data", "key")
	for _, tt := range []struct {
		header map[string]string
		status int
	}{
		{nil, http.StatusOK},
		{map[string]string{"x-consumer-id": "acme"}, http.StatusOK},
		{map[string]string{"x-apideck-consumer-id": "acme"}, http.StatusOK},
		{map[string]string{"x-consumer-id": "globex"}, http.StatusForbidden},
		{map[string]string{"x-apideck-consumer-id": "globex"}, http.StatusForbidden},
		{map[string]string{"x-consumer-id": "acme", "x-apideck-consumer-id": "globex"}, http.StatusBadRequest},
	} {
		res := h.do(req{Method: "GET", Path: "/webhook/events", Key: key, Header: tt.header})
		assert.Equal(t, tt.status, res.Status, "%v: %s", tt.header, res.Body)
	}
	requireError(t, h.do(req{Method: "GET", Path: "/webhook/logs?filter[consumer_id]=globex", Key: key}), http.StatusForbidden, "ForbiddenError", `names consumer "globex"`)
}

func TestBoundKeyWritesForItsConsumerOnly(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	key := h.post("/admin/api-keys", map[string]any{"name": "acme", "consumer_id": "acme",
		"scopes": []string{"webhooks:read", "webhooks:write", "events:write"}}).Str("data", "key")
	sub := map[string]any{"unified_api": "accounting", "status": "enabled", "delivery_url": "https://example.com/h", "events": []string{"*"}}

	res := h.do(req{Method: "POST", Path: "/webhook/webhooks", Key: key, Body: sub})
	require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
	assert.Equal(t, "acme", res.Str("data", "consumer_id"), "a bound key's subscription is its consumer's, never application-wide")
	own := res.Str("data", "id")

	sub["consumer_id"] = "globex"
	requireError(t, h.do(req{Method: "POST", Path: "/webhook/webhooks", Key: key, Body: sub}), http.StatusForbidden, "ForbiddenError", "consumer_id")
	requireError(t, h.do(req{Method: "PATCH", Path: "/webhook/webhooks/" + own, Key: key, Body: map[string]any{"consumer_id": "globex"}}), http.StatusForbidden, "ForbiddenError", "consumer_id")
	requireError(t, h.do(req{Method: "PATCH", Path: "/webhook/webhooks/" + own, Key: key, Body: map[string]any{"consumer_id": nil}}), http.StatusForbidden, "ForbiddenError", "application-wide")
	requireError(t, h.do(req{Method: "POST", Path: "/webhook/events", Key: key, Body: map[string]any{
		"event_type": "accounting.invoice.created", "consumer_id": "globex", "entity_id": "i1"}}), http.StatusForbidden, "ForbiddenError", "consumer_id")

	res = h.do(req{Method: "POST", Path: "/webhook/events", Key: key, Body: map[string]any{"event_type": "accounting.invoice.created", "entity_id": "i1"}})
	require.Equal(t, http.StatusAccepted, res.Status, "consumer_id defaults to the key's: %s", res.Body)
	ev := h.get("/webhook/events/" + res.Str("data", "id"))
	assert.Equal(t, "acme", ev.Str("data", "consumer_id"))
}

func TestSessions(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC()
	clock := &now
	h := newHub(t, func(c *api.Config) { c.Now = func() time.Time { return *clock } })
	parent := h.post("/admin/api-keys", map[string]any{"name": "app", "scopes": []string{"webhooks:read", "connections:write", "events:write"}})
	parentKey, parentID := parent.Str("data", "key"), parent.Str("data", "id")

	mint := func(key string, consumer string, body map[string]any) response {
		hdr := map[string]string{}
		if consumer != "" {
			hdr["x-apideck-consumer-id"] = consumer
		}
		return h.do(req{Method: "POST", Path: "/vault/sessions", Key: key, Header: hdr, Body: body})
	}
	res := mint(parentKey, "acme", map[string]any{"redirect_uri": "https://app.example.com/done", "consumer_metadata": map[string]any{"email": "a@acme.test"}})
	require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
	token := res.Str("data", "session_token")
	require.True(t, strings.HasPrefix(token, "sbs_"), token)
	assert.Equal(t, "https://hub.example.com/console/#session="+token, res.Str("data", "session_uri"), "the token travels in the fragment")
	assert.ElementsMatch(t, []any{"connections:write", "webhooks:read"}, res.Data()["scopes"], "default scopes")
	expires, err := time.Parse(time.RFC3339Nano, res.Str("data", "expires_at"))
	require.NoError(t, err)
	assert.WithinDuration(t, now.Add(time.Hour), expires, time.Second, "default lifetime an hour")

	// The session acts as its consumer.
	got := h.do(req{Method: "GET", Path: "/vault/sessions", Key: token})
	assert.Equal(t, http.StatusOK, got.Status, "%s", got.Body)
	requireError(t, h.do(req{Method: "GET", Path: "/vault/sessions", Key: token, Header: map[string]string{"x-consumer-id": "globex"}}),
		http.StatusForbidden, "ForbiddenError", "globex")
	requireError(t, h.do(req{Method: "POST", Path: "/webhook/events", Key: token, Body: map[string]any{}}), http.StatusForbidden, "ForbiddenError", "events:write")
	requireError(t, mint(token, "", map[string]any{}), http.StatusForbidden, "ForbiddenError", "a session cannot create sessions")
	list := h.do(req{Method: "GET", Path: "/vault/sessions", Key: parentKey, Header: map[string]string{"x-consumer-id": "acme"}})
	require.Equal(t, http.StatusOK, list.Status)
	require.Len(t, list.List(), 1)
	assert.NotContains(t, string(list.Body), token, "a listed session never shows its token")

	for _, tt := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"admin", map[string]any{"scopes": []string{"admin"}}, "never granted"},
		{"events:write", map[string]any{"scopes": []string{"events:write"}}, "never granted"},
		{"not held by the key", map[string]any{"scopes": []string{"webhooks:write"}}, "subset"},
		{"too long", map[string]any{"ttl_seconds": 86401}, "ttl_seconds"},
		{"redirect not a URL", map[string]any{"redirect_uri": "javascript:alert(1)"}, "redirect_uri"},
	} {
		requireError(t, mint(parentKey, "acme", tt.body), http.StatusUnprocessableEntity, "RequestValidationError", tt.field)
	}
	requireError(t, mint(parentKey, "", map[string]any{}), http.StatusBadRequest, "RequestValidationError", "x-consumer-id")

	// Expiry.
	later := now.Add(time.Hour + time.Second)
	clock = &later
	requireError(t, h.do(req{Method: "GET", Path: "/vault/sessions", Key: token}), http.StatusUnauthorized, "UnauthorizedError", "invalid session")
	clock = &now

	// Revoking the parent key ends its sessions; so does revoking the session.
	short := mint(parentKey, "acme", map[string]any{"ttl_seconds": 60}).Str("data", "session_token")
	require.Equal(t, http.StatusOK, h.do(req{Method: "GET", Path: "/webhook/webhooks", Key: short}).Status)
	require.Equal(t, http.StatusOK, h.del("/admin/api-keys/"+parentID).Status)
	requireError(t, h.do(req{Method: "GET", Path: "/webhook/webhooks", Key: short}), http.StatusUnauthorized, "UnauthorizedError", "invalid session")

	own := mint(bootstrapKey, "acme", map[string]any{})
	require.Equal(t, http.StatusCreated, own.Status, "%s", own.Body)
	ownToken, ownID := own.Str("data", "session_token"), own.Str("data", "id")
	del := h.do(req{Method: "DELETE", Path: "/vault/sessions/" + ownID, Key: ownToken})
	require.Equal(t, http.StatusOK, del.Status, "%s", del.Body)
	requireError(t, h.do(req{Method: "GET", Path: "/webhook/webhooks", Key: ownToken}), http.StatusUnauthorized, "UnauthorizedError", "invalid session")
}

func TestSessionsEndWhenTheBootstrapKeyChanges(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	token := h.do(req{Method: "POST", Path: "/vault/sessions", Key: bootstrapKey, Header: map[string]string{"x-consumer-id": "acme"}}).Str("data", "session_token")
	require.Equal(t, http.StatusOK, h.do(req{Method: "GET", Path: "/webhook/webhooks", Key: token}).Status)

	other, err := api.New(api.Config{Store: h.store, BootstrapKey: "a-different-bootstrap-key"})
	require.NoError(t, err)
	res := apiServe(t, other, token)
	assert.Equal(t, http.StatusUnauthorized, res, "a session of the old SWITCHBOARD_API_KEY")
	none, err := api.New(api.Config{Store: h.store})
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, apiServe(t, none, token), "no SWITCHBOARD_API_KEY at all")
}

func apiServe(t *testing.T, h http.Handler, key string) int {
	t.Helper()
	return apitest.Serve(t, h, "GET", "/webhook/webhooks", nil, http.Header{"Authorization": {"Bearer " + key}}).Status
}
