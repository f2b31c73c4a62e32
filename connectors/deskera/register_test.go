package deskera_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/connectors/deskera"
	"github.com/switchboardhq/switchboard/connectors/deskera/deskerafake"
	"github.com/switchboardhq/switchboard/plugins"
	"github.com/switchboardhq/switchboard/plugins/netguard"
	"github.com/switchboardhq/switchboard/plugins/plugintest"
)

// Credentials distinct enough that finding one in a text is no accident.
const (
	accessToken  = "at_live_7f3a9c1e5b2d4f60"
	clientID     = "cl_pub_4e1d8b2a9c7f"
	clientSecret = "cl_priv_b9e2f7a1c3d5"
	refreshToken = "rt_live_0c6e2a8f4b1d9e73"
	// webhookURL is the hub's inbound URL of the connection; its token is
	// what authenticates Deskera's webhooks.
	webhookURL = "https://hub.example/webhook/inbound/deskera/Zq8Rk2vN0xYw4LmT6sPa1cUe9HbJ3dGf"
)

func creds() map[string]string {
	return map[string]string{
		deskera.CredentialClientID: clientID, deskera.CredentialClientSecret: clientSecret,
		deskera.CredentialAccessToken: accessToken, deskera.CredentialRefreshToken: refreshToken,
	}
}

func secrets() []string {
	return []string{accessToken, clientID, clientSecret, refreshToken, webhookURL, "Zq8Rk2vN0xYw4LmT6sPa1cUe9HbJ3dGf"}
}

func connection(baseURL string, eventTypes ...string) plugins.Connection {
	settings := map[string]any{"base_url": baseURL}
	if eventTypes != nil {
		settings["event_types"] = eventTypes
	}
	raw, _ := json.Marshal(settings)
	return plugins.Connection{ID: "conn_1", ConsumerID: "acme", Settings: raw, Credentials: creds()}
}

// testConfig is fast: short tries, short waits.
func testConfig(t *testing.T) (deskera.Config, *logBuffer) {
	t.Helper()
	log, buf := newLogger()
	return deskera.Config{
		Timeout: 300 * time.Millisecond, Retries: 2,
		RetryWaitMin: 5 * time.Millisecond, RetryWaitMax: 20 * time.Millisecond,
		CleanupTimeout: 5 * time.Second, Logger: log,
		Guard: &netguard.Policy{AllowAll: true}, // the fake listens on loopback
	}, buf
}

func startFake(t *testing.T) *deskerafake.Server {
	t.Helper()
	f := deskerafake.New(accessToken)
	t.Cleanup(f.Close)
	return f
}

func assertNoSecrets(t *testing.T, text, what string) {
	t.Helper()
	for _, s := range secrets() {
		assert.NotContains(t, text, s, "%s leaks a secret", what)
	}
}

// registered decodes the register bodies the fake received.
func registered(t *testing.T, f *deskerafake.Server) []map[string]string {
	t.Helper()
	var out []map[string]string
	for _, r := range f.Requests(deskerafake.RouteRegister) {
		var body map[string]string
		require.NoError(t, json.Unmarshal(r.Body, &body))
		out = append(out, body)
	}
	return out
}

func TestSubscribeRegistersOneHookPerEventTypeAndUnsubscribeRemovesThem(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	cfg, logs := testConfig(t)
	c := plugintest.Connect(t, deskera.NewWithConfig(cfg))
	types := []string{"CREATE_INVOICE", "UPDATE_INVOICE", "CREATE_CONTACT", "STOCK_OUT"}
	conn := connection(f.URL, types...)

	res, err := c.Subscribe(t.Context(), &plugins.SubscribeRequest{Connection: conn, WebhookURL: webhookURL})
	require.NoError(t, err)
	assert.True(t, res.Registered)
	assert.Contains(t, res.Message, "Registered 4 Deskera webhooks")
	assertNoSecrets(t, res.Message, "the message")

	// First a list (the snapshot), then exactly one register call per type.
	reqs := f.Requests()
	require.Len(t, reqs, 1+len(types))
	assert.Equal(t, deskerafake.RouteList, reqs[0].Route)
	assert.Equal(t, http.MethodGet, reqs[0].Method)
	assert.Equal(t, "/v1/webhooks", reqs[0].Path)
	for i, r := range reqs[1:] {
		assert.Equal(t, http.MethodPost, r.Method)
		assert.Equal(t, "/v1/webhooks/register", r.Path)
		assert.Equal(t, accessToken, r.Header.Get("x-access-token"))
		assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
		var body map[string]any
		require.NoError(t, json.Unmarshal(r.Body, &body))
		assert.Equal(t, map[string]any{
			"clientId": clientID, "clientSecret": clientSecret, "accessToken": accessToken, "refreshToken": refreshToken,
			"eventType": types[i], "webhookUrl": webhookURL + "?e=" + types[i],
		}, body, "the body of seed 001, exactly")
	}

	// The state is the hook ids, one per type; the fake holds those hooks.
	var state []deskera.Registration
	require.NoError(t, json.Unmarshal(res.State, &state))
	hooks := f.Hooks()
	require.Len(t, hooks, len(types))
	require.Len(t, state, len(types))
	for i, h := range hooks {
		assert.Equal(t, deskera.Registration{EventType: types[i], HookID: h.HookID}, state[i])
		assert.Equal(t, webhookURL+"?e="+types[i], h.WebhookURL)
	}
	assert.JSONEq(t, `[{"event_type":"CREATE_INVOICE","hook_id":`+strconv.FormatInt(hooks[0].HookID, 10)+`},`+
		`{"event_type":"UPDATE_INVOICE","hook_id":`+strconv.FormatInt(hooks[1].HookID, 10)+`},`+
		`{"event_type":"CREATE_CONTACT","hook_id":`+strconv.FormatInt(hooks[2].HookID, 10)+`},`+
		`{"event_type":"STOCK_OUT","hook_id":`+strconv.FormatInt(hooks[3].HookID, 10)+`}]`, string(res.State))

	// Unsubscribe deletes every hook, with the token.
	require.NoError(t, c.Unsubscribe(t.Context(), &plugins.UnsubscribeRequest{Connection: conn, State: res.State}))
	assert.Empty(t, f.Hooks())
	dels := f.Requests(deskerafake.RouteDelete)
	require.Len(t, dels, len(types))
	for i, r := range dels {
		assert.Equal(t, http.MethodDelete, r.Method)
		assert.Equal(t, "/v1/webhooks/delete/"+strconv.FormatInt(state[i].HookID, 10), r.Path)
		assert.Equal(t, accessToken, r.Header.Get("x-access-token"))
	}

	// Again: every hook is gone already (404), which is success.
	require.NoError(t, c.Unsubscribe(t.Context(), &plugins.UnsubscribeRequest{Connection: conn, State: res.State}))
	assert.Len(t, f.Requests(deskerafake.RouteDelete), 2*len(types))

	assertNoSecrets(t, logs.String(), "the log")
}

func TestSubscribeDefaultsToAllEventTypes(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	cfg, _ := testConfig(t)
	c := plugintest.Connect(t, deskera.NewWithConfig(cfg))
	conn := connection(f.URL + "/") // a trailing slash is fine
	res, err := c.Subscribe(t.Context(), &plugins.SubscribeRequest{Connection: conn, WebhookURL: webhookURL})
	require.NoError(t, err)
	var got []string
	for _, b := range registered(t, f) {
		got = append(got, b["eventType"])
	}
	assert.Equal(t, seedEventTypes, got)
	var state []deskera.Registration
	require.NoError(t, json.Unmarshal(res.State, &state))
	assert.Len(t, state, 22)
	for _, r := range f.Requests() {
		assert.False(t, strings.HasPrefix(r.Path, "//"), r.Path)
	}
}

func TestSubscribeRefusedAtTheFirstCall(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	cfg, logs := testConfig(t)
	c := plugintest.Connect(t, deskera.NewWithConfig(cfg))
	f.SetFault(deskerafake.RouteRegister, deskerafake.Fault{Status: http.StatusUnauthorized, Message: "Invalid client credentials"})

	_, err := c.Subscribe(t.Context(), &plugins.SubscribeRequest{Connection: connection(f.URL, "CREATE_INVOICE", "UPDATE_INVOICE"), WebhookURL: webhookURL})
	var perr *plugins.ProviderError
	require.True(t, errors.As(err, &perr), "%v", err)
	assert.Equal(t, http.StatusUnauthorized, perr.StatusCode)
	assert.True(t, strings.HasPrefix(perr.Message, "Invalid client credentials (registering CREATE_INVOICE, webhook 1 of 2; nothing was left registered)"), perr.Message)
	assert.Equal(t, 1, f.Calls(deskerafake.RouteRegister), "a 4xx is never retried, and nothing more is tried")
	assert.Empty(t, f.Hooks())
	assert.Empty(t, f.Requests(deskerafake.RouteDelete))
	assertNoSecrets(t, err.Error(), "the error")
	assertNoSecrets(t, logs.String(), "the log")
}

func TestSubscribeWithARefusedTokenRegistersNothing(t *testing.T) {
	t.Parallel()
	f := deskerafake.New("another-token-entirely")
	t.Cleanup(f.Close)
	cfg, _ := testConfig(t)
	c := plugintest.Connect(t, deskera.NewWithConfig(cfg))
	_, err := c.Subscribe(t.Context(), &plugins.SubscribeRequest{Connection: connection(f.URL, "CREATE_INVOICE"), WebhookURL: webhookURL})
	var perr *plugins.ProviderError
	require.True(t, errors.As(err, &perr), "%v", err)
	assert.Equal(t, http.StatusUnauthorized, perr.StatusCode)
	assert.Contains(t, perr.Message, "Invalid or expired access token")
	assert.Contains(t, perr.Message, "nothing was registered")
	assert.Zero(t, f.Calls(deskerafake.RouteRegister))
}

func TestSubscribeRefusedAtALaterCallUndoesTheEarlierOnes(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	cfg, logs := testConfig(t)
	c := plugintest.Connect(t, deskera.NewWithConfig(cfg))
	// The third registration and every one after it fail with a 500, so
	// the retries fail too.
	f.SetFault(deskerafake.RouteRegister, deskerafake.Fault{From: 3, Status: http.StatusInternalServerError, Message: "Webhook service unavailable"})
	types := []string{"CREATE_BILL", "UPDATE_BILL", "DELETE_BILL", "CREATE_INVOICE"}

	_, err := c.Subscribe(t.Context(), &plugins.SubscribeRequest{Connection: connection(f.URL, types...), WebhookURL: webhookURL})
	var perr *plugins.ProviderError
	require.True(t, errors.As(err, &perr), "%v", err)
	assert.Equal(t, http.StatusInternalServerError, perr.StatusCode)
	assert.Equal(t, "Webhook service unavailable (registering DELETE_BILL, webhook 3 of 4; the 2 webhooks registered before were removed)", perr.Message)
	assert.Equal(t, 2+3, f.Calls(deskerafake.RouteRegister), "two made, the third tried three times")
	assert.Empty(t, f.Hooks(), "nothing half-made is left at the provider")
	assert.Len(t, f.Requests(deskerafake.RouteDelete), 2)
	assert.Equal(t, 2, f.Calls(deskerafake.RouteList), "the snapshot, then a sweep for a 5xx's unknown outcome")
	assertNoSecrets(t, err.Error(), "the error")
	assertNoSecrets(t, logs.String(), "the log")
}

func TestSubscribeTimeoutLeavesNothingBehind(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	cfg, logs := testConfig(t)
	c := plugintest.Connect(t, deskera.NewWithConfig(cfg))
	// From the second registration on Deskera makes the hook but never
	// answers: the connector cannot know the hook exists.
	f.SetFault(deskerafake.RouteRegister, deskerafake.Fault{From: 2, Hang: true})

	_, err := c.Subscribe(t.Context(), &plugins.SubscribeRequest{Connection: connection(f.URL, "CREATE_CRM_DEAL", "UPDATE_CRM_DEAL", "DELETE_CRM_DEAL"), WebhookURL: webhookURL})
	var perr *plugins.ProviderError
	require.True(t, errors.As(err, &perr), "%v", err)
	assert.Zero(t, perr.StatusCode, "no answer came")
	assert.True(t, strings.HasPrefix(perr.Message, "timed out: Deskera did not answer POST /v1/webhooks/register within 300ms"), perr.Message)
	assert.Contains(t, perr.Message, "(registering UPDATE_CRM_DEAL, webhook 2 of 3; the 1 webhook registered before was removed; "+
		"3 made by calls whose answer was lost were removed too)")
	assert.Equal(t, 1+3, f.Calls(deskerafake.RouteRegister), "the hanging call is tried three times")
	assert.Empty(t, f.Hooks(), "the hooks of the unanswered calls are found and removed too")
	assert.Len(t, f.Requests(deskerafake.RouteDelete), 4)
	assertNoSecrets(t, err.Error(), "the error")
	assertNoSecrets(t, logs.String(), "the log")
}

func TestSubscribeHubDeadlineStillUndoes(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	cfg, _ := testConfig(t)
	cfg.Timeout = 10 * time.Second // the hub's deadline runs out first
	c := plugintest.Connect(t, deskera.NewWithConfig(cfg))
	f.SetFault(deskerafake.RouteRegister, deskerafake.Fault{From: 2, Times: 1, Hang: true})

	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	_, err := c.Subscribe(ctx, &plugins.SubscribeRequest{Connection: connection(f.URL, "CREATE_INVOICE", "UPDATE_INVOICE"), WebhookURL: webhookURL})
	require.Error(t, err)
	// The hub's side sees its own deadline; the plugin carries on undoing.
	require.Eventually(t, func() bool { return len(f.Hooks()) == 0 }, 5*time.Second, 10*time.Millisecond,
		"the registration made before the deadline and the one whose answer never came are removed")
}

func TestSubscribeRetriedRegistrationLeavesNoDuplicate(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	cfg, _ := testConfig(t)
	c := plugintest.Connect(t, deskera.NewWithConfig(cfg))
	// The first try of the second registration is made but never answered;
	// the retry succeeds.
	f.SetFault(deskerafake.RouteRegister, deskerafake.Fault{From: 2, Times: 1, Hang: true})

	res, err := c.Subscribe(t.Context(), &plugins.SubscribeRequest{Connection: connection(f.URL, "CREATE_INVOICE", "UPDATE_INVOICE", "DELETE_INVOICE"), WebhookURL: webhookURL})
	require.NoError(t, err)
	var state []deskera.Registration
	require.NoError(t, json.Unmarshal(res.State, &state))
	require.Len(t, state, 3)
	hooks := f.Hooks()
	require.Len(t, hooks, 3, "the duplicate of the lost answer was removed")
	for i, h := range hooks {
		assert.Equal(t, state[i].HookID, h.HookID)
	}
}

func TestSubscribeSweepSparesHooksThatWereThereBefore(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	cfg, _ := testConfig(t)
	c := plugintest.Connect(t, deskera.NewWithConfig(cfg))
	// A live registration of the same connection (before a settings change).
	old, err := c.Subscribe(t.Context(), &plugins.SubscribeRequest{Connection: connection(f.URL, "CREATE_INVOICE"), WebhookURL: webhookURL})
	require.NoError(t, err)
	before := f.Hooks()
	require.Len(t, before, 1)

	f.SetFault(deskerafake.RouteRegister, deskerafake.Fault{From: 3, Status: http.StatusBadGateway, Message: "upstream down"})
	_, err = c.Subscribe(t.Context(), &plugins.SubscribeRequest{Connection: connection(f.URL, "CREATE_INVOICE", "UPDATE_INVOICE"), WebhookURL: webhookURL})
	var perr *plugins.ProviderError
	require.True(t, errors.As(err, &perr), "%v", err)
	assert.Equal(t, http.StatusBadGateway, perr.StatusCode)
	assert.Equal(t, before, f.Hooks(), "the old registration keeps working")

	require.NoError(t, c.Unsubscribe(t.Context(), &plugins.UnsubscribeRequest{Connection: connection(f.URL), State: old.State}))
	assert.Empty(t, f.Hooks())
}

func TestSubscribeProviderEchoingSecretsIsScrubbed(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	cfg, logs := testConfig(t)
	c := plugintest.Connect(t, deskera.NewWithConfig(cfg))
	f.SetFault(deskerafake.RouteRegister, deskerafake.Fault{Status: http.StatusBadRequest,
		Message: "token " + accessToken + " cannot register " + webhookURL + "?e=CREATE_INVOICE for client " + clientID})

	_, err := c.Subscribe(t.Context(), &plugins.SubscribeRequest{Connection: connection(f.URL, "CREATE_INVOICE"), WebhookURL: webhookURL})
	var perr *plugins.ProviderError
	require.True(t, errors.As(err, &perr), "%v", err)
	assert.Equal(t, http.StatusBadRequest, perr.StatusCode)
	assert.True(t, strings.HasPrefix(perr.Message, "token [redacted] cannot register [redacted]?e=CREATE_INVOICE for client [redacted]"), perr.Message)
	assertNoSecrets(t, err.Error(), "the error")
	assertNoSecrets(t, logs.String(), "the log")
}

func TestSubscribeUnreachableProvider(t *testing.T) {
	t.Parallel()
	f := deskerafake.New(accessToken)
	base := f.URL
	f.Close() // nothing listens there any more
	cfg, logs := testConfig(t)
	c := plugintest.Connect(t, deskera.NewWithConfig(cfg))
	_, err := c.Subscribe(t.Context(), &plugins.SubscribeRequest{Connection: connection(base, "CREATE_INVOICE"), WebhookURL: webhookURL})
	var perr *plugins.ProviderError
	require.True(t, errors.As(err, &perr), "%v", err)
	assert.Zero(t, perr.StatusCode)
	assert.Contains(t, perr.Message, "could not reach Deskera at http://127.0.0.1:")
	assert.Contains(t, perr.Message, "connection refused")
	assertNoSecrets(t, err.Error(), "the error")
	assertNoSecrets(t, logs.String(), "the log")
}

func TestSubscribeRejectsBadSettingsAndCredentials(t *testing.T) {
	t.Parallel()
	cfg, _ := testConfig(t)
	c := plugintest.Connect(t, deskera.NewWithConfig(cfg))
	tests := []struct {
		name string
		conn plugins.Connection
		want string
	}{
		{"unknown event type", connection("http://127.0.0.1:1", "CREATE_QUOTE"), `settings.event_types: "CREATE_QUOTE" is not a Deskera event type`},
		{"empty event types", connection("http://127.0.0.1:1", []string{}...), "settings.event_types must name at least one event type"},
		{"bad base URL", connection("ftp://deskera.example"), "settings.base_url must be an http(s) URL"},
		{"base URL with credentials", connection("https://user:pw@deskera.example"), "settings.base_url must be an http(s) URL"},
		{"missing credentials", func() plugins.Connection {
			c := connection("http://127.0.0.1:1")
			c.Credentials = map[string]string{deskera.CredentialAccessToken: accessToken}
			return c
		}(), "credentials client_id, client_secret, refresh_token are required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Subscribe(t.Context(), &plugins.SubscribeRequest{Connection: tt.conn, WebhookURL: webhookURL})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			var perr *plugins.ProviderError
			assert.False(t, errors.As(err, &perr), "a configuration error is not the provider's")
			assertNoSecrets(t, err.Error(), "the error")
		})
	}
}

func TestUnsubscribeReportsRefusals(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	cfg, logs := testConfig(t)
	c := plugintest.Connect(t, deskera.NewWithConfig(cfg))
	conn := connection(f.URL, "CREATE_INVOICE", "UPDATE_INVOICE", "DELETE_INVOICE")
	res, err := c.Subscribe(t.Context(), &plugins.SubscribeRequest{Connection: conn, WebhookURL: webhookURL})
	require.NoError(t, err)
	var state []deskera.Registration
	require.NoError(t, json.Unmarshal(res.State, &state))

	f.SetFault(deskerafake.RouteDelete, deskerafake.Fault{From: 2, Times: 1, Status: http.StatusForbidden, Message: "Not allowed"})
	err = c.Unsubscribe(t.Context(), &plugins.UnsubscribeRequest{Connection: conn, State: res.State})
	var perr *plugins.ProviderError
	require.True(t, errors.As(err, &perr), "%v", err)
	assert.Equal(t, http.StatusForbidden, perr.StatusCode)
	assert.Equal(t, "Not allowed (removing 1 of 3 Deskera webhooks failed: hook ids "+strconv.FormatInt(state[1].HookID, 10)+")", perr.Message)
	require.Len(t, f.Hooks(), 1, "every other hook was still removed")

	// The hub keeps the connection; a second try completes the removal.
	require.NoError(t, c.Unsubscribe(t.Context(), &plugins.UnsubscribeRequest{Connection: conn, State: res.State}))
	assert.Empty(t, f.Hooks())
	assertNoSecrets(t, logs.String(), "the log")

	// Nothing registered, nothing to do: no call, no credentials needed.
	require.NoError(t, c.Unsubscribe(t.Context(), &plugins.UnsubscribeRequest{Connection: plugins.Connection{}, State: nil}))
	require.NoError(t, c.Unsubscribe(t.Context(), &plugins.UnsubscribeRequest{Connection: plugins.Connection{}, State: []byte("[]")}))
	err = c.Unsubscribe(t.Context(), &plugins.UnsubscribeRequest{Connection: conn, State: []byte("{")})
	require.ErrorContains(t, err, "reading the stored Deskera registrations")
}

func TestSubscribeReportsWhatItCouldNotUndo(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	cfg, logs := testConfig(t)
	c := plugintest.Connect(t, deskera.NewWithConfig(cfg))
	f.SetFault(deskerafake.RouteRegister, deskerafake.Fault{From: 3, Status: http.StatusUnprocessableEntity, Message: "Webhook limit reached"})
	f.SetFault(deskerafake.RouteDelete, deskerafake.Fault{Status: http.StatusInternalServerError, Message: "try later"})

	_, err := c.Subscribe(t.Context(), &plugins.SubscribeRequest{Connection: connection(f.URL, "CREATE_BILL", "UPDATE_BILL", "DELETE_BILL"), WebhookURL: webhookURL})
	var perr *plugins.ProviderError
	require.True(t, errors.As(err, &perr), "%v", err)
	assert.Equal(t, http.StatusUnprocessableEntity, perr.StatusCode, "the refusal is reported, not the failed undo")
	hooks := f.Hooks()
	require.Len(t, hooks, 2)
	assert.Equal(t, "Webhook limit reached (registering DELETE_BILL, webhook 3 of 3; could not remove the Deskera webhooks "+
		strconv.FormatInt(hooks[0].HookID, 10)+", "+strconv.FormatInt(hooks[1].HookID, 10)+
		" made for this connection; delete them in Deskera)", perr.Message)
	assert.Contains(t, logs.String(), "could not remove a Deskera webhook of a failed registration")
}

func TestSubscribeWithoutSnapshotSaysWhatItCannotKnow(t *testing.T) {
	t.Parallel()
	f := startFake(t)
	cfg, logs := testConfig(t)
	c := plugintest.Connect(t, deskera.NewWithConfig(cfg))
	f.SetFault(deskerafake.RouteList, deskerafake.Fault{Status: http.StatusNotFound, Message: "Not Found"})
	f.SetFault(deskerafake.RouteRegister, deskerafake.Fault{From: 2, Status: http.StatusServiceUnavailable, Message: "Maintenance"})

	_, err := c.Subscribe(t.Context(), &plugins.SubscribeRequest{Connection: connection(f.URL, "CREATE_BILL", "UPDATE_BILL"), WebhookURL: webhookURL})
	var perr *plugins.ProviderError
	require.True(t, errors.As(err, &perr), "%v", err)
	assert.Equal(t, http.StatusServiceUnavailable, perr.StatusCode)
	assert.Equal(t, "Maintenance (registering UPDATE_BILL, webhook 2 of 2; the 1 webhook registered before was removed; "+
		"Deskera may hold a webhook made by the call that failed; check the account's webhooks in Deskera)", perr.Message)
	assert.Empty(t, f.Hooks())
	assert.Contains(t, logs.String(), "could not list the account's Deskera webhooks before registering")
}
