package vplan_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/connectors/vplan"
	"github.com/switchboardhq/switchboard/connectors/vplan/vplanfake"
	"github.com/switchboardhq/switchboard/plugins"
	"github.com/switchboardhq/switchboard/plugins/netguard"
	"github.com/switchboardhq/switchboard/plugins/plugintest"
)

// Long, distinctive credentials, so a leak is easy to find.
const (
	apiKey = "vp_key_7f3a9c2e5b1d4f8a"
	apiEnv = "vp_env_0b6e2d9f4a1c"
)

const webhookURL = "https://hub.example.com/webhook/inbound/vplan/tok_Zk3s9PqL2mX8vN4bR7tY1wC6"

// logBuffer collects a connector's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type setup struct {
	fake *vplanfake.Server
	conn plugins.Client
	logs *logBuffer
}

// newSetup runs the connector behind the real gRPC layer, with fast retries
// and short tries, against a fresh fake that accepts apiKey/apiEnv.
func newSetup(t *testing.T) *setup {
	t.Helper()
	fake := vplanfake.New(apiKey, apiEnv)
	t.Cleanup(fake.Close)
	logs := &logBuffer{}
	c := vplan.NewWithConfig(vplan.Config{
		TryTimeout:   300 * time.Millisecond,
		RetryMax:     2,
		RetryWaitMin: time.Millisecond,
		RetryWaitMax: 5 * time.Millisecond,
		Logger:       slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Guard:        &netguard.Policy{AllowAll: true}, // the fake listens on loopback
	})
	return &setup{fake: fake, conn: plugintest.Connect(t, c), logs: logs}
}

func connection(t *testing.T, settings map[string]any) plugins.Connection {
	t.Helper()
	raw, err := json.Marshal(settings)
	require.NoError(t, err)
	return plugins.Connection{ID: "0199aa00-1111-7222-8333-444455556666", ConsumerID: "acme", Settings: raw,
		Credentials: map[string]string{vplan.CredentialAPIKey: apiKey, vplan.CredentialAPIEnv: apiEnv}}
}

func (s *setup) subscribe(t *testing.T, settings map[string]any) (*plugins.SubscribeResult, error) {
	t.Helper()
	return s.conn.Subscribe(t.Context(), &plugins.SubscribeRequest{Connection: connection(t, settings), WebhookURL: webhookURL})
}

// noSecrets asserts that text carries no credential.
func noSecrets(t *testing.T, what, text string) {
	t.Helper()
	assert.NotContains(t, text, apiKey, "%s leaks the API key", what)
	assert.NotContains(t, text, apiEnv, "%s leaks the API environment", what)
}

func TestSubscribeRegistersOneWebhook(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	selected := []string{"card.created", "card.label.attached", "card.activity.updated"}
	res, err := s.subscribe(t, map[string]any{"base_url": s.fake.URL, "event_types": selected})
	require.NoError(t, err)

	// Exactly one call, exactly as api.md describes it.
	reqs := s.fake.Requests()
	require.Len(t, reqs, 1)
	r := reqs[0]
	assert.Equal(t, http.MethodPost, r.Method)
	assert.Equal(t, "/v1/webhook", r.Path)
	assert.Equal(t, apiKey, r.Header.Get("x-api-key"))
	assert.Equal(t, apiEnv, r.Header.Get("x-api-env"))
	assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
	var body map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &body))
	assert.Regexp(t, `^Switchboard 0199aa00-1111-7222-8333-444455556666 #[0-9a-f]{8}$`, body["description"])
	delete(body, "description")
	assert.Equal(t, map[string]any{
		"url":         webhookURL,
		"active":      true,
		"event_types": []any{"card.created", "card.label.attached", "card.activity.updated"},
	}, body)

	// The state names the webhook vPlan created, and only that.
	hooks := s.fake.Webhooks()
	require.Len(t, hooks, 1)
	assert.Equal(t, webhookURL, hooks[0].URL)
	assert.True(t, res.Registered)
	assert.JSONEq(t, `{"webhook_id":"`+hooks[0].ID+`"}`, string(res.State))
	assert.Contains(t, res.Message, hooks[0].ID)
	assert.Contains(t, res.Message, "3 event types")

	logs := s.logs.String()
	assert.Contains(t, logs, `"msg":"vplan webhook registered"`)
	assert.Contains(t, logs, `"fail_streak":0`)
	noSecrets(t, "the log", logs)
}

func TestSubscribeDefaultsToAllEventTypes(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	_, err := s.subscribe(t, map[string]any{"base_url": s.fake.URL + "/"})
	require.NoError(t, err)
	reqs := s.fake.Requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, "/v1/webhook", reqs[0].Path, "a trailing slash on base_url is not doubled")
	var body vplan.CreateWebhook
	require.NoError(t, json.Unmarshal(reqs[0].Body, &body))
	assert.Equal(t, vplan.AllEventTypes(), body.EventTypes)
	assert.Len(t, body.EventTypes, 36)
}

func TestSubscribeReadsWrappedAnswers(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	s.fake.WrapData(true)
	res, err := s.subscribe(t, map[string]any{"base_url": s.fake.URL})
	require.NoError(t, err)
	hooks := s.fake.Webhooks()
	require.Len(t, hooks, 1)
	assert.JSONEq(t, `{"webhook_id":"`+hooks[0].ID+`"}`, string(res.State))
}

func TestUnsubscribeDeletesTheStoredWebhook(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	other := s.fake.AddWebhook("https://elsewhere.example.com/hook", []string{"card.created"})
	res, err := s.subscribe(t, map[string]any{"base_url": s.fake.URL})
	require.NoError(t, err)
	var st vplan.State
	require.NoError(t, json.Unmarshal(res.State, &st))

	conn := connection(t, map[string]any{"base_url": s.fake.URL})
	require.NoError(t, s.conn.Unsubscribe(t.Context(), &plugins.UnsubscribeRequest{Connection: conn, State: res.State}))
	reqs := s.fake.Requests()
	last := reqs[len(reqs)-1]
	assert.Equal(t, http.MethodDelete, last.Method)
	assert.Equal(t, "/v1/webhook/"+st.WebhookID, last.Path)
	assert.Equal(t, apiKey, last.Header.Get("x-api-key"))
	assert.Equal(t, apiEnv, last.Header.Get("x-api-env"))
	hooks := s.fake.Webhooks()
	require.Len(t, hooks, 1, "only the connection's webhook is removed")
	assert.Equal(t, other.ID, hooks[0].ID)

	// Already gone: 404 is success, and nothing else is touched.
	require.NoError(t, s.conn.Unsubscribe(t.Context(), &plugins.UnsubscribeRequest{Connection: conn, State: res.State}))
	assert.Len(t, s.fake.Requests(), len(reqs)+1)
	assert.Contains(t, s.logs.String(), `"msg":"vplan webhook already gone"`)

	// Nothing registered: nothing to do, no call.
	require.NoError(t, s.conn.Unsubscribe(t.Context(), &plugins.UnsubscribeRequest{Connection: conn}))
	assert.Len(t, s.fake.Requests(), len(reqs)+1)

	// A state that is not ours is an error, not a guess.
	err = s.conn.Unsubscribe(t.Context(), &plugins.UnsubscribeRequest{Connection: conn, State: []byte(`{"hook":1}`)})
	require.ErrorContains(t, err, `the stored registration is not {"webhook_id": "<id>"}`)
}

func TestUnsubscribeRefused(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	res, err := s.subscribe(t, map[string]any{"base_url": s.fake.URL})
	require.NoError(t, err)
	s.fake.Refuse(http.StatusForbidden, "This api key may not delete webhooks.")
	err = s.conn.Unsubscribe(t.Context(), &plugins.UnsubscribeRequest{
		Connection: connection(t, map[string]any{"base_url": s.fake.URL}), State: res.State})
	pe, ok := errors.AsType[*plugins.ProviderError](err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, http.StatusForbidden, pe.StatusCode)
	assert.Equal(t, "This api key may not delete webhooks.", pe.Message)
	assert.Len(t, s.fake.Webhooks(), 1)
}

func TestSubscribeRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		setup     func(*vplanfake.Server)
		url       string
		creds     map[string]string
		status    int
		message   string
		wantPosts int
	}{
		{
			name:   "401 from the provider",
			setup:  func(f *vplanfake.Server) { f.Refuse(http.StatusUnauthorized, "Unauthenticated.") },
			status: http.StatusUnauthorized, message: "Unauthenticated.", wantPosts: 1,
		},
		{
			name:   "wrong key",
			creds:  map[string]string{vplan.CredentialAPIKey: "vp_key_wrong_000000", vplan.CredentialAPIEnv: apiEnv},
			status: http.StatusUnauthorized, message: "Unauthenticated.", wantPosts: 1,
		},
		{
			name:   "500 is retried, then reported",
			setup:  func(f *vplanfake.Server) { f.Refuse(http.StatusInternalServerError, "Server Error") },
			status: http.StatusInternalServerError, message: "Server Error", wantPosts: 3,
		},
		{
			name:   "422 validation",
			url:    "https://hub.example.com/webhook/inbound/vplan/" + strings.Repeat("t", 520),
			status: http.StatusUnprocessableEntity, message: "The url field must not be greater than 512 characters.", wantPosts: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSetup(t)
			if tt.setup != nil {
				tt.setup(s.fake)
			}
			conn := connection(t, map[string]any{"base_url": s.fake.URL})
			if tt.creds != nil {
				conn.Credentials = tt.creds
			}
			url := webhookURL
			if tt.url != "" {
				url = tt.url
			}
			res, err := s.conn.Subscribe(t.Context(), &plugins.SubscribeRequest{Connection: conn, WebhookURL: url})
			require.Nil(t, res)
			pe, ok := errors.AsType[*plugins.ProviderError](err)
			require.True(t, ok, "a refusal is a *plugins.ProviderError: %v", err)
			assert.Equal(t, tt.status, pe.StatusCode)
			assert.Equal(t, tt.message, pe.Message)
			posts := 0
			for _, r := range s.fake.Requests() {
				if r.Method == http.MethodPost {
					posts++
				}
			}
			assert.Equal(t, tt.wantPosts, posts, "4xx is never retried, 5xx is")
			assert.Empty(t, s.fake.Webhooks())
			noSecrets(t, "the error", err.Error())
			noSecrets(t, "the log", s.logs.String())
		})
	}
}

// A provider that echoes credentials in its message: they are scrubbed
// from the error and the log.
func TestSubscribeScrubsEchoedCredentials(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	s.fake.Refuse(http.StatusForbidden, "key "+apiKey+" has no access to environment "+apiEnv)
	_, err := s.subscribe(t, map[string]any{"base_url": s.fake.URL})
	pe, ok := errors.AsType[*plugins.ProviderError](err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, http.StatusForbidden, pe.StatusCode)
	assert.Equal(t, "key [redacted] has no access to environment [redacted]", pe.Message)
	noSecrets(t, "the error", err.Error())
	noSecrets(t, "the log", s.logs.String())
}

func TestSubscribeTimesOut(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	s.fake.Hang(true)
	start := time.Now()
	_, err := s.subscribe(t, map[string]any{"base_url": s.fake.URL})
	pe, ok := errors.AsType[*plugins.ProviderError](err)
	require.True(t, ok, "a timeout is a *plugins.ProviderError: %v", err)
	assert.Zero(t, pe.StatusCode, "no answer: status 0")
	assert.Equal(t, "timed out: vPlan did not answer POST /webhook within 300ms (3 tries)", pe.Message)
	assert.Less(t, time.Since(start), 10*time.Second, "bounded by the per-try timeout")
	noSecrets(t, "the error", err.Error())
	noSecrets(t, "the log", s.logs.String())
}

func TestSubscribeHonoursTheHubsDeadline(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	s.fake.Hang(true)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := s.conn.Subscribe(ctx, &plugins.SubscribeRequest{
		Connection: connection(t, map[string]any{"base_url": s.fake.URL}), WebhookURL: webhookURL})
	require.Error(t, err)
	noSecrets(t, "the error", err.Error())
}

func TestSubscribeUnreachable(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	_, err := s.subscribe(t, map[string]any{"base_url": gone.URL + "/v1"})
	pe, ok := errors.AsType[*plugins.ProviderError](err)
	require.True(t, ok, "%v", err)
	assert.Zero(t, pe.StatusCode)
	assert.Contains(t, pe.Message, "could not reach vPlan at "+gone.URL+"/v1 for POST /webhook (3 tries)")
	noSecrets(t, "the error", err.Error())
}

// vPlan created the webhook but its answer failed every time: the
// connector finds what this call made and removes it before reporting.
// The connection's previous registration, which has the same URL while the
// hub re-registers after a settings change, survives.
func TestSubscribeLeavesNothingHalfMade(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	other := s.fake.AddWebhook("https://elsewhere.example.com/hook", []string{"card.created"})
	previous, err := s.subscribe(t, map[string]any{"base_url": s.fake.URL, "event_types": []string{"card.created"}})
	require.NoError(t, err)
	var prev vplan.State
	require.NoError(t, json.Unmarshal(previous.State, &prev))

	s.fake.FailCreates(3, http.StatusBadGateway, "upstream timed out")
	_, err = s.subscribe(t, map[string]any{"base_url": s.fake.URL})
	pe, ok := errors.AsType[*plugins.ProviderError](err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, http.StatusBadGateway, pe.StatusCode)
	assert.Equal(t, "upstream timed out", pe.Message)
	var ids []string
	for _, h := range s.fake.Webhooks() {
		ids = append(ids, h.ID)
	}
	assert.ElementsMatch(t, []string{other.ID, prev.WebhookID}, ids,
		"the three half-made registrations are gone; somebody else's and the previous one are untouched")
	assert.Equal(t, 3, strings.Count(s.logs.String(), `"msg":"vplan: removed a registration left by a failed or retried registration"`))
	noSecrets(t, "the log", s.logs.String())
}

// A retried create that finally succeeds leaves exactly one webhook: the
// one in the state.
func TestSubscribeRetryLeavesOneWebhook(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	s.fake.FailCreates(1, http.StatusServiceUnavailable, "try again")
	res, err := s.subscribe(t, map[string]any{"base_url": s.fake.URL})
	require.NoError(t, err)
	hooks := s.fake.Webhooks()
	require.Len(t, hooks, 1)
	assert.JSONEq(t, `{"webhook_id":"`+hooks[0].ID+`"}`, string(res.State))
}

func TestSubscribeRejectsBadConnections(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	tests := []struct {
		name     string
		settings map[string]any
		creds    map[string]string
		want     string
	}{
		{"unknown event type", map[string]any{"base_url": s.fake.URL, "event_types": []string{"card.exploded"}}, nil,
			`settings.event_types: "card.exploded" is not a vPlan webhook event type`},
		{"empty event types", map[string]any{"base_url": s.fake.URL, "event_types": []string{}}, nil,
			"settings.event_types is empty"},
		{"base_url with credentials", map[string]any{"base_url": "https://user:pw@api.vplan.com/v1"}, nil,
			"settings.base_url must not carry credentials"},
		{"relative base_url", map[string]any{"base_url": "/v1"}, nil, "settings.base_url must be an absolute http(s) URL"},
		{"no api key", map[string]any{"base_url": s.fake.URL}, map[string]string{vplan.CredentialAPIEnv: apiEnv},
			"credentials.api_key is missing"},
		{"no api env", map[string]any{"base_url": s.fake.URL}, map[string]string{vplan.CredentialAPIKey: apiKey},
			"credentials.api_env is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := connection(t, tt.settings)
			if tt.creds != nil {
				conn.Credentials = tt.creds
			}
			_, err := s.conn.Subscribe(t.Context(), &plugins.SubscribeRequest{Connection: conn, WebhookURL: webhookURL})
			require.ErrorContains(t, err, tt.want)
			_, isProvider := errors.AsType[*plugins.ProviderError](err)
			assert.False(t, isProvider, "the connection is at fault, not vPlan")
			noSecrets(t, "the error", err.Error())
		})
	}
	assert.Empty(t, s.fake.Requests(), "a bad connection never reaches vPlan")
}

func TestSubscribeDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	var leaked []string
	var mu sync.Mutex
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		leaked = append(leaked, r.Header.Get("x-api-key"))
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	defer elsewhere.Close()
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+"/v1/webhook", http.StatusTemporaryRedirect)
	}))
	defer redirect.Close()
	_, err := s.subscribe(t, map[string]any{"base_url": redirect.URL + "/v1"})
	pe, ok := errors.AsType[*plugins.ProviderError](err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, http.StatusTemporaryRedirect, pe.StatusCode)
	mu.Lock()
	defer mu.Unlock()
	assert.Empty(t, leaked, "the API key never follows a redirect")
}
