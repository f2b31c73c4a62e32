package vault_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/api"
	"github.com/switchboardhq/switchboard/hub/api/apitest"
	"github.com/switchboardhq/switchboard/hub/secret"
	"github.com/switchboardhq/switchboard/hub/store"
	"github.com/switchboardhq/switchboard/hub/store/sqlite"
	"github.com/switchboardhq/switchboard/hub/store/storetest"
	"github.com/switchboardhq/switchboard/hub/vault"
	"github.com/switchboardhq/switchboard/plugins"
	"github.com/switchboardhq/switchboard/plugins/plugintest"
)

const (
	bootstrapKey = "test-bootstrap-key"
	publicURL    = "https://hub.example.com"
)

// signer is a connector like dVersum: the user pastes the URL into the
// provider by hand and the provider signs with a per-connection secret.
type signer struct {
	mu   sync.Mutex
	subs []*plugins.SubscribeRequest
}

func (*signer) Describe(context.Context) (*plugins.Description, error) {
	return &plugins.Description{
		ID:          "signer",
		Name:        "Signer",
		Version:     "1.2.3",
		UnifiedAPIs: []string{"accounting"},
		Webhook:     plugins.WebhookSupport{Mode: plugins.ModeNative, ManagedVia: plugins.ManagedManual},
		SupportedEvents: []plugins.SupportedEvent{
			{EventType: "accounting.invoice.created", DownstreamEventType: "invoice.created"},
		},
		SettingsSchema: json.RawMessage(`{
			"$schema": "https://json-schema.org/draft/2020-12/schema",
			"type": "object",
			"properties": {
				"base_url": {"type": "string", "format": "uri"},
				"region": {"enum": ["eu", "us"]}
			},
			"additionalProperties": false
		}`),
		CredentialsSchema: json.RawMessage(`{
			"type": "object",
			"properties": {"signing_secret": {"type": "string", "minLength": 16}},
			"additionalProperties": false
		}`),
		ProviderSigns: true,
	}, nil
}

func (*signer) HandleInbound(context.Context, *plugins.InboundRequest) (*plugins.InboundResult, error) {
	return nil, errors.New("not used by the vault")
}

func (s *signer) Subscribe(_ context.Context, req *plugins.SubscribeRequest) (*plugins.SubscribeResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subs = append(s.subs, req)
	return &plugins.SubscribeResult{Message: "paste " + req.WebhookURL + " into Signer's webhook form"}, nil
}

func (*signer) Unsubscribe(context.Context, *plugins.UnsubscribeRequest) error { return nil }

func (s *signer) subscribed() []*plugins.SubscribeRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*plugins.SubscribeRequest(nil), s.subs...)
}

// managed is a connector like Deskera: it registers the URL at the provider
// through its API and removes it again. Tests tell it to fail.
type managed struct {
	mu             sync.Mutex
	subs           []*plugins.SubscribeRequest
	unsubs         []*plugins.UnsubscribeRequest
	subscribeErr   error
	unsubscribeErr error
	state          []byte // next Subscribe's state; nil: {"hook_id":"hook-<n>"}
}

func (*managed) Describe(context.Context) (*plugins.Description, error) {
	return &plugins.Description{
		ID:          "managed",
		Name:        "Managed",
		Version:     "0.1.0",
		UnifiedAPIs: []string{"accounting", "issue-tracking"},
		Webhook:     plugins.WebhookSupport{Mode: plugins.ModeNative, ManagedVia: plugins.ManagedAPI},
		SettingsSchema: json.RawMessage(`{
			"type": "object",
			"required": ["base_url"],
			"properties": {
				"base_url": {"type": "string", "format": "uri", "x-switchboard-operator-only": true},
				"event_types": {"type": "array", "items": {"type": "string"}, "minItems": 1}
			},
			"additionalProperties": false
		}`),
		CredentialsSchema: json.RawMessage(`{
			"type": "object",
			"required": ["api_key"],
			"properties": {
				"api_key": {"type": "string", "pattern": "^key_", "minLength": 8},
				"api_env": {"type": "string"}
			},
			"additionalProperties": false
		}`),
	}, nil
}

func (*managed) HandleInbound(context.Context, *plugins.InboundRequest) (*plugins.InboundResult, error) {
	return nil, errors.New("not used by the vault")
}

func (m *managed) Subscribe(_ context.Context, req *plugins.SubscribeRequest) (*plugins.SubscribeResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.subs = append(m.subs, req)
	if m.subscribeErr != nil {
		return nil, m.subscribeErr
	}
	state := m.state
	if state == nil {
		state = fmt.Appendf(nil, `{"hook_id":"hook-%d"}`, len(m.subs))
	}
	return &plugins.SubscribeResult{Registered: true, State: state, Message: "registered at Managed"}, nil
}

func (m *managed) Unsubscribe(_ context.Context, req *plugins.UnsubscribeRequest) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.unsubs = append(m.unsubs, req)
	return m.unsubscribeErr
}

func (m *managed) set(f func(m *managed)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f(m)
}

func (m *managed) subscribed() []*plugins.SubscribeRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*plugins.SubscribeRequest(nil), m.subs...)
}

func (m *managed) unsubscribed() []*plugins.UnsubscribeRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*plugins.UnsubscribeRequest(nil), m.unsubs...)
}

// loaded plays the hub's plugin manager for the vault: every call goes over
// real gRPC to the test connectors (plugins/plugintest). A connector marked
// down answers as the manager does for a crashed plugin.
type loaded struct {
	mu      sync.Mutex
	clients map[string]plugins.Client
	infos   map[string]vault.Info
	down    map[string]bool
}

func newLoaded(t *testing.T, impls ...plugins.Connector) *loaded {
	t.Helper()
	l := &loaded{clients: map[string]plugins.Client{}, infos: map[string]vault.Info{}, down: map[string]bool{}}
	for _, impl := range impls {
		c := plugintest.Connect(t, impl)
		d, err := c.Describe(t.Context())
		require.NoError(t, err)
		l.clients[d.ID] = c
		l.infos[d.ID] = vault.Info{ID: d.ID, Status: vault.StatusRunning, Description: d}
	}
	return l
}

func (l *loaded) List() []vault.Info {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []vault.Info
	for _, info := range l.infos {
		out = append(out, info)
	}
	return out
}

func (l *loaded) Get(id string) (vault.Info, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	info, ok := l.infos[id]
	return info, ok
}

func (l *loaded) client(id string) (plugins.Client, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down[id] {
		return nil, &plugins.UnavailableError{ID: id, RetryAfter: 3 * time.Second, Err: errors.New("process exited")}
	}
	c, ok := l.clients[id]
	if !ok {
		return nil, fmt.Errorf("unknown connector %q", id)
	}
	return c, nil
}

func (l *loaded) Subscribe(ctx context.Context, id string, req *plugins.SubscribeRequest) (*plugins.SubscribeResult, error) {
	c, err := l.client(id)
	if err != nil {
		return nil, err
	}
	return c.Subscribe(ctx, req)
}

func (l *loaded) Unsubscribe(ctx context.Context, id string, req *plugins.UnsubscribeRequest) error {
	c, err := l.client(id)
	if err != nil {
		return err
	}
	return c.Unsubscribe(ctx, req)
}

func (l *loaded) setDown(id string, down bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.down[id] = down
}

func (l *loaded) setInfo(info vault.Info) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.infos[info.ID] = info
}

// logBuffer collects every log line of a test hub, to prove no credential
// reaches one.
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

// hub is the API with the vault's routes over a real SQLite store with a
// started job queue and real gRPC connectors.
type hub struct {
	t       *testing.T
	store   *sqlite.Store
	handler http.Handler
	vault   *vault.Service
	loaded  *loaded
	signer  *signer
	managed *managed
	logs    *logBuffer
	// bodies holds every response body, to prove no credential is in one.
	mu     sync.Mutex
	bodies []string
}

type hubOption func(*vault.Config)

func newHub(t *testing.T, opts ...hubOption) *hub {
	t.Helper()
	ctx := context.Background()
	box, err := secret.NewBox(bytes.Repeat([]byte{7}, secret.KeySize))
	require.NoError(t, err)
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "hub.db"), Sealer: box})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() }) // a test may have closed it to make writes fail
	require.NoError(t, st.StartQueue(ctx, store.QueueConfig{Workers: storetest.Workers()}))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = st.StopQueue(ctx)
	})
	h := &hub{t: t, store: st, signer: &signer{}, managed: &managed{}, logs: &logBuffer{}}
	h.loaded = newLoaded(t, h.signer, h.managed)
	logger := slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := vault.Config{Store: st, Connectors: h.loaded, PublicURL: publicURL, Logger: logger}
	for _, o := range opts {
		o(&cfg)
	}
	h.vault = vault.New(cfg)
	h.handler, err = api.New(api.Config{
		Store:        st,
		Logger:       logger,
		BootstrapKey: bootstrapKey,
		PublicURL:    publicURL,
		Routes:       h.vault.Routes(),
	})
	require.NoError(t, err)
	return h
}

// response is a recorded answer (apitest.Response).
type response = apitest.Response

// req is one request; Consumer sets x-consumer-id, Key the bearer key
// (bootstrapKey when empty; "-" sends none).
type req struct {
	Method   string
	Path     string
	Body     any
	Consumer string
	Key      string
}

// do sends r and checks the answer against openapi.json.
func (h *hub) do(r req) response {
	h.t.Helper()
	header := http.Header{}
	switch r.Key {
	case "":
		header.Set("Authorization", "Bearer "+bootstrapKey)
	case "-":
	default:
		header.Set("Authorization", "Bearer "+r.Key)
	}
	if r.Consumer != "" {
		header.Set(vault.ConsumerHeader, r.Consumer)
	}
	res := apitest.Serve(h.t, h.handler, r.Method, r.Path, r.Body, header)
	require.NotNil(h.t, res.JSON, "response is JSON: %s", res.Body)
	apitest.Conforms(h.t, r.Method, r.Path, res.Status, res.Header, res.Body)
	h.mu.Lock()
	h.bodies = append(h.bodies, string(res.Body))
	h.mu.Unlock()
	return res
}

func (h *hub) get(consumer, path string) response {
	return h.do(req{Method: "GET", Path: path, Consumer: consumer})
}

func (h *hub) post(consumer, path string, body any) response {
	return h.do(req{Method: "POST", Path: path, Consumer: consumer, Body: body})
}

func (h *hub) patch(consumer, path string, body any) response {
	return h.do(req{Method: "PATCH", Path: path, Consumer: consumer, Body: body})
}

func (h *hub) del(consumer, path string) response {
	return h.do(req{Method: "DELETE", Path: path, Consumer: consumer})
}

// create makes a connection and returns the 201 answer.
func (h *hub) create(consumer string, body map[string]any) response {
	h.t.Helper()
	res := h.post(consumer, "/vault/connections", body)
	require.Equal(h.t, http.StatusCreated, res.Status, "%s", res.Body)
	return res
}

// requireNowhere checks that no response body and no log line so far
// contains any of secrets, except in the answers listed in allowed.
func (h *hub) requireNowhere(secrets []string, allowed ...response) {
	h.t.Helper()
	h.mu.Lock()
	bodies := append([]string(nil), h.bodies...)
	h.mu.Unlock()
	skip := map[string]bool{}
	for _, a := range allowed {
		skip[string(a.Body)] = true
	}
	logs := h.logs.String()
	require.NotEmpty(h.t, logs, "the hub logged its requests")
	for _, sec := range secrets {
		require.NotEmpty(h.t, sec)
		require.NotContains(h.t, logs, sec, "a credential reached the log")
		for _, b := range bodies {
			if !skip[b] {
				require.NotContains(h.t, b, sec, "a credential reached a response")
			}
		}
	}
}

// requireError checks an error answer: status, type name and message.
func requireError(t *testing.T, res response, status int, typeName string, want ...string) {
	t.Helper()
	require.Equal(t, status, res.Status, "%s", res.Body)
	require.Equal(t, typeName, res.JSON["type_name"], "%s", res.Body)
	for _, w := range want {
		require.Contains(t, res.JSON["message"], w, "%s", res.Body)
	}
}
