// Package apideck is Switchboard's Apideck edge: everything under /apideck/
// answers in Apideck Unify's shape (paths, fields, types, enums, errors,
// cursor pagination), so an application written for Apideck's webhook and
// vault API moves to a self-hosted hub by pointing its SDK's server URL at
// <hub>/apideck.
//
// It is a thin translation layer, not a second API: its routes are mounted
// through api.Config.Routes with the same authentication, scopes and
// tenancy as the hub's own, and what the hub's own routes already do
// (subscriptions, vault connections with their provider registrations,
// sessions) is done by handing the translated request to the hub's own
// handler in process (Service.SetHandler) and translating the answer back.
// Only what the hub's API does not have (consumers, Apideck's event log
// filters, the connector catalogue's shape) reads the store directly,
// always with the caller's scope.
//
// Every other call of Apideck's SDKs under /apideck/ answers 501 with
// Apideck's NotImplementedError.
package apideck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/switchboardhq/switchboard/hub/api"
	"github.com/switchboardhq/switchboard/hub/apikey"
	"github.com/switchboardhq/switchboard/hub/store"
	"github.com/switchboardhq/switchboard/hub/vault"
)

// Prefix is where the edge is mounted.
const Prefix = "/apideck"

// ErrorRef is the base of the ref of Apideck's errors; the lower-cased type
// name follows.
const ErrorRef = "https://developers.apideck.com/errors#"

// Headers Apideck's SDKs send besides the consumer id.
const (
	AppIDHeader     = "x-apideck-app-id"
	ServiceIDHeader = "x-apideck-service-id"
)

// TypeNotImplemented is Apideck's type name of a 501.
const TypeNotImplemented = "NotImplementedError"

// Config wires the edge to the hub.
type Config struct {
	// Store is the hub's store (consumers, delivery attempts, events).
	Store store.Store
	// Connectors are the loaded connectors (the catalogue).
	Connectors vault.Connectors
	// PublicURL is the hub's external base URL (links, execute_base_url).
	PublicURL string
	// AppID, when set, is the application id every request must name in
	// x-apideck-app-id (Apideck's SDKs always send one). Empty: any or none.
	AppID string
}

// Service serves /apideck/.
type Service struct {
	store      store.Store
	connectors vault.Connectors
	publicURL  string
	appID      string

	mu    sync.RWMutex
	inner http.Handler
}

// New builds the edge. Call SetHandler with the hub's API handler before
// serving.
func New(cfg Config) *Service {
	if cfg.Store == nil || cfg.Connectors == nil {
		panic("apideck: Config.Store and Config.Connectors are required")
	}
	return &Service{store: cfg.Store, connectors: cfg.Connectors,
		publicURL: strings.TrimRight(cfg.PublicURL, "/"), appID: cfg.AppID}
}

// SetHandler gives the edge the hub's API handler (the one its routes are
// mounted on), through which it runs the hub's own routes.
func (s *Service) SetHandler(h http.Handler) {
	s.mu.Lock()
	s.inner = h
	s.mu.Unlock()
}

// Routes returns the edge's routes for api.Config.Routes.
func (s *Service) Routes() []api.Route {
	read, write, conns := apikey.ScopeWebhooksRead, apikey.ScopeWebhooksWrite, apikey.ScopeConnectionsWrite
	r := func(method, path, scope string, tenancy api.Tenancy, h gin.HandlerFunc) api.Route {
		return api.Route{Method: method, Path: Prefix + path, Scope: scope, Tenancy: tenancy, Handler: s.app(h)}
	}
	routes := []api.Route{
		{Method: http.MethodGet, Path: Prefix + "/openapi.json", Tenancy: api.Public, Handler: serveOpenAPI},

		r(http.MethodGet, "/webhook/webhooks", read, api.Scoped, s.listWebhooks),
		r(http.MethodPost, "/webhook/webhooks", write, api.Scoped, s.createWebhook),
		r(http.MethodGet, "/webhook/webhooks/:id", read, api.Scoped, s.getWebhook),
		r(http.MethodPatch, "/webhook/webhooks/:id", write, api.Scoped, s.updateWebhook),
		r(http.MethodDelete, "/webhook/webhooks/:id", write, api.Scoped, s.deleteWebhook),
		r(http.MethodGet, "/webhook/logs", read, api.Scoped, s.listLogs),

		r(http.MethodGet, "/connector/connectors", read, api.Shared, s.listConnectors),
		r(http.MethodGet, "/connector/connectors/:id", read, api.Shared, s.getConnector),

		r(http.MethodGet, "/vault/connections", read, api.Scoped, s.listConnections),
		r(http.MethodGet, "/vault/connections/:unified_api/:service_id", read, api.Scoped, s.getConnection),
		r(http.MethodPatch, "/vault/connections/:unified_api/:service_id", conns, api.Scoped, s.updateConnection),
		r(http.MethodDelete, "/vault/connections/:unified_api/:service_id", conns, api.Scoped, s.deleteConnection),
		r(http.MethodPost, "/vault/connections/:unified_api/:service_id/import", conns, api.Scoped, s.importConnection),

		r(http.MethodPost, "/vault/sessions", conns, api.Scoped, s.createSession),

		r(http.MethodGet, "/vault/consumers", read, api.Scoped, s.listConsumers),
		r(http.MethodPost, "/vault/consumers", conns, api.Scoped, s.createConsumer),
		r(http.MethodGet, "/vault/consumers/:consumer_id", read, api.Scoped, s.getConsumer),
		r(http.MethodPatch, "/vault/consumers/:consumer_id", conns, api.Scoped, s.updateConsumer),
		r(http.MethodDelete, "/vault/consumers/:consumer_id", conns, api.Scoped, s.deleteConsumer),
	}
	// Two-segment calls of the unified APIs (GET /apideck/crm/leads) would
	// otherwise reach the hub's entity route /{unified_api}/{entity_plural}/{id};
	// every method is declared so none of them turns into a 405.
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete} {
		routes = append(routes, r(m, "/:unified_api/:resource", read, api.Shared, notImplemented))
	}
	return routes
}

// Fallback is the catch-all: any other call under /apideck/ is, after
// authentication, a 501 in Apideck's shape.
func (s *Service) Fallback() api.Fallback {
	return api.Fallback{Prefix: Prefix + "/", Scope: apikey.ScopeWebhooksRead, Handler: s.app(notImplemented)}
}

// ErrorRefs puts Apideck's ref on every error under /apideck/.
func ErrorRefs() map[string]string { return map[string]string{Prefix + "/": ErrorRef} }

func notImplemented(c *gin.Context) {
	path := strings.TrimPrefix(c.Request.URL.Path, Prefix)
	api.WriteError(c, &api.Error{
		Status:   http.StatusNotImplemented,
		TypeName: TypeNotImplemented,
		Message:  fmt.Sprintf("%s %s is not implemented by Switchboard's Apideck edge; see README \"Coming from Apideck\" for what is", c.Request.Method, path),
		Detail:   map[string]string{"method": c.Request.Method, "path": path},
	})
}

// app checks x-apideck-app-id when the hub has an application id.
func (s *Service) app(h gin.HandlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		if s.appID != "" {
			got := c.GetHeader(AppIDHeader)
			switch {
			case got == "":
				api.WriteError(c, &api.Error{Status: http.StatusUnauthorized, TypeName: api.TypeUnauthorized,
					Message: "missing application id: send the header " + AppIDHeader,
					Detail:  map[string]string{"header": AppIDHeader}})
				return
			case got != s.appID:
				api.WriteError(c, &api.Error{Status: http.StatusUnauthorized, TypeName: api.TypeUnauthorized,
					Message: AppIDHeader + " does not name this hub's application",
					Detail:  map[string]string{"header": AppIDHeader}})
				return
			}
		}
		h(c)
	}
}

// reply is an answer of the hub's own API.
type reply struct {
	status int
	body   []byte
}

func (r reply) ok() bool { return r.status < 300 }

// envelope is the hub's success envelope, data left raw.
type envelope struct {
	Data json.RawMessage `json:"data"`
	Meta *struct {
		Cursors struct {
			Previous *string `json:"previous"`
			Current  *string `json:"current"`
			Next     *string `json:"next"`
		} `json:"cursors"`
	} `json:"meta"`
}

func (r reply) decode(v any) error {
	var env envelope
	if err := json.Unmarshal(r.body, &env); err != nil {
		return fmt.Errorf("reading the hub's answer: %w", err)
	}
	if err := json.Unmarshal(env.Data, v); err != nil {
		return fmt.Errorf("reading the hub's answer data: %w", err)
	}
	return nil
}

// relay runs one request of the hub's own API (callAs) and, when it fails
// or the hub refuses it, answers the caller in Apideck's shape; ok says
// whether the handler goes on with r.
func (s *Service) relay(c *gin.Context, consumer, method, path string, query url.Values, body any) (r reply, ok bool) {
	r, err := s.callAs(c, consumer, method, path, query, body)
	if err != nil {
		api.WriteError(c, err)
		return r, false
	}
	if !r.ok() {
		relayError(c, r)
		return r, false
	}
	return r, true
}

// callAs runs one request of the hub's own API for the caller of c, with
// the caller's credential, acting for consumer (when not empty) instead of
// the one the request's headers name.
func (s *Service) callAs(c *gin.Context, consumer, method, path string, query url.Values, body any) (reply, error) {
	s.mu.RLock()
	h := s.inner
	s.mu.RUnlock()
	if h == nil {
		return reply{}, fmt.Errorf("apideck edge: no API handler set")
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return reply{}, err
		}
		rd = bytes.NewReader(b)
	}
	target := path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(c.Request.Context(), method, target, rd)
	if err != nil {
		return reply{}, fmt.Errorf("building %s %s: %w", method, path, err)
	}
	req.Host = c.Request.Host
	req.TLS = c.Request.TLS
	req.RemoteAddr = c.Request.RemoteAddr
	for _, k := range []string{"Authorization", api.ConsumerHeader, api.ApideckConsumerHeader, api.RequestIDHeader} {
		if v := c.GetHeader(k); v != "" {
			req.Header.Set(k, v)
		}
	}
	if consumer != "" {
		req.Header.Del(api.ApideckConsumerHeader)
		req.Header.Set(api.ConsumerHeader, consumer)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	h.ServeHTTP(rec, req)
	return reply{status: rec.status, body: rec.buf.Bytes()}, nil
}

// recorder captures an in-process answer.
type recorder struct {
	header http.Header
	status int
	wrote  bool
	buf    bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.buf.Write(b)
}
func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
}

// relayError writes an error answer of the hub's API in Apideck's shape:
// the same body (status_code, error, type_name, message, detail) with ref.
func relayError(c *gin.Context, r reply) {
	var body map[string]any
	if err := json.Unmarshal(r.body, &body); err != nil || body["type_name"] == nil {
		api.WriteError(c, fmt.Errorf("the hub answered %d without an error body", r.status))
		return
	}
	if t, ok := body["type_name"].(string); ok {
		body["ref"] = ErrorRef + strings.ToLower(t)
	}
	writeJSON(c, r.status, body)
}

// writeJSON writes v as Apideck's SDKs read it.
func writeJSON(c *gin.Context, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		api.WriteError(c, err)
		return
	}
	c.Data(status, "application/json; charset=utf-8", buf.Bytes())
	c.Abort()
}

// respond writes Apideck's success envelope.
func respond(c *gin.Context, status int, data any) {
	writeJSON(c, status, success{StatusCode: status, Status: http.StatusText(status), Data: data})
}

// success is Apideck's success envelope; Meta and Links on lists only.
type success struct {
	StatusCode int    `json:"status_code"`
	Status     string `json:"status"`
	Data       any    `json:"data"`
	Meta       *meta  `json:"meta,omitempty"`
	Links      *links `json:"links,omitempty"`
}

type meta struct {
	ItemsOnPage int     `json:"items_on_page"`
	Cursors     cursors `json:"cursors"`
}

type links struct {
	Previous *string `json:"previous"`
	Current  string  `json:"current"`
	Next     *string `json:"next"`
}

// cursors are a list's meta.cursors.
type cursors struct {
	Previous *string `json:"previous"`
	Current  *string `json:"current"`
	Next     *string `json:"next"`
}

// respondList writes one page with Apideck's meta (items_on_page, cursors)
// and links, the links pointing at this /apideck list.
func (s *Service) respondList(c *gin.Context, items any, n int, cur cursors) {
	link := func(cursor *string) *string {
		if cursor == nil {
			return nil
		}
		u := s.pageURL(c, *cursor)
		return &u
	}
	current := ""
	if cur.Current != nil {
		current = *cur.Current
	}
	writeJSON(c, http.StatusOK, success{
		StatusCode: http.StatusOK,
		Status:     http.StatusText(http.StatusOK),
		Data:       items,
		Meta:       &meta{ItemsOnPage: n, Cursors: cur},
		Links:      &links{Previous: link(cur.Previous), Current: s.pageURL(c, current), Next: link(cur.Next)},
	})
}

// pageURL is this list's URL with the cursor replaced.
func (s *Service) pageURL(c *gin.Context, cursor string) string {
	q := c.Request.URL.Query()
	q.Del("cursor")
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	u := url.URL{Path: c.Request.URL.Path, RawQuery: q.Encode()}
	return s.base(c) + u.String()
}

// base is the public URL or the scheme and host of the request.
func (s *Service) base(c *gin.Context) string {
	if s.publicURL != "" {
		return s.publicURL
	}
	scheme := "http"
	if c.Request.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + c.Request.Host
}

// pageQuery copies cursor and limit for a list of the hub's own API.
func pageQuery(c *gin.Context) url.Values {
	q := url.Values{}
	for _, k := range []string{"cursor", "limit"} {
		if v, ok := c.GetQuery(k); ok {
			q.Set(k, v)
		}
	}
	return q
}
