package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/api"
	"github.com/switchboardhq/switchboard/hub/apikey"
	"github.com/switchboardhq/switchboard/hub/metric"
	"github.com/switchboardhq/switchboard/hub/secret"
	"github.com/switchboardhq/switchboard/hub/store"
	"github.com/switchboardhq/switchboard/hub/store/sqlite"
	"github.com/switchboardhq/switchboard/hub/store/storetest"
)

// bootstrapKey plays SWITCHBOARD_API_KEY in every test hub.
const bootstrapKey = "test-bootstrap-key"

// hub is one API over a real SQLite store in a temporary directory, with a
// started job queue whose workers do nothing (deliveries stay pending unless
// a test records outcomes).
type hub struct {
	t       *testing.T
	store   *sqlite.Store
	handler http.Handler
	metrics *metric.Metrics
	// offSpec: routes added through Config.Routes are not in openapi.json;
	// only their errors' shape is checked.
	offSpec bool
}

func newHub(t *testing.T, configure ...func(*api.Config)) *hub {
	t.Helper()
	ctx := context.Background()
	box, err := secret.NewBox(bytes.Repeat([]byte{7}, secret.KeySize))
	require.NoError(t, err)
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "hub.db"), Sealer: box})
	require.NoError(t, err)
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

// response is a recorded answer; JSON is its decoded body when it is JSON.
type response struct {
	Status int
	Header http.Header
	Body   []byte
	JSON   map[string]any
}

// data returns the envelope's data object.
func (r response) data() map[string]any {
	d, _ := r.JSON["data"].(map[string]any)
	return d
}

// list returns the envelope's data array.
func (r response) list() []map[string]any {
	items, _ := r.JSON["data"].([]any)
	out := make([]map[string]any, len(items))
	for i, it := range items {
		out[i] = it.(map[string]any)
	}
	return out
}

func (r response) str(path ...string) string {
	var v any = r.JSON
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[p]
	}
	s, _ := v.(string)
	return s
}

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
	var body io.Reader
	switch b := r.Body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(h.t, err)
		body = bytes.NewReader(raw)
	}
	httpReq := httptest.NewRequest(r.Method, r.Path, body)
	if r.Body != nil {
		httpReq.Header.Set("Content-Type", "application/json")
	}
	if r.Key != "" {
		httpReq.Header.Set("Authorization", "Bearer "+r.Key)
	}
	for k, v := range r.Header {
		httpReq.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.handler.ServeHTTP(rec, httpReq)
	res := response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		require.NoError(h.t, json.Unmarshal(res.Body, &res.JSON), "response is JSON: %s", res.Body)
	}
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
	plain, k, err := apikey.Generate("test", scopes)
	require.NoError(h.t, err)
	require.NoError(h.t, h.store.CreateAPIKey(context.Background(), k))
	return plain
}

// counts reports how many subscriptions and events are stored, to prove a
// refused request stored nothing.
func (h *hub) counts() (subs, events int) {
	h.t.Helper()
	ctx := context.Background()
	ss, err := h.store.ListSubscriptions(ctx, store.Page{Limit: store.MaxPageLimit})
	require.NoError(h.t, err)
	evs, err := h.store.ListEvents(ctx, store.EventFilter{}, store.Page{Limit: store.MaxPageLimit})
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
	return res.str("data", "id")
}

// publish publishes an event and returns its id.
func (h *hub) publish(body map[string]any) string {
	h.t.Helper()
	res := h.post("/webhook/events", body)
	require.Equal(h.t, http.StatusAccepted, res.Status, "%s", res.Body)
	return res.str("data", "id")
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

// The OpenAPI document, loaded once, and a router over it.
var spec = sync.OnceValues(func() (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromData(api.OpenAPI())
	if err != nil {
		return nil, err
	}
	return doc, doc.Validate(context.Background())
})

var specRouter = sync.OnceValues(func() (routers.Router, error) {
	doc, err := spec()
	if err != nil {
		return nil, err
	}
	return legacy.NewRouter(doc)
})

// checkConformance validates a response against the document: status code
// declared for the operation, headers, and body schema. Answers for routes
// the document does not have (404, 405) must still be in the error shape.
func checkConformance(t *testing.T, method, path string, res response, offSpec bool) {
	t.Helper()
	doc, err := spec()
	require.NoError(t, err, "openapi.json loads and validates")
	router, err := specRouter()
	require.NoError(t, err)

	httpReq := httptest.NewRequest(method, path, nil)
	route, params, err := router.FindRoute(httpReq)
	if err == nil && strings.HasSuffix(httpReq.URL.Path, "/") && httpReq.URL.Path != "/" {
		err = errors.New("the router forgives a trailing slash; the API does not")
	}
	if err != nil || offSpec {
		if offSpec && res.Status < 400 {
			return
		}
		require.GreaterOrEqual(t, res.Status, 400, "%s %s is served but not in openapi.json", method, path)
		var v any
		require.NoError(t, json.Unmarshal(res.Body, &v))
		require.NoError(t, doc.Components.Schemas["Error"].Value.VisitJSON(v), "error shape of %s %s: %s", method, path, res.Body)
		return
	}
	opts := &openapi3filter.Options{
		IncludeResponseStatus: true,
		AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: httpReq, PathParams: params, Route: route, Options: opts,
		},
		Status:  res.Status,
		Header:  res.Header,
		Options: opts,
	}
	in.SetBodyBytes(res.Body)
	require.NoError(t, openapi3filter.ValidateResponse(context.Background(), in),
		"%s %s answered %d, which openapi.json does not describe: %s", method, path, res.Status, res.Body)
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
