package vault_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/api"
	"github.com/switchboardhq/switchboard/hub/api/apitest"
	"github.com/switchboardhq/switchboard/hub/apikey"
	"github.com/switchboardhq/switchboard/hub/store"
	"github.com/switchboardhq/switchboard/hub/vault"
	"github.com/switchboardhq/switchboard/plugins"
)

const (
	acme   = "acme"
	globex = "globex"
	apiKey = "key_live_4f9a8b7c6d5e"
)

func managedBody() map[string]any {
	return map[string]any{
		"service_id":  "managed",
		"settings":    map[string]any{"base_url": "https://provider.example.com/v1", "event_types": []string{"invoice.created"}},
		"credentials": map[string]any{"api_key": apiKey, "api_env": "sandbox"},
	}
}

// TestRoutesMatchOpenAPI checks the vault serves exactly the operations the
// document marks as mounted by hub/vault, and that the API serves them.
func TestRoutesMatchOpenAPI(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	doc, err := apitest.Spec()
	require.NoError(t, err)
	param := regexp.MustCompile(`:([a-z_]+)`)

	var routes, documented, served []string
	for _, r := range h.vault.Routes() {
		routes = append(routes, r.Method+" "+param.ReplaceAllString(r.Path, "{$1}"))
		assert.NotEqual(t, api.Public, r.Tenancy, "%s %s needs an API key", r.Method, r.Path)
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.Extensions["x-mounted-by"] == "hub/vault" {
				documented = append(documented, method+" "+path)
			}
		}
	}
	for _, r := range h.handler.(*gin.Engine).Routes() {
		served = append(served, r.Method+" "+param.ReplaceAllString(r.Path, "{$1}"))
	}
	sort.Strings(routes)
	sort.Strings(documented)
	assert.Equal(t, documented, routes)
	assert.Subset(t, served, routes)
}

func TestCatalogue(t *testing.T) {
	t.Parallel()
	h := newHub(t, func(c *vault.Config) {
		c.Coverage = func(id string) any {
			if id == "signer" {
				return map[string]any{"service_id": id, "events": []any{}}
			}
			return nil
		}
	})
	h.loaded.setInfo(vault.Info{ID: "broken", Status: vault.StatusFailed})

	res := h.get("", "/connector/connectors")
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	list := res.List()
	require.Len(t, list, 3)
	assert.Equal(t, []any{"broken", "managed", "signer"}, []any{list[0]["id"], list[1]["id"], list[2]["id"]}, "sorted by id")

	broken := list[0]
	assert.Equal(t, "broken", broken["name"], "a connector that never started is named by its id")
	assert.Equal(t, "failed", broken["status"])
	assert.Nil(t, broken["webhook_support"])
	assert.Nil(t, broken["settings_schema"])

	managed := list[1]
	assert.Equal(t, "Managed", managed["name"])
	assert.Equal(t, "running", managed["status"])
	assert.Equal(t, map[string]any{"mode": "native", "managed_via": "api"}, managed["webhook_support"])
	assert.Equal(t, []any{"accounting", "issue-tracking"}, managed["unified_apis"])
	assert.Equal(t, []any{}, managed["supported_events"])
	assert.Equal(t, []any{"base_url"}, managed["settings_schema"].(map[string]any)["required"])
	assert.NotContains(t, managed, "mapping_coverage", "nil coverage is left out")

	signer := list[2]
	assert.Equal(t, "1.2.3", signer["version"])
	assert.Equal(t, true, signer["provider_signs"])
	assert.Equal(t, []any{map[string]any{"event_type": "accounting.invoice.created", "downstream_event_type": "invoice.created"}}, signer["supported_events"])
	assert.Equal(t, map[string]any{"service_id": "signer", "events": []any{}}, signer["mapping_coverage"])

	res = h.get("", "/connector/connectors/signer")
	require.Equal(t, http.StatusOK, res.Status)
	assert.Equal(t, "Signer", res.Str("data", "name"))
	requireError(t, h.get("", "/connector/connectors/nope"), 404, "EntityNotFoundError", "connector nope not found")
	requireError(t, h.do(req{Method: "GET", Path: "/connector/connectors", Key: "-"}), 401, "UnauthorizedError")
}

func TestCreateSigningConnection(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	res := h.create(acme, map[string]any{"service_id": "signer", "settings": map[string]any{"region": "eu"}})
	d := res.Data()
	id := res.Str("data", "id")
	secret := res.Str("data", "signing_secret")
	require.Len(t, secret, 43, "a generated 32-byte secret, URL-safe base64")
	assert.Equal(t, acme, d["consumer_id"])
	assert.Equal(t, "signer", d["service_id"])
	assert.Equal(t, "active", d["status"])
	assert.Equal(t, false, d["registered"])
	assert.Equal(t, map[string]any{"region": "eu"}, d["settings"])
	assert.NotContains(t, d, "credentials")
	webhookURL := res.Str("data", "webhook_url")
	require.True(t, strings.HasPrefix(webhookURL, publicURL+"/webhook/inbound/signer/"), webhookURL)
	assert.Contains(t, res.Str("data", "message"), webhookURL, "the connector's instructions are passed on")

	// The connector got the connection with the generated secret and the URL.
	subs := h.signer.subscribed()
	require.Len(t, subs, 1)
	assert.Equal(t, webhookURL, subs[0].WebhookURL)
	assert.Equal(t, id, subs[0].Connection.ID)
	assert.Equal(t, acme, subs[0].Connection.ConsumerID)
	assert.Equal(t, secret, subs[0].Connection.Credentials[plugins.CredentialSigningSecret])

	// The store finds it by the hash of the URL's token, with the secret.
	token := webhookURL[strings.LastIndex(webhookURL, "/")+1:]
	hash := sha256.Sum256([]byte(token))
	conn, err := h.store.ConnectionByToken(context.Background(), "signer", hash[:])
	require.NoError(t, err)
	assert.Equal(t, id, conn.ID)
	assert.Equal(t, secret, conn.Credentials[plugins.CredentialSigningSecret])
	assert.Empty(t, conn.Registrations, "nothing was registered")

	// Reading it shows the URL again but never the secret.
	got := h.get(acme, "/vault/connections/"+id)
	require.Equal(t, http.StatusOK, got.Status, "%s", got.Body)
	assert.Equal(t, webhookURL, got.Str("data", "webhook_url"))
	assert.NotContains(t, got.Data(), "signing_secret")
	assert.NotContains(t, got.Data(), "message")
	list := h.get(acme, "/vault/connections")
	require.Len(t, list.List(), 1)
	assert.Equal(t, webhookURL, list.List()[0]["webhook_url"])

	// A caller that brings the provider's own secret does not get it back.
	own := "provider-given-secret-0123456789"
	res2 := h.create(acme, map[string]any{"service_id": "signer", "credentials": map[string]any{"signing_secret": own}})
	assert.NotContains(t, res2.Data(), "signing_secret")
	assert.Equal(t, own, h.signer.subscribed()[1].Connection.Credentials[plugins.CredentialSigningSecret])
	assert.NotEqual(t, webhookURL, res2.Str("data", "webhook_url"), "every connection has its own token")

	h.requireNowhere([]string{secret, own}, res)
}

func TestCreateManagedConnection(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	res := h.create(acme, managedBody())
	id := res.Str("data", "id")
	assert.Equal(t, true, res.Data()["registered"])
	assert.Equal(t, "registered at Managed", res.Str("data", "message"))
	assert.NotContains(t, res.Data(), "signing_secret", "this provider does not sign")

	subs := h.managed.subscribed()
	require.Len(t, subs, 1)
	assert.Equal(t, map[string]string{"api_key": apiKey, "api_env": "sandbox"}, subs[0].Connection.Credentials)
	assert.JSONEq(t, `{"base_url":"https://provider.example.com/v1","event_types":["invoice.created"]}`, string(subs[0].Connection.Settings))

	conn, err := h.store.GetConnection(context.Background(), store.Consumer(acme), id)
	require.NoError(t, err)
	assert.JSONEq(t, `{"hook_id":"hook-1"}`, string(conn.Registrations), "JSON state is stored as is")
	h.requireNowhere([]string{apiKey})
}

func TestConsumerHeaderRequired(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	id := h.create(acme, managedBody()).Str("data", "id")
	for _, r := range []req{
		{Method: "POST", Path: "/vault/connections", Body: managedBody()},
		{Method: "GET", Path: "/vault/connections"},
		{Method: "GET", Path: "/vault/connections/" + id},
		{Method: "PATCH", Path: "/vault/connections/" + id, Body: map[string]any{"status": "disabled"}},
		{Method: "DELETE", Path: "/vault/connections/" + id},
		{Method: "GET", Path: "/vault/connections", Consumer: "   "},
		{Method: "GET", Path: "/vault/connections", Consumer: strings.Repeat("c", 256)},
	} {
		res := h.do(r)
		requireError(t, res, 400, "RequestValidationError", "x-consumer-id")
		assert.Equal(t, "x-consumer-id", res.JSON["detail"].(map[string]any)["field"])
	}
	assert.Len(t, h.managed.subscribed(), 1, "the refused create reached no connector")
	assert.Empty(t, h.managed.unsubscribed())
	assert.Equal(t, http.StatusOK, h.get(acme, "/vault/connections/"+id).Status, "the refused delete deleted nothing")
	assert.Equal(t, "active", h.get(acme, "/vault/connections/"+id).Str("data", "status"))
}

func TestScopes(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	readOnly := createKey(t, h, apikey.ScopeWebhooksRead)
	writer := createKey(t, h, apikey.ScopeConnectionsWrite)

	requireError(t, h.do(req{Method: "POST", Path: "/vault/connections", Consumer: acme, Key: readOnly, Body: managedBody()}),
		403, "ForbiddenError", "connections:write")
	res := h.do(req{Method: "POST", Path: "/vault/connections", Consumer: acme, Key: writer, Body: managedBody()})
	require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
	id := res.Str("data", "id")
	assert.Equal(t, http.StatusOK, h.do(req{Method: "GET", Path: "/vault/connections/" + id, Consumer: acme, Key: readOnly}).Status)
	requireError(t, h.do(req{Method: "DELETE", Path: "/vault/connections/" + id, Consumer: acme, Key: readOnly}), 403, "ForbiddenError")
	requireError(t, h.do(req{Method: "GET", Path: "/connector/connectors", Key: writer}), 403, "ForbiddenError", "webhooks:read")
}

func createKey(t *testing.T, h *hub, scopes ...string) string {
	t.Helper()
	plain, k, err := apikey.Generate("test", scopes, "")
	require.NoError(t, err)
	require.NoError(t, h.store.CreateAPIKey(context.Background(), k))
	return plain
}

func TestConsumersAreIsolated(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	id := h.create(acme, managedBody()).Str("data", "id")

	requireError(t, h.get(globex, "/vault/connections/"+id), 404, "EntityNotFoundError", "connection "+id+" not found")
	requireError(t, h.patch(globex, "/vault/connections/"+id, map[string]any{"status": "disabled"}), 404, "EntityNotFoundError")
	requireError(t, h.del(globex, "/vault/connections/"+id), 404, "EntityNotFoundError")
	assert.Empty(t, h.get(globex, "/vault/connections").List())
	assert.Empty(t, h.managed.unsubscribed(), "another consumer's delete reached no connector")

	res := h.get(acme, "/vault/connections/"+id)
	require.Equal(t, http.StatusOK, res.Status)
	assert.Equal(t, "active", res.Str("data", "status"))
	requireError(t, h.get(acme, "/vault/connections/01938a8e-7d1c-7c4e-9d7e-2b1f4a9c0e11"), 404, "EntityNotFoundError")
}

func TestCreateValidation(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	with := func(f func(b map[string]any)) map[string]any {
		b := managedBody()
		f(b)
		return b
	}
	settings := func(b map[string]any) map[string]any { return b["settings"].(map[string]any) }
	creds := func(b map[string]any) map[string]any { return b["credentials"].(map[string]any) }

	for _, tc := range []struct {
		name   string
		body   any
		status int
		field  string
		want   string
	}{
		{"unknown service", with(func(b map[string]any) { b["service_id"] = "nope" }), 422, "service_id", `service_id must be a loaded connector (managed, signer), got "nope"`},
		{"no service", with(func(b map[string]any) { delete(b, "service_id") }), 422, "service_id", "service_id is required"},
		{"base_url not a URI", with(func(b map[string]any) { settings(b)["base_url"] = "not a url" }), 422, "settings/base_url", "settings/base_url must be a URI"},
		{"base_url missing", with(func(b map[string]any) { delete(settings(b), "base_url") }), 422, "settings/base_url", "settings/base_url is required"},
		{"unknown setting", with(func(b map[string]any) { settings(b)["colour"] = "red" }), 422, "settings/colour", "settings/colour is not a known field"},
		{"event type not a string", with(func(b map[string]any) { settings(b)["event_types"] = []any{"a", 7} }), 422, "settings/event_types/1", "settings/event_types/1 must be a string, got number"},
		{"no event types", with(func(b map[string]any) { settings(b)["event_types"] = []any{} }), 422, "settings/event_types", "settings/event_types must have at least 1 item"},
		{"api_key missing", with(func(b map[string]any) { delete(creds(b), "api_key") }), 422, "credentials/api_key", "credentials/api_key is required"},
		{"api_key pattern", with(func(b map[string]any) { creds(b)["api_key"] = "wrong-secret-value" }), 422, "credentials/api_key", `credentials/api_key must match the pattern "^key_"`},
		{"credential not a string", with(func(b map[string]any) { creds(b)["api_env"] = 12345678 }), 422, "credentials/api_env", "credentials/api_env must be a string"},
		{"settings not an object", with(func(b map[string]any) { b["settings"] = []any{1} }), 400, "settings", "settings must be a JSON object, got an array"},
		{"credentials not an object", with(func(b map[string]any) { b["credentials"] = "key_abcdefgh" }), 400, "credentials", "credentials must be a JSON object, got a string"},
		{"unknown field", with(func(b map[string]any) { b["secret"] = "x" }), 400, "secret", "secret is not a known field"},
		{"not JSON", "{", 400, "", "not valid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := h.post(acme, "/vault/connections", tc.body)
			requireError(t, res, tc.status, "RequestValidationError", tc.want)
			assert.Equal(t, tc.field, res.JSON["detail"].(map[string]any)["field"])
			assert.NotContains(t, string(res.Body), "wrong-secret-value", "a credential is never quoted")
			assert.NotContains(t, string(res.Body), "12345678", "a credential is never quoted")
		})
	}
	// Several problems are all named.
	res := h.post(acme, "/vault/connections", with(func(b map[string]any) {
		settings(b)["base_url"] = "nope"
		delete(creds(b), "api_key")
	}))
	requireError(t, res, 422, "RequestValidationError", "settings/base_url must be a URI", "credentials/api_key is required")

	// A signing secret shorter than the schema allows is refused unquoted.
	res = h.post(acme, "/vault/connections", map[string]any{"service_id": "signer", "credentials": map[string]any{"signing_secret": "short-secret"}})
	requireError(t, res, 422, "RequestValidationError", "credentials/signing_secret must be at least 16 characters long")
	assert.NotContains(t, string(res.Body), "short-secret")

	assert.Empty(t, h.managed.subscribed(), "no invalid request reached the connector")
	assert.Empty(t, h.signer.subscribed())
	assert.Empty(t, h.get(acme, "/vault/connections").List())
	h.requireNowhere([]string{"wrong-secret-value", "short-secret"})
}

func TestProviderRefusesRegistration(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	h.managed.set(func(m *managed) {
		// The provider echoes the key it refused: it must not be passed on.
		m.subscribeErr = &plugins.ProviderError{StatusCode: 401, Message: "invalid token " + apiKey}
	})
	res := h.post(acme, "/vault/connections", managedBody())
	requireError(t, res, 502, "ConnectorExecutionError", "401", "invalid token", "register the webhook")
	detail := res.JSON["detail"].(map[string]any)
	assert.Equal(t, float64(401), detail["provider_status"])
	assert.Equal(t, "managed", detail["service_id"])
	assert.NotContains(t, string(res.Body), apiKey)

	assert.Empty(t, h.get(acme, "/vault/connections").List(), "nothing half-made is left")
	conns, err := h.store.ListConnections(context.Background(), store.Consumer(acme), store.Page{})
	require.NoError(t, err)
	assert.Empty(t, conns)
	h.requireNowhere([]string{apiKey})

	// A connector error that is not the provider's is a 502 too.
	h.managed.set(func(m *managed) { m.subscribeErr = assert.AnError })
	requireError(t, h.post(acme, "/vault/connections", managedBody()), 502, "ConnectorExecutionError", "connector managed failed to register the webhook")
	assert.Empty(t, h.get(acme, "/vault/connections").List())
}

func TestConnectorUnavailable(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	id := h.create(acme, managedBody()).Str("data", "id")
	h.loaded.setDown("managed", true)

	res := h.post(acme, "/vault/connections", managedBody())
	requireError(t, res, 503, "ServiceUnavailableError", "connector managed is unavailable")
	assert.Equal(t, "3", res.Header.Get("Retry-After"))
	assert.Len(t, h.get(acme, "/vault/connections").List(), 1, "nothing was stored")

	res = h.del(acme, "/vault/connections/"+id)
	requireError(t, res, 503, "ServiceUnavailableError", "remove the webhook registration")
	assert.Equal(t, "3", res.Header.Get("Retry-After"))
	assert.Equal(t, http.StatusOK, h.get(acme, "/vault/connections/"+id).Status, "the connection stays")

	// A connector that never started cannot validate a connection.
	h.loaded.setInfo(vault.Info{ID: "broken", Status: vault.StatusFailed})
	res = h.post(acme, "/vault/connections", map[string]any{"service_id": "broken"})
	requireError(t, res, 503, "ServiceUnavailableError", "connector broken is unavailable")
	assert.NotEmpty(t, res.Header.Get("Retry-After"))
}

func TestDeleteUnsubscribesWithStoredState(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	// State that is not JSON survives the store byte for byte.
	raw := []byte{0xff, 0x00, '"', 'x'}
	h.managed.set(func(m *managed) { m.state = raw })
	created := h.create(acme, managedBody())
	id := created.Str("data", "id")
	h.managed.set(func(m *managed) { m.state = nil })
	other := h.create(acme, managedBody()).Str("data", "id")

	res := h.del(acme, "/vault/connections/"+id)
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	assert.Equal(t, id, res.Str("data", "id"))
	// The answer shows it deleted, as every later read does (404).
	assert.Equal(t, "deleted", res.Str("data", "status"))
	assert.Equal(t, "active", created.Str("data", "status"))
	assert.Contains(t, res.Data(), "webhook_url")
	assert.Nil(t, res.Data()["webhook_url"], "its inbound URL is gone")
	assert.Equal(t, false, res.Data()["registered"])
	unsubs := h.managed.unsubscribed()
	require.Len(t, unsubs, 1)
	assert.Equal(t, raw, unsubs[0].State)
	assert.Equal(t, id, unsubs[0].Connection.ID)
	assert.Equal(t, apiKey, unsubs[0].Connection.Credentials["api_key"])
	requireError(t, h.get(acme, "/vault/connections/"+id), 404, "EntityNotFoundError")

	res = h.del(acme, "/vault/connections/"+other)
	require.Equal(t, http.StatusOK, res.Status)
	unsubs = h.managed.unsubscribed()
	require.Len(t, unsubs, 2)
	assert.JSONEq(t, `{"hook_id":"hook-2"}`, string(unsubs[1].State))

	// A connection with nothing registered is deleted without a call.
	signed := h.create(acme, map[string]any{"service_id": "signer"}).Str("data", "id")
	h.loaded.setDown("signer", true)
	assert.Equal(t, http.StatusOK, h.del(acme, "/vault/connections/"+signed).Status)
	assert.Empty(t, h.get(acme, "/vault/connections").List())
}

func TestDeleteRefusedKeepsConnection(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	id := h.create(acme, managedBody()).Str("data", "id")
	h.managed.set(func(m *managed) {
		m.unsubscribeErr = &plugins.ProviderError{StatusCode: 403, Message: "hook belongs to another account"}
	})
	res := h.del(acme, "/vault/connections/"+id)
	requireError(t, res, 502, "ConnectorExecutionError", "403", "hook belongs to another account", "remove the webhook registration")
	res = h.get(acme, "/vault/connections/"+id)
	require.Equal(t, http.StatusOK, res.Status, "the connection stays")
	assert.Equal(t, true, res.Data()["registered"])

	requireError(t, h.do(req{Method: "DELETE", Path: "/vault/connections/" + id + "?force=maybe", Consumer: acme}), 400, "RequestValidationError", "force")
	res = h.do(req{Method: "DELETE", Path: "/vault/connections/" + id + "?force=true", Consumer: acme})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	requireError(t, h.get(acme, "/vault/connections/"+id), 404, "EntityNotFoundError")
	assert.Contains(t, h.logs.String(), "provider registration left behind", "a forced delete says what it left")
	h.requireNowhere([]string{apiKey})
}

func TestCreateUndoneWhenStoreFails(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, h.store.StopQueue(ctx))
	require.NoError(t, h.store.Close())

	res := h.post(acme, "/vault/connections", managedBody())
	requireError(t, res, 500, "ServerError")
	subs, unsubs := h.managed.subscribed(), h.managed.unsubscribed()
	require.Len(t, subs, 1)
	require.Len(t, unsubs, 1, "the registration was undone")
	assert.JSONEq(t, `{"hook_id":"hook-1"}`, string(unsubs[0].State))
	assert.Equal(t, subs[0].Connection.ID, unsubs[0].Connection.ID)
	h.requireNowhere([]string{apiKey})
}

func TestUpdateConnection(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	created := h.create(acme, managedBody())
	id := created.Str("data", "id")
	path := "/vault/connections/" + id

	// Status alone touches no provider.
	res := h.patch(acme, path, map[string]any{"status": "disabled"})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	assert.Equal(t, "disabled", res.Str("data", "status"))
	assert.Len(t, h.managed.subscribed(), 1)
	requireError(t, h.patch(acme, path, map[string]any{"status": "paused"}), 422, "RequestValidationError", `status must be active or disabled, got "paused"`)

	// Credentials merge: a new key replaces one, null removes one, the
	// others stay; the result is validated again.
	newKey := "key_rotated_77aa66bb"
	res = h.patch(acme, path, map[string]any{"credentials": map[string]any{"api_key": newKey, "api_env": nil}})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	conn, err := h.store.GetConnection(context.Background(), store.Consumer(acme), id)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"api_key": newKey}, conn.Credentials)
	assert.Len(t, h.managed.subscribed(), 1, "credentials alone are not registered again")
	requireError(t, h.patch(acme, path, map[string]any{"credentials": map[string]any{"api_key": nil}}), 422, "RequestValidationError", "credentials/api_key is required")
	requireError(t, h.patch(acme, path, map[string]any{"settings": map[string]any{"base_url": "::"}}), 422, "RequestValidationError", "settings/base_url must be a URI")
	requireError(t, h.patch(acme, path, map[string]any{"service_id": "signer"}), 400, "RequestValidationError", "service_id is not a known field")

	// Changed settings are registered anew, then the old registration goes.
	res = h.patch(acme, path, map[string]any{"settings": map[string]any{"base_url": "https://eu.provider.example.com/v1"}})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	assert.Equal(t, map[string]any{"base_url": "https://eu.provider.example.com/v1"}, res.Data()["settings"])
	assert.Equal(t, "registered at Managed", res.Str("data", "message"))
	assert.Equal(t, created.Str("data", "webhook_url"), res.Str("data", "webhook_url"), "the inbound URL never changes")
	subs, unsubs := h.managed.subscribed(), h.managed.unsubscribed()
	require.Len(t, subs, 2)
	assert.Equal(t, created.Str("data", "webhook_url"), subs[1].WebhookURL)
	assert.JSONEq(t, `{"base_url":"https://eu.provider.example.com/v1"}`, string(subs[1].Connection.Settings))
	assert.Equal(t, newKey, subs[1].Connection.Credentials["api_key"])
	require.Len(t, unsubs, 1)
	assert.JSONEq(t, `{"hook_id":"hook-1"}`, string(unsubs[0].State), "the previous registration is removed")
	assert.JSONEq(t, `{"base_url":"https://provider.example.com/v1","event_types":["invoice.created"]}`, string(unsubs[0].Connection.Settings),
		"where it was registered")
	conn, err = h.store.GetConnection(context.Background(), store.Consumer(acme), id)
	require.NoError(t, err)
	assert.JSONEq(t, `{"hook_id":"hook-2"}`, string(conn.Registrations))

	// A provider refusing the new settings changes nothing.
	h.managed.set(func(m *managed) {
		m.subscribeErr = &plugins.ProviderError{StatusCode: 400, Message: "unknown event type"}
	})
	res = h.patch(acme, path, map[string]any{"settings": map[string]any{"base_url": "https://us.provider.example.com/v1"}})
	requireError(t, res, 502, "ConnectorExecutionError", "400", "unknown event type")
	res = h.get(acme, path)
	assert.Equal(t, map[string]any{"base_url": "https://eu.provider.example.com/v1"}, res.Data()["settings"])
	h.requireNowhere([]string{apiKey, newKey})
}

func TestUpdateRegeneratesSigningSecret(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	created := h.create(acme, map[string]any{"service_id": "signer"})
	first := created.Str("data", "signing_secret")
	path := "/vault/connections/" + created.Str("data", "id")

	res := h.patch(acme, path, map[string]any{"settings": map[string]any{"region": "us"}})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	assert.NotContains(t, res.Data(), "signing_secret", "unchanged secrets are not shown")

	res = h.patch(acme, path, map[string]any{"credentials": map[string]any{"signing_secret": nil}})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	second := res.Str("data", "signing_secret")
	require.Len(t, second, 43)
	assert.NotEqual(t, first, second)
	assert.NotContains(t, h.get(acme, path).Data(), "signing_secret")
	h.requireNowhere([]string{first, second}, created, res)
}

func TestListPages(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	var ids []string
	for range 3 {
		ids = append(ids, h.create(acme, map[string]any{"service_id": "signer"}).Str("data", "id"))
	}
	h.create(globex, map[string]any{"service_id": "signer"})

	res := h.get(acme, "/vault/connections?limit=2")
	require.Equal(t, http.StatusOK, res.Status)
	page := res.List()
	require.Len(t, page, 2)
	assert.Equal(t, ids[2], page[0]["id"], "newest first")
	assert.Equal(t, ids[1], page[1]["id"])
	next := res.JSON["meta"].(map[string]any)["cursors"].(map[string]any)["next"].(string)
	require.NotEmpty(t, next)
	link := res.JSON["links"].(map[string]any)["next"].(string)
	assert.True(t, strings.HasPrefix(link, publicURL+"/vault/connections?"), link)

	res = h.get(acme, "/vault/connections?limit=2&cursor="+url.QueryEscape(next))
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	require.Len(t, res.List(), 1)
	assert.Equal(t, ids[0], res.List()[0]["id"])
	assert.Nil(t, res.JSON["meta"].(map[string]any)["cursors"].(map[string]any)["next"])

	requireError(t, h.get(acme, "/vault/connections?limit=0"), 400, "RequestValidationError", "limit")
	requireError(t, h.get(acme, "/vault/connections?cursor=bogus"), 400, "InvalidCursorError")
}

func TestRegistrationsEncoding(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	for _, state := range [][]byte{
		[]byte(`"a JSON string"`),
		[]byte(`[1, 2]`),
		[]byte("plain text"),
	} {
		h.managed.set(func(m *managed) { m.state = state })
		id := h.create(acme, managedBody()).Str("data", "id")
		conn, err := h.store.GetConnection(context.Background(), store.Consumer(acme), id)
		require.NoError(t, err)
		require.True(t, json.Valid(conn.Registrations), "%s", conn.Registrations)
		require.Equal(t, http.StatusOK, h.del(acme, "/vault/connections/"+id).Status)
		unsubs := h.managed.unsubscribed()
		got := unsubs[len(unsubs)-1].State
		if json.Valid(state) && state[0] != '"' {
			assert.JSONEq(t, string(state), string(got))
		} else {
			assert.Equal(t, state, got)
		}
	}
}
