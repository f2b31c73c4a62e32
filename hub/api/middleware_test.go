package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/api"
	"github.com/switchboardhq/switchboard/hub/apikey"
	"github.com/switchboardhq/switchboard/hub/store"
)

func TestRequestID(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	tests := []struct {
		name   string
		header map[string]string
		want   string // "" = a fresh UUID
	}{
		{name: "made up", header: nil},
		{name: "echoed", header: map[string]string{"Request-Id": "trace-123.abc:1"}, want: "trace-123.abc:1"},
		{name: "echoed X-Request-Id", header: map[string]string{"X-Request-Id": "from-proxy"}, want: "from-proxy"},
		{name: "invalid replaced", header: map[string]string{"Request-Id": "has spaces\tand tabs"}},
		{name: "too long replaced", header: map[string]string{"Request-Id": strings.Repeat("a", 129)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []req{
				{Method: "GET", Path: "/webhook/webhooks", Key: bootstrapKey, Header: tt.header},
				{Method: "GET", Path: "/webhook/webhooks", Header: tt.header}, // 401
				{Method: "GET", Path: "/nope", Header: tt.header},             // 404
				{Method: "GET", Path: "/healthz", Header: tt.header},
			} {
				got := h.do(r).Header.Get("Request-Id")
				if tt.want != "" {
					assert.Equal(t, tt.want, got)
					continue
				}
				_, err := uuid.Parse(got)
				assert.NoError(t, err, "Request-Id %q is a UUID", got)
			}
		})
	}
	a := h.get("/healthz").Header.Get("Request-Id")
	b := h.get("/healthz").Header.Get("Request-Id")
	assert.NotEqual(t, a, b)
}

func TestUnknownRoutesAndMethods(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	for _, path := range []string{"/", "/nope", "/webhook", "/webhook/webhooks/", "/webhook/webhooks/x/y", "/vault/nope"} {
		res := h.do(req{Method: "GET", Path: path, Key: bootstrapKey})
		requireError(t, res, 404, "EntityNotFoundError", "no route GET "+path)
		res = h.do(req{Method: "GET", Path: path})
		requireError(t, res, 404, "EntityNotFoundError", "no route") // no key needed to learn a route does not exist
	}
	res := h.do(req{Method: "PUT", Path: "/webhook/webhooks", Key: bootstrapKey})
	requireError(t, res, 405, "MethodNotAllowedError", "method PUT is not allowed on /webhook/webhooks")
	assert.ElementsMatch(t, []string{"GET", "POST"}, strings.Split(res.Header.Get("Allow"), ", "))
	res = h.do(req{Method: "POST", Path: "/webhook/logs"})
	requireError(t, res, 405, "MethodNotAllowedError", "POST")
	assert.Equal(t, "GET", res.Header.Get("Allow"))
	res = h.do(req{Method: "DELETE", Path: "/healthz"})
	requireError(t, res, 405, "MethodNotAllowedError", "DELETE")
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	var notReady error
	h := newHub(t, func(c *api.Config) {
		c.Ready = func(ctx context.Context) error { return notReady }
	})
	res := h.get("/healthz")
	require.Equal(t, 200, res.Status)
	assert.Equal(t, "ok", res.JSON["status"])
	assert.Equal(t, "test", res.JSON["version"])

	res = h.do(req{Method: "GET", Path: "/readyz"})
	require.Equal(t, 200, res.Status)
	assert.Equal(t, "ok", res.JSON["status"])

	notReady = errors.New("job queue not started")
	res = h.do(req{Method: "GET", Path: "/readyz"})
	requireError(t, res, 503, "ServiceUnavailableError", "not ready: job queue not started")
	assert.Equal(t, 200, h.do(req{Method: "GET", Path: "/healthz"}).Status, "liveness does not depend on readiness")
}

func TestReadinessDefaultsToStorePing(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	require.Equal(t, 200, h.get("/readyz").Status)
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	id := h.subscribe(nil)
	h.get("/webhook/webhooks/" + id)
	h.get("/webhook/webhooks/" + id)
	h.get("/nope")
	h.do(req{Method: "GET", Path: "/webhook/logs"})

	res := h.do(req{Method: "GET", Path: "/metrics"})
	require.Equal(t, 200, res.Status)
	body := string(res.Body)
	for _, want := range []string{
		`switchboard_http_requests_total{code="201",route="/webhook/webhooks"} 1`,
		`switchboard_http_requests_total{code="200",route="/webhook/webhooks/:id"} 2`,
		`switchboard_http_requests_total{code="404",route="unmatched"} 1`,
		`switchboard_http_requests_total{code="401",route="/webhook/logs"} 1`,
		`go_goroutines`,
	} {
		assert.Contains(t, body, want)
	}
	assert.NotContains(t, body, id, "routes are counted by template, not by path")
}

func TestExtraRoutes(t *testing.T) {
	t.Parallel()
	h := newHub(t, func(c *api.Config) {
		c.Routes = []api.Route{
			{Method: "GET", Path: "/vault/connections", Scope: apikey.ScopeConnectionsWrite, Tenancy: api.Scoped, Handler: func(c *gin.Context) {
				api.Respond(c, http.StatusOK, map[string]any{"key": api.Principal(c).KeyID, "request_id": api.RequestID(c)})
			}},
			{Method: "POST", Path: "/webhook/inbound/:service_id/:token", Tenancy: api.Public, Handler: func(c *gin.Context) {
				var body struct {
					Event string `json:"event"`
				}
				if _, err := api.DecodeJSON(c, &body); err != nil {
					api.WriteError(c, err)
					return
				}
				if c.Param("token") == "missing" {
					api.WriteError(c, api.NotFound("connection", c.Param("token")))
					return
				}
				api.Respond(c, http.StatusAccepted, map[string]any{"event": body.Event, "key": api.Principal(c) == nil})
			}},
			{Method: "GET", Path: "/panic", Tenancy: api.Public, Handler: func(c *gin.Context) {
				panic("secret internals")
			}},
			{Method: "GET", Path: "/fail", Tenancy: api.Public, Handler: func(c *gin.Context) {
				api.WriteError(c, fmt.Errorf("loading: %w", errors.New("database is locked at /var/secret/path")))
			}},
			{Method: "GET", Path: "/missing", Tenancy: api.Public, Handler: func(c *gin.Context) {
				api.WriteError(c, fmt.Errorf("loading thing: %w", store.ErrNotFound))
			}},
		}
	})
	h.offSpec = true
	res := h.do(req{Method: "GET", Path: "/vault/connections", Key: bootstrapKey})
	require.Equal(t, 200, res.Status, "%s", res.Body)
	assert.Equal(t, apikey.BootstrapID, res.Str("data", "key"))
	assert.Equal(t, res.Header.Get("Request-Id"), res.Str("data", "request_id"))
	requireError(t, h.do(req{Method: "GET", Path: "/vault/connections"}), 401, "UnauthorizedError", "missing API key")
	requireError(t, h.do(req{Method: "GET", Path: "/vault/connections", Key: h.createKey(apikey.ScopeWebhooksWrite)}), 403, "ForbiddenError", "connections:write")

	res = h.do(req{Method: "POST", Path: "/webhook/inbound/dversum/tok", Body: map[string]any{"event": "invoice.paid"}})
	require.Equal(t, 202, res.Status, "%s", res.Body)
	assert.Equal(t, "invoice.paid", res.Str("data", "event"))
	assert.Equal(t, true, res.Data()["key"])
	requireError(t, h.do(req{Method: "POST", Path: "/webhook/inbound/dversum/missing", Body: map[string]any{}}), 404, "EntityNotFoundError", "connection missing not found")
	requireError(t, h.do(req{Method: "POST", Path: "/webhook/inbound/dversum/tok", Body: "{"}), 400, "RequestValidationError", "not valid JSON")
	requireError(t, h.do(req{Method: "POST", Path: "/webhook/inbound/dversum/tok", Body: `{"event":"` + strings.Repeat("x", 1<<20) + `"}`}), 413, "RequestTooLargeError", "limit")

	for _, path := range []string{"/panic", "/fail"} {
		res = h.do(req{Method: "GET", Path: path})
		requireError(t, res, 500, "ServerError", "internal server error")
		assert.NotContains(t, string(res.Body), "secret")
		assert.Regexp(t, regexp.MustCompile(`"detail":null`), string(res.Body))
	}
	requireError(t, h.do(req{Method: "GET", Path: "/missing"}), 404, "EntityNotFoundError", "not found")
	assert.Equal(t, 200, h.get("/healthz").Status, "the server survives a panic")
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	_, err := api.New(api.Config{})
	require.ErrorContains(t, err, "Store is required")
	h := newHub(t)
	_, err = api.New(api.Config{Store: h.store, Routes: []api.Route{{Method: "GET", Path: "/x", Handler: func(*gin.Context) {}}}})
	require.ErrorContains(t, err, "route GET /x declares no tenancy")
	_, err = api.New(api.Config{Store: h.store, Routes: []api.Route{{Method: "GET", Path: "/x", Tenancy: api.Scoped, Handler: func(*gin.Context) {}}}})
	require.ErrorContains(t, err, "route GET /x declares no scope")
}

func TestLimitAtStoreCap(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	ctx := context.Background()
	for i := range store.MaxPageLimit {
		require.NoError(t, h.store.CreateSubscription(ctx, store.AllConsumers(), &store.Subscription{
			UnifiedAPI: "accounting", Status: "enabled", DeliveryURL: "https://example.com/", Events: []string{"*"},
			Secret: "whsec_x", Description: fmt.Sprint(i),
		}))
	}
	full := h.get("/webhook/webhooks?limit=200")
	require.Len(t, full.List(), 200)
	assert.Nil(t, full.JSON["meta"].(map[string]any)["cursors"].(map[string]any)["next"], "exactly 200: no next page")

	require.NoError(t, h.store.CreateSubscription(ctx, store.AllConsumers(), &store.Subscription{
		UnifiedAPI: "accounting", Status: "enabled", DeliveryURL: "https://example.com/", Events: []string{"*"}, Secret: "whsec_x",
	}))
	full = h.get("/webhook/webhooks?limit=200")
	require.Len(t, full.List(), 200)
	require.NotNil(t, full.JSON["meta"].(map[string]any)["cursors"].(map[string]any)["next"], "201: a next page")
	last := h.get(nextPath(full))
	require.Len(t, last.List(), 1)
	back := h.get(prevPath(last))
	assert.Equal(t, idsOf(full), idsOf(back))
	assert.Nil(t, back.JSON["links"].(map[string]any)["previous"])
}

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestLogging(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	h := newHub(t, func(c *api.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	key := h.createKey(apikey.ScopeAdmin)
	res := h.do(req{Method: "POST", Path: "/webhook/webhooks", Key: key, Body: map[string]any{
		"unified_api": "accounting", "status": "enabled", "delivery_url": "https://example.com/h", "events": []string{"*"},
	}})
	require.Equal(t, 201, res.Status)
	secret := res.Str("data", "secret")
	rot := h.post("/webhook/webhooks/"+res.Str("data", "id")+"/rotate-secret", nil)
	h.get("/webhook/webhooks?filter[x]=1")
	h.offSpec = true
	h.do(req{Method: "POST", Path: "/webhook/inbound/dversum/tok-c0ffee-inbound", Body: map[string]any{}})

	out := logs.String()
	assert.Contains(t, out, `"path":"/webhook/inbound/dversum/[redacted]"`, "inbound requests are logged without their token")
	for _, s := range []string{secret, rot.Str("data", "secret"), key, bootstrapKey, "tok-c0ffee-inbound"} {
		assert.NotContains(t, out, s, "no secret or key in the log")
	}
	var line map[string]any
	first, _, _ := strings.Cut(out, "\n")
	require.NoError(t, json.Unmarshal([]byte(first), &line))
	assert.Equal(t, "http request", line["msg"])
	assert.Equal(t, "/webhook/webhooks", line["route"])
	assert.Equal(t, 201.0, line["status"])
	assert.Equal(t, res.Header.Get("Request-Id"), line["request_id"])
	id, _ := apikey.Parse(key)
	assert.Equal(t, id, line["api_key_id"], "the key's id, not the key")
}

func TestStoreUnavailableIs503WithRetryAfter(t *testing.T) {
	t.Parallel()
	h := newHub(t, func(c *api.Config) {
		c.Routes = []api.Route{
			// Where ingest stores an inbound event; the route is in
			// openapi.json, so the answer is checked against it.
			{Method: "POST", Path: "/webhook/inbound/:service_id/:token", Tenancy: api.Public, Handler: func(c *gin.Context) {
				api.WriteError(c, fmt.Errorf("publishing event: %w", fmt.Errorf("committing: %w: %w",
					store.ErrUnavailable, errors.New("database is locked (5) (SQLITE_BUSY)"))))
			}},
		}
	})
	res := h.do(req{Method: "POST", Path: "/webhook/inbound/dversum/tok", Body: map[string]any{}})
	requireError(t, res, http.StatusServiceUnavailable, "ServiceUnavailableError", "retry shortly")
	assert.Equal(t, "5", res.Header.Get("Retry-After"))
	assert.NotContains(t, string(res.Body), "SQLITE", "the cause stays in the log")

	// Other errors carry no Retry-After.
	res = h.get("/webhook/webhooks/" + uuid.NewString())
	requireError(t, res, http.StatusNotFound, "EntityNotFoundError", "not found")
	assert.Empty(t, res.Header.Get("Retry-After"))
}
