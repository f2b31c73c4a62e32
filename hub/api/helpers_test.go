package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/api"
	"github.com/switchboardhq/switchboard/hub/api/apitest"
	"github.com/switchboardhq/switchboard/hub/apikey"
	"github.com/switchboardhq/switchboard/hub/metric"
	"github.com/switchboardhq/switchboard/hub/secret"
	"github.com/switchboardhq/switchboard/hub/store"
	"github.com/switchboardhq/switchboard/hub/store/postgres"
	"github.com/switchboardhq/switchboard/hub/store/postgres/pgtest"
	"github.com/switchboardhq/switchboard/hub/store/sqlite"
	"github.com/switchboardhq/switchboard/hub/store/storetest"
)

// bootstrapKey plays SWITCHBOARD_API_KEY in every test hub.
const bootstrapKey = "test-bootstrap-key"

// hub is one API over a real store (SQLite in a temporary directory unless
// the test asks for PostgreSQL), with a started job queue whose workers do
// nothing (deliveries stay pending unless a test records outcomes).
type hub struct {
	t       *testing.T
	store   store.Store
	handler http.Handler
	metrics *metric.Metrics
	// offSpec: routes added through Config.Routes are not in openapi.json;
	// only their errors' shape is checked.
	offSpec bool
}

func newHub(t *testing.T, configure ...func(*api.Config)) *hub {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "hub.db"), Sealer: testSealer(t)})
	require.NoError(t, err)
	return newHubOn(t, st, configure...)
}

// newPostgresHub is newHub on a fresh PostgreSQL database (pgtest), for
// behaviour that must be the same on both stores.
func newPostgresHub(t *testing.T, configure ...func(*api.Config)) *hub {
	t.Helper()
	st, err := postgres.Open(context.Background(), postgres.Config{URL: pgtest.NewDatabase(t), Sealer: testSealer(t)})
	require.NoError(t, err)
	return newHubOn(t, st, configure...)
}

// stores runs test once per store, as parallel subtests.
func stores(t *testing.T, test func(t *testing.T, open func(t *testing.T, configure ...func(*api.Config)) *hub)) {
	t.Helper()
	for name, open := range map[string]func(*testing.T, ...func(*api.Config)) *hub{"sqlite": newHub, "postgres": newPostgresHub} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, open)
		})
	}
}

func testSealer(t *testing.T) *secret.Box {
	t.Helper()
	box, err := secret.NewBox(bytes.Repeat([]byte{7}, secret.KeySize))
	require.NoError(t, err)
	return box
}

func newHubOn(t *testing.T, st store.Store, configure ...func(*api.Config)) *hub {
	t.Helper()
	ctx := context.Background()
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	require.NoError(t, st.StartQueue(ctx, store.QueueConfig{Workers: storetest.Workers()}))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, st.StopQueue(ctx))
	})
	m := metric.New()
	cfg := api.Config{
		Store:                st,
		Metrics:              m,
		BootstrapKey:         bootstrapKey,
		PublicURL:            "https://hub.example.com",
		Version:              "test",
		DefaultRetrySchedule: []int{5, 300, 1800},
	}
	for _, f := range configure {
		f(&cfg)
	}
	h, err := api.New(cfg)
	require.NoError(t, err)
	return &hub{t: t, store: st, handler: h, metrics: m}
}

// response is a recorded answer (apitest.Response).
type response = apitest.Response

// req describes one request. Body is sent as is when it is a string or
// []byte, else encoded as JSON.
type req struct {
	Method string
	Path   string
	Body   any
	Key    string // bearer key; "" sends no Authorization header
	Header map[string]string
}

// do sends r to the API and checks the answer against the OpenAPI document:
// every response any test sees is a conformance check.
func (h *hub) do(r req) response {
	h.t.Helper()
	header := http.Header{}
	if r.Key != "" {
		header.Set("Authorization", "Bearer "+r.Key)
	}
	for k, v := range r.Header {
		header.Set(k, v)
	}
	res := apitest.Serve(h.t, h.handler, r.Method, r.Path, r.Body, header)
	checkConformance(h.t, r.Method, r.Path, res, h.offSpec)
	return res
}

// get, post, patch and del are do with the bootstrap key.
func (h *hub) get(path string) response {
	return h.do(req{Method: "GET", Path: path, Key: bootstrapKey})
}
func (h *hub) post(path string, body any) response {
	return h.do(req{Method: "POST", Path: path, Body: body, Key: bootstrapKey})
}
func (h *hub) patch(path string, body any) response {
	return h.do(req{Method: "PATCH", Path: path, Body: body, Key: bootstrapKey})
}
func (h *hub) del(path string) response {
	return h.do(req{Method: "DELETE", Path: path, Key: bootstrapKey})
}

// createKey stores a key with scopes and returns its plaintext.
func (h *hub) createKey(scopes ...string) string {
	h.t.Helper()
	plain, k, err := apikey.Generate("test", scopes, "")
	require.NoError(h.t, err)
	require.NoError(h.t, h.store.CreateAPIKey(context.Background(), k))
	return plain
}

// counts reports how many subscriptions and events are stored, to prove a
// refused request stored nothing.
func (h *hub) counts() (subs, events int) {
	h.t.Helper()
	ctx := context.Background()
	ss, err := h.store.ListSubscriptions(ctx, store.AllConsumers(), store.Page{Limit: store.MaxPageLimit})
	require.NoError(h.t, err)
	evs, err := h.store.ListEvents(ctx, store.AllConsumers(), store.EventFilter{}, store.Page{Limit: store.MaxPageLimit})
	require.NoError(h.t, err)
	return len(ss), len(evs)
}

// subscribe creates a subscription and returns its id.
func (h *hub) subscribe(body map[string]any) string {
	h.t.Helper()
	full := map[string]any{
		"unified_api":  "accounting",
		"status":       "enabled",
		"delivery_url": "https://example.com/hook",
		"events":       []string{"*"},
	}
	for k, v := range body {
		full[k] = v
	}
	res := h.post("/webhook/webhooks", full)
	require.Equal(h.t, http.StatusCreated, res.Status, "%s", res.Body)
	return res.Str("data", "id")
}

// publish publishes an event and returns its id.
func (h *hub) publish(body map[string]any) string {
	h.t.Helper()
	res := h.post("/webhook/events", body)
	require.Equal(h.t, http.StatusAccepted, res.Status, "%s", res.Body)
	return res.Str("data", "id")
}

// requireError checks an error answer: status, type name and that the
// message mentions want.
func requireError(t *testing.T, res response, status int, typeName, want string) {
	t.Helper()
	require.Equal(t, status, res.Status, "%s", res.Body)
	require.Equal(t, float64(status), res.JSON["status_code"], "%s", res.Body)
	require.Equal(t, http.StatusText(status), res.JSON["error"])
	require.Equal(t, typeName, res.JSON["type_name"], "%s", res.Body)
	require.Contains(t, res.JSON["message"], want, "%s", res.Body)
}

// checkConformance validates a response against openapi.json
// (apitest.Conforms). Answers of routes mounted only by a test (offSpec)
// are not in the document; their errors must still be in the error shape.
func checkConformance(t *testing.T, method, path string, res response, offSpec bool) {
	t.Helper()
	if offSpec {
		if res.Status >= 400 {
			apitest.ErrorShape(t, method, path, res.Body)
		}
		return
	}
	apitest.Conforms(t, method, path, res.Status, res.Header, res.Body)
}

// cursorFor forges a cursor as the API makes them, to check that one list's
// cursor is refused by another.
func cursorFor(list, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("v1|" + list + "|a|" + id))
}

// httptestChunked posts body with no Content-Length, as a chunked upload
// would arrive.
func httptestChunked(h *hub, path, body string) response {
	h.t.Helper()
	r := httptest.NewRequest("POST", path, io.MultiReader(strings.NewReader(body)))
	r.ContentLength = -1
	r.Header.Set("Authorization", "Bearer "+bootstrapKey)
	rec := httptest.NewRecorder()
	h.handler.ServeHTTP(rec, r)
	res := response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
	require.NoError(h.t, json.Unmarshal(res.Body, &res.JSON))
	checkConformance(h.t, "POST", path, res, h.offSpec)
	return res
}

// counterValue reads a counter.
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	require.NoError(t, c.Write(&m))
	return m.GetCounter().GetValue()
}

// requireFieldErrors checks a 422 names exactly these fields, in order.
func requireFieldErrors(t *testing.T, res response, fields ...string) {
	t.Helper()
	require.Equal(t, http.StatusUnprocessableEntity, res.Status, "%s", res.Body)
	var body struct {
		Detail struct {
			Errors []struct{ Field, Reason string }
		}
	}
	require.NoError(t, json.Unmarshal(res.Body, &body))
	var got []string
	for _, e := range body.Detail.Errors {
		got = append(got, e.Field)
	}
	require.Equal(t, fields, got, "%s", res.Body)
}
