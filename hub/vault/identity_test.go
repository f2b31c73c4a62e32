package vault_test

import (
	"context"
	"crypto/sha256"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/apikey"
	"github.com/switchboardhq/switchboard/hub/store"
	"github.com/switchboardhq/switchboard/plugins"
)

// tokenOf is the inbound token in a webhook_url.
func tokenOf(t *testing.T, webhookURL string) string {
	t.Helper()
	u, err := url.Parse(webhookURL)
	require.NoError(t, err)
	return u.Path[strings.LastIndex(u.Path, "/")+1:]
}

// byToken finds a connection the way an inbound request does.
func (h *hub) byToken(serviceID, token string) error {
	sum := sha256.Sum256([]byte(token))
	_, err := h.store.ConnectionByToken(context.Background(), serviceID, sum[:])
	return err
}

func TestRotateTokenOfARegisteredConnection(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	created := h.create(acme, managedBody())
	id, oldURL := created.Str("data", "id"), created.Str("data", "webhook_url")
	oldToken := tokenOf(t, oldURL)

	res := h.post(acme, "/vault/connections/"+id+"/rotate-token", nil)
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	newURL := res.Str("data", "webhook_url")
	require.NotEqual(t, oldURL, newURL)
	newToken := tokenOf(t, newURL)

	subs, unsubs := h.managed.subscribed(), h.managed.unsubscribed()
	require.Len(t, subs, 2, "the new URL is registered")
	assert.Equal(t, newURL, subs[1].WebhookURL)
	require.Len(t, unsubs, 1, "the old registration is removed after")
	assert.JSONEq(t, `{"hook_id":"hook-1"}`, string(unsubs[0].State))
	assert.Equal(t, newURL, h.get(acme, "/vault/connections/"+id).Str("data", "webhook_url"))
	require.ErrorIs(t, h.byToken("managed", oldToken), store.ErrNotFound, "the old token stops working")
	require.NoError(t, h.byToken("managed", newToken))

	// A provider that refuses the new registration leaves everything as it was.
	h.managed.set(func(m *managed) { m.subscribeErr = &plugins.ProviderError{StatusCode: 403, Message: "quota exceeded"} })
	requireError(t, h.post(acme, "/vault/connections/"+id+"/rotate-token", nil), 502, "ConnectorExecutionError", "quota exceeded")
	assert.Equal(t, newURL, h.get(acme, "/vault/connections/"+id).Str("data", "webhook_url"))
	require.NoError(t, h.byToken("managed", newToken), "the current token keeps working")
	assert.Len(t, h.managed.unsubscribed(), 1, "nothing more was removed")

	requireError(t, h.post(globex, "/vault/connections/"+id+"/rotate-token", nil), 404, "EntityNotFoundError")
}

func TestRotateTokenOfAManualConnection(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	created := h.create(acme, map[string]any{"service_id": "signer"})
	id, oldToken := created.Str("data", "id"), tokenOf(t, created.Str("data", "webhook_url"))
	res := h.post(acme, "/vault/connections/"+id+"/rotate-token", nil)
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	assert.Contains(t, res.Str("data", "message"), "previous webhook_url no longer works")
	require.ErrorIs(t, h.byToken("signer", oldToken), store.ErrNotFound)
	require.NoError(t, h.byToken("signer", tokenOf(t, res.Str("data", "webhook_url"))))
	assert.Empty(t, res.Str("data", "signing_secret"), "the signing secret is not shown again")
}

func TestReadOnlyCallersSeeNoInboundToken(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	id := h.create(acme, managedBody()).Str("data", "id")
	readOnly := createKey(t, h, apikey.ScopeWebhooksRead)
	for _, path := range []string{"/vault/connections/" + id, "/vault/connections"} {
		res := h.do(req{Method: "GET", Path: path, Consumer: acme, Key: readOnly})
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		assert.NotContains(t, string(res.Body), "/webhook/inbound/", "%s as read-only", path)
	}
	assert.Contains(t, h.get(acme, "/vault/connections/"+id).Str("data", "webhook_url"), "/webhook/inbound/managed/")
}

func TestOperatorOnlySettings(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	plain, k, err := apikey.Generate("acme portal", []string{apikey.ScopeConnectionsWrite, apikey.ScopeWebhooksRead}, acme)
	require.NoError(t, err)
	require.NoError(t, h.store.CreateAPIKey(context.Background(), k))

	res := h.do(req{Method: "POST", Path: "/vault/connections", Key: plain, Body: managedBody()})
	requireError(t, res, 403, "ForbiddenError", "settings/base_url is an operator-only setting")

	res = h.do(req{Method: "POST", Path: "/vault/connections", Key: plain, Body: map[string]any{"service_id": "signer"}})
	require.Equal(t, http.StatusCreated, res.Status, "a connector without operator-only settings: %s", res.Body)
	assert.Equal(t, acme, res.Str("data", "consumer_id"))

	// The operator sets base_url; the consumer may keep it but not change it.
	id := h.create(acme, managedBody()).Str("data", "id")
	keep := map[string]any{"settings": map[string]any{"base_url": "https://provider.example.com/v1", "event_types": []string{"invoice.paid"}}}
	res = h.do(req{Method: "PATCH", Path: "/vault/connections/" + id, Key: plain, Body: keep})
	require.Equal(t, http.StatusOK, res.Status, "unchanged base_url: %s", res.Body)
	steer := map[string]any{"settings": map[string]any{"base_url": "http://169.254.169.254/latest", "event_types": []string{"invoice.paid"}}}
	requireError(t, h.do(req{Method: "PATCH", Path: "/vault/connections/" + id, Key: plain, Body: steer}), 403, "ForbiddenError", "operator-only")
	drop := map[string]any{"settings": map[string]any{"event_types": []string{"invoice.paid"}}}
	requireError(t, h.do(req{Method: "PATCH", Path: "/vault/connections/" + id, Key: plain, Body: drop}), 403, "ForbiddenError", "remove")
	shout := map[string]any{"settings": map[string]any{"BASE_URL": "http://169.254.169.254/latest", "event_types": []string{"invoice.paid"}}}
	res = h.do(req{Method: "PATCH", Path: "/vault/connections/" + id, Key: plain, Body: shout})
	assert.Contains(t, []int{403, 422}, res.Status, "a differently cased name is the same setting: %s", res.Body)
	assert.Equal(t, http.StatusOK, h.patch(acme, "/vault/connections/"+id, steer).Status, "the operator may")
}
