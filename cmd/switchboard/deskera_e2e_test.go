package main

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/connectors/deskera"
	"github.com/switchboardhq/switchboard/connectors/deskera/deskerafake"
)

// Deskera credentials for the fake; distinct enough that finding one in the
// hub's output is no accident.
const (
	dkAccessToken  = "at_e2e_5d1f7b3a9c2e"
	dkClientID     = "cl_pub_e2e_8a2c4e6f"
	dkClientSecret = "cl_priv_e2e_1b3d5f7a"
	dkRefreshToken = "rt_e2e_9e7c5a3b1d0f"
)

func deskeraConnection(baseURL string, eventTypes ...string) map[string]any {
	return map[string]any{
		"service_id": "deskera",
		"settings":   map[string]any{"base_url": baseURL, "event_types": eventTypes},
		"credentials": map[string]any{
			"client_id": dkClientID, "client_secret": dkClientSecret,
			"access_token": dkAccessToken, "refresh_token": dkRefreshToken,
		},
	}
}

func assertNoDeskeraSecrets(t *testing.T, text, what string) {
	t.Helper()
	for _, s := range []string{dkAccessToken, dkClientID, dkClientSecret, dkRefreshToken} {
		assert.NotContains(t, text, s, "%s leaks a credential", what)
	}
}

func TestDeskeraConnectionRegistersDeliversAndDeregisters(t *testing.T) {
	t.Parallel()
	fake := deskerafake.New(dkAccessToken)
	t.Cleanup(fake.Close)
	rcv := newReceiver(t)
	rcv.up.Store(true)
	hub := startHub(t, t.TempDir(), freeAddr(t))

	code, sub := hub.do(t, http.MethodPost, "/webhook/webhooks", map[string]any{
		"unified_api": "accounting", "status": "enabled", "delivery_url": rcv.srv.URL + "/hook",
		"events": []string{"accounting.invoice.created"},
	})
	require.Equal(t, http.StatusCreated, code, sub)
	rcv.mu.Lock()
	rcv.secret = sub["data"].(map[string]any)["secret"].(string)
	rcv.mu.Unlock()

	// Creating the connection registers one Deskera webhook per event type.
	types := []string{"CREATE_INVOICE", "UPDATE_INVOICE", "CREATE_CONTACT"}
	code, conn := hub.doAs(t, "acme", http.MethodPost, "/vault/connections", deskeraConnection(fake.URL, types...))
	require.Equal(t, http.StatusCreated, code, conn)
	data := conn["data"].(map[string]any)
	connID, webhookURL := data["id"].(string), data["webhook_url"].(string)
	require.True(t, strings.HasPrefix(webhookURL, "http://"+hub.addr+"/webhook/inbound/deskera/"), webhookURL)
	assert.Equal(t, true, data["registered"])
	assert.Nil(t, data["signing_secret"], "Deskera does not sign: there is no secret to show")

	regs := fake.Requests(deskerafake.RouteRegister)
	require.Len(t, regs, len(types), "one registration per event type")
	for i, r := range regs {
		assert.Equal(t, http.MethodPost, r.Method)
		assert.Equal(t, dkAccessToken, r.Header.Get("x-access-token"))
		var body map[string]string
		require.NoError(t, json.Unmarshal(r.Body, &body))
		assert.Equal(t, map[string]string{
			"clientId": dkClientID, "clientSecret": dkClientSecret, "accessToken": dkAccessToken, "refreshToken": dkRefreshToken,
			"eventType": types[i], "webhookUrl": webhookURL + "?e=" + types[i],
		}, body)
	}
	hooks := fake.Hooks()
	require.Len(t, hooks, len(types))

	// Deskera posts a CREATE_INVOICE (type only in ?e=, dates dd-MM-yyyy);
	// the subscriber receives a verified accounting.invoice.created.
	status, answer, err := fake.Deliver(t.Context(), "CREATE_INVOICE", deskerafake.InvoiceWebhook("SI-0000042"))
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, status, "%s", answer)
	payload := rcv.waitPayload(t, 1)
	assert.Equal(t, "accounting.invoice.created", payload["event_type"])
	assert.Equal(t, "accounting", payload["unified_api"])
	assert.Equal(t, "deskera", payload["service_id"])
	assert.Equal(t, "acme", payload["consumer_id"])
	assert.Equal(t, connID, payload["connection_id"])
	assert.Equal(t, "SI-0000042", payload["entity_id"])
	assert.Equal(t, "invoice", payload["entity_type"])
	assert.Equal(t, "CREATE_INVOICE", payload["downstream_event_type"])
	assert.Equal(t, "2024-01-15T10:30:00Z", payload["occurred_at"])
	entity := payload["entity"].(map[string]any)
	assert.Equal(t, "SI-0000042", entity["id"])
	assert.Equal(t, "INV-0000042", entity["number"])
	assert.Equal(t, map[string]any{"id": "C-0000001", "display_name": "Acme GmbH"}, entity["customer"])
	assert.Equal(t, 1190.0, entity["total"])
	assert.Equal(t, 1190.0, entity["balance"])
	assert.Equal(t, "EUR", entity["currency"])
	assert.Equal(t, "2024-01-15", entity["invoice_date"])
	assert.Equal(t, "2024-02-14", entity["due_date"])
	assert.Equal(t, "authorised", entity["status"])

	// The same webhook again is a redelivery: stored once.
	status, answer, err = fake.Deliver(t.Context(), "CREATE_INVOICE", deskerafake.InvoiceWebhook("SI-0000042"))
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, status, "%s", answer)
	assert.Contains(t, string(answer), `"duplicate":true`)

	// Deleting the connection deregisters every hook.
	code, del := hub.doAs(t, "acme", http.MethodDelete, "/vault/connections/"+connID, nil)
	require.Equal(t, http.StatusOK, code, del)
	dels := fake.Requests(deskerafake.RouteDelete)
	require.Len(t, dels, len(types))
	var deleted []string
	for _, r := range dels {
		assert.Equal(t, dkAccessToken, r.Header.Get("x-access-token"))
		deleted = append(deleted, r.Path)
	}
	for _, h := range hooks {
		assert.True(t, slices.Contains(deleted, "/v1/webhooks/delete/"+strconv.FormatInt(h.HookID, 10)), "hook %d deleted", h.HookID)
	}
	assert.Empty(t, fake.Hooks())
	code, list := hub.doAs(t, "acme", http.MethodGet, "/vault/connections", nil)
	require.Equal(t, http.StatusOK, code, list)
	assert.Empty(t, list["data"])

	assertNoDeskeraSecrets(t, hub.output.String(), "the hub's log")
	// The inbound token is what authenticates Deskera's webhooks: the
	// connector never logs it. (The hub's own request log prints paths.)
	token := strings.TrimPrefix(webhookURL, "http://"+hub.addr+"/webhook/inbound/deskera/")
	lines := 0
	for line := range strings.Lines(hub.output.String()) {
		if strings.Contains(line, "connector=deskera") {
			lines++
			assert.NotContains(t, line, token, "a connector log line leaks the inbound token")
		}
	}
	assert.NotZero(t, lines, "the connector's log lines reach the hub's log")
}

func TestDeskeraRefusedRegistrationLeavesNothingBehind(t *testing.T) {
	t.Parallel()
	fake := deskerafake.New(dkAccessToken)
	t.Cleanup(fake.Close)
	// The second registration, and every one after it, fails.
	fake.SetFault(deskerafake.RouteRegister, deskerafake.Fault{From: 2, Status: http.StatusInternalServerError, Message: "Webhook service unavailable"})
	hub := startHub(t, t.TempDir(), freeAddr(t))

	code, res := hub.doAs(t, "acme", http.MethodPost, "/vault/connections",
		deskeraConnection(fake.URL, "CREATE_BILL", "UPDATE_BILL", "DELETE_BILL"))
	require.Equal(t, http.StatusBadGateway, code, res)
	assert.Equal(t, "ConnectorExecutionError", res["type_name"])
	msg, _ := res["message"].(string)
	assert.Contains(t, msg, "deskera: the provider refused to register the webhook: it answered 500: Webhook service unavailable")
	assert.Contains(t, msg, "registering UPDATE_BILL, webhook 2 of 3; the 1 webhook registered before was removed")
	detail := res["detail"].(map[string]any)
	assert.Equal(t, 500.0, detail["provider_status"])
	assert.Contains(t, detail["provider_message"], "Webhook service unavailable")
	assertNoDeskeraSecrets(t, msg, "the error")

	code, list := hub.doAs(t, "acme", http.MethodGet, "/vault/connections", nil)
	require.Equal(t, http.StatusOK, code, list)
	assert.Empty(t, list["data"], "no connection was stored")
	assert.Empty(t, fake.Hooks(), "no hook is left at the provider")
	assert.Len(t, fake.Requests(deskerafake.RouteDelete), 1, "the one hook made was deleted")
	assertNoDeskeraSecrets(t, hub.output.String(), "the hub's log")

	// A fake that refuses the token outright: 502 naming 401.
	bad := deskerafake.New("some-other-token")
	t.Cleanup(bad.Close)
	code, res = hub.doAs(t, "acme", http.MethodPost, "/vault/connections", deskeraConnection(bad.URL, deskera.EventTypes()...))
	require.Equal(t, http.StatusBadGateway, code, res)
	assert.Contains(t, res["message"], "it answered 401: Invalid or expired access token")
	assert.Zero(t, bad.Calls(deskerafake.RouteRegister))
}
