// Package api is the hub's REST API: a Gin router with Apideck-shaped
// envelopes and errors, bearer API keys with scopes, and the webhook
// subscription, event and delivery log resources.
//
// Every response, success or error, has one shape, and every error passes
// through one function (toError) that maps it to a status and type name. Routes
// owned by other packages (connectors, vault connections, inbound provider
// webhooks) are mounted through Config.Routes so they share the middleware,
// authentication and error shape.
package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/switchboardhq/switchboard/hub/apikey"
	"github.com/switchboardhq/switchboard/hub/delivery"
	"github.com/switchboardhq/switchboard/hub/mapping"
	"github.com/switchboardhq/switchboard/hub/metric"
	"github.com/switchboardhq/switchboard/hub/store"
)

// Defaults for zero Config fields.
const (
	DefaultMaxBodyBytes      = 1 << 20
	DefaultSecretGracePeriod = 24 * time.Hour
	// DefaultMinRetryDelay is the shortest wait a subscription's
	// retry_schedule may ask for.
	DefaultMinRetryDelay = time.Second
	// DefaultMaxSubscriptionsPerConsumer caps one consumer's subscriptions
	// (application-wide ones, without a consumer, count as one consumer).
	DefaultMaxSubscriptionsPerConsumer = 100
	// DefaultMaxSubscriptions caps the hub's subscriptions.
	DefaultMaxSubscriptions = 10000
)

// Config wires the API to the rest of the hub. Store is required; every
// other field has a default.
type Config struct {
	Store   store.Store
	Logger  *slog.Logger    // nil: discard
	Metrics *metric.Metrics // nil: a private registry
	// PublicURL is the hub's external base URL (https://hub.example.com):
	// the base of pagination links and event entity_url values. Empty: links
	// use the request's host.
	PublicURL string
	// BootstrapKey is SWITCHBOARD_API_KEY: a key with every scope that is
	// never stored. Empty: only stored keys work.
	BootstrapKey string
	// MaxBodyBytes caps request bodies (default 1 MiB); larger ones get 413.
	MaxBodyBytes int64
	// Ready reports whether the hub can serve (database up, queue started);
	// /readyz answers 503 with its error. Nil: Store.Ping.
	Ready func(ctx context.Context) error
	// Connectors, when set, lists the connectors' states for the /readyz
	// body. They never make the hub unready: one broken plugin must not
	// take every other provider's webhooks and the whole API out of a
	// load balancer.
	Connectors func() []ConnectorHealth
	// MinRetryDelay is the shortest wait a subscription's retry_schedule
	// may ask for. Zero: DefaultMinRetryDelay; negative: no floor.
	MinRetryDelay time.Duration
	// MaxEventsPerSubscription caps a subscription's events list. Zero:
	// DefaultMaxEventsPerSubscription.
	MaxEventsPerSubscription int
	// MaxSubscriptionsPerConsumer and MaxSubscriptions cap how many
	// subscriptions one consumer and the whole hub may have. Zero: the
	// defaults.
	MaxSubscriptionsPerConsumer int
	MaxSubscriptions            int
	// MaxRecoveryEvents caps the events one recovery delivers again; a
	// larger range is a 422. Zero, or more than store.MaxRecoveryEvents
	// (which the store enforces too): store.MaxRecoveryEvents.
	MaxRecoveryEvents int
	// Version is reported by /healthz.
	Version string
	// DefaultRetrySchedule is the hub's retry schedule (seconds between
	// tries), shown as a subscription's retry_schedule when it has none of
	// its own.
	DefaultRetrySchedule []int
	// SecretGracePeriod is how long a rotated-out secret keeps signing
	// (default 24h), so subscribers can switch without dropping deliveries.
	SecretGracePeriod time.Duration
	// ValidateURL checks a delivery_url when a subscription is created or
	// changed. Nil: delivery.ValidateURL.
	ValidateURL func(raw string) error
	// Routes are extra routes owned by other packages, mounted with the same
	// middleware. Use WriteError, Respond and DecodeJSON in their handlers.
	Routes []Route
	// Now is the clock (tests); nil: time.Now.
	Now func() time.Time
	// Mappings returns the active mapping set: its services'
	// <service_id>.<native> pass-throughs are valid event names, and its
	// coverage is what GET /webhook/event-types reports per connector.
	// Nil: no pass-throughs, no coverage.
	Mappings func() *mapping.Set
	// Fallbacks answer requests that match no route under their Prefix,
	// after authenticating them with Scope (Apideck's catch-all 501 under
	// /apideck/). Nil: every unknown route is a 404.
	Fallbacks []Fallback
	// ErrorRefs adds a ref (the base URL plus the lower-cased type name) to
	// every error answered under a path prefix, for routes in Apideck's
	// error shape: {"/apideck/": "https://developers.apideck.com/errors#"}.
	ErrorRefs map[string]string
}

// Fallback answers, after authentication, the requests under Prefix that
// match no route.
type Fallback struct {
	Prefix  string
	Scope   string
	Handler gin.HandlerFunc
}

// ctxErrorRef is the Gin context key of the ref base of errors (ErrorRefs).
const ctxErrorRef = "switchboard.error_ref"

// Route is one route of the API, the hub's own or mounted by another
// package. Scope is the credential scope it needs (see package apikey) and
// Tenancy how it treats consumers; both are required, except that Public
// routes take no credential and so no scope.
type Route struct {
	Method  string
	Path    string // Gin syntax: /vault/connections/:id
	Scope   string
	Tenancy Tenancy
	Handler gin.HandlerFunc
}

// server holds what the handlers need.
type server struct {
	store       store.Store
	log         *slog.Logger
	metrics     *metric.Metrics
	publicURL   string
	retry       []int
	grace       time.Duration
	validateURL func(string) error
	bootstrap   *store.APIKey // SWITCHBOARD_API_KEY, nil when not set
	authn       *authenticator
	ready       func(context.Context) error
	connectors  func() []ConnectorHealth
	version     string
	now         func() time.Time
	mappings    func() *mapping.Set
	registered  registeredCache // application event types, for views

	minRetryDelay      time.Duration
	maxEvents          int
	maxSubsPerConsumer int
	maxSubs            int
	maxRecovery        int
}

var setModeOnce sync.Once

// New builds the API handler.
func New(cfg Config) (http.Handler, error) {
	r, _, err := build(cfg)
	return r, err
}

// Inspect builds the router as New does and returns the routes it serves
// next to every route's declaration (by "METHOD path"), for a test that
// walks the router and for documentation.
func Inspect(cfg Config) (served gin.RoutesInfo, declared map[string]Route, err error) {
	r, declared, err := build(cfg)
	if err != nil {
		return nil, nil, err
	}
	return r.Routes(), declared, nil
}

// build builds the router and returns with it every route's declaration,
// by "METHOD path".
func build(cfg Config) (*gin.Engine, map[string]Route, error) {
	if cfg.Store == nil {
		return nil, nil, errors.New("api: Config.Store is required")
	}
	setModeOnce.Do(func() { gin.SetMode(gin.ReleaseMode) })

	s := &server{
		store:       cfg.Store,
		log:         cfg.Logger,
		metrics:     cfg.Metrics,
		publicURL:   cfg.PublicURL,
		retry:       cfg.DefaultRetrySchedule,
		grace:       cfg.SecretGracePeriod,
		validateURL: cfg.ValidateURL,
		ready:       cfg.Ready,
		connectors:  cfg.Connectors,
		version:     cfg.Version,
		now:         cfg.Now,
		mappings:    cfg.Mappings,

		minRetryDelay:      cfg.MinRetryDelay,
		maxEvents:          cfg.MaxEventsPerSubscription,
		maxSubsPerConsumer: cfg.MaxSubscriptionsPerConsumer,
		maxSubs:            cfg.MaxSubscriptions,
		maxRecovery:        cfg.MaxRecoveryEvents,
	}
	switch {
	case s.minRetryDelay == 0:
		s.minRetryDelay = DefaultMinRetryDelay
	case s.minRetryDelay < 0:
		s.minRetryDelay = 0
	}
	if s.maxEvents <= 0 {
		s.maxEvents = DefaultMaxEventsPerSubscription
	}
	if s.maxSubsPerConsumer <= 0 {
		s.maxSubsPerConsumer = DefaultMaxSubscriptionsPerConsumer
	}
	if s.maxSubs <= 0 {
		s.maxSubs = DefaultMaxSubscriptions
	}
	if s.maxRecovery <= 0 || s.maxRecovery > store.MaxRecoveryEvents {
		s.maxRecovery = store.MaxRecoveryEvents
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.metrics == nil {
		s.metrics = metric.New()
	}
	if s.grace <= 0 {
		s.grace = DefaultSecretGracePeriod
	}
	if s.validateURL == nil {
		s.validateURL = delivery.ValidateURL
	}
	if s.ready == nil {
		s.ready = cfg.Store.Ping
	}
	if s.now == nil {
		s.now = time.Now
	}
	maxBody := cfg.MaxBodyBytes
	if maxBody <= 0 {
		maxBody = DefaultMaxBodyBytes
	}
	authn := &authenticator{keys: cfg.Store, sessions: cfg.Store, now: s.now}
	if cfg.BootstrapKey != "" {
		authn.bootstrap = apikey.Bootstrap(cfg.BootstrapKey)
	}
	authn.bootstrapParent = bootstrapParent(authn.bootstrap)
	s.bootstrap = authn.bootstrap
	s.authn = authn

	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	// Route on the path as sent, so an escaped slash stays inside its
	// segment (an entity id of "../x" is one segment of an entity_url), and
	// hand handlers the unescaped parameter.
	r.UseRawPath = true
	r.UnescapePathValues = true
	if err := r.SetTrustedProxies(nil); err != nil {
		return nil, nil, err
	}
	r.Use(requestID(), observe(s.log, s.metrics), recovery(s.log), limitBody(maxBody), refuseUnstorableText())
	if len(cfg.ErrorRefs) > 0 {
		r.Use(func(c *gin.Context) {
			for prefix, base := range cfg.ErrorRefs {
				if strings.HasPrefix(c.Request.URL.Path, prefix) {
					c.Set(ctxErrorRef, base)
				}
			}
		})
	}
	r.NoRoute(func(c *gin.Context) {
		for _, fb := range cfg.Fallbacks {
			if strings.HasPrefix(c.Request.URL.Path, fb.Prefix) {
				authn.guard(fb.Scope, Shared)(c)
				if !c.IsAborted() {
					fb.Handler(c)
				}
				return
			}
		}
		WriteError(c, &Error{
			Status:   http.StatusNotFound,
			TypeName: TypeEntityNotFound,
			Message:  "no route " + c.Request.Method + " " + c.Request.URL.Path,
			Detail:   map[string]string{"path": c.Request.URL.Path},
		})
	})
	r.NoMethod(func(c *gin.Context) {
		WriteError(c, &Error{
			Status:   http.StatusMethodNotAllowed,
			TypeName: TypeMethodNotAllowed,
			Message:  "method " + c.Request.Method + " is not allowed on " + c.Request.URL.Path,
			Detail:   map[string]string{"allow": c.Writer.Header().Get("Allow")},
		})
	})

	routes := append(s.routes(), cfg.Routes...)
	declared := make(map[string]Route, len(routes))
	for _, rt := range routes {
		key := rt.Method + " " + rt.Path
		switch {
		case rt.Tenancy == tenancyUndeclared:
			return nil, nil, errors.New("api: route " + key + " declares no tenancy")
		case rt.Tenancy != Public && rt.Scope == "":
			return nil, nil, errors.New("api: route " + key + " declares no scope")
		case declared[key].Handler != nil:
			return nil, nil, errors.New("api: route " + key + " declared twice")
		}
		declared[key] = rt
		if rt.Tenancy == Public {
			r.Handle(rt.Method, rt.Path, rt.Handler)
			continue
		}
		r.Handle(rt.Method, rt.Path, authn.guard(rt.Scope, rt.Tenancy), rt.Handler)
	}
	return r, declared, nil
}

// routes are the API's own routes.
func (s *server) routes() []Route {
	read, write, publish := apikey.ScopeWebhooksRead, apikey.ScopeWebhooksWrite, apikey.ScopeEventsWrite
	admin, connections := apikey.ScopeAdmin, apikey.ScopeConnectionsWrite
	metrics := gin.WrapH(promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{}))
	return []Route{
		// Operations: no key, so probes and scrapers need no secret.
		{Method: http.MethodGet, Path: "/healthz", Tenancy: Public, Handler: s.healthz},
		{Method: http.MethodGet, Path: "/readyz", Tenancy: Public, Handler: s.readyz},
		{Method: http.MethodGet, Path: "/metrics", Tenancy: Public, Handler: metrics},
		{Method: http.MethodGet, Path: "/openapi.json", Tenancy: Public, Handler: serveOpenAPI},
		{Method: http.MethodGet, Path: "/asyncapi.json", Tenancy: Public, Handler: s.serveAsyncAPI},

		{Method: http.MethodPost, Path: "/webhook/webhooks", Scope: write, Tenancy: Scoped, Handler: s.createSubscription},
		{Method: http.MethodGet, Path: "/webhook/webhooks", Scope: read, Tenancy: Scoped, Handler: s.listSubscriptions},
		{Method: http.MethodGet, Path: "/webhook/webhooks/:id", Scope: read, Tenancy: Scoped, Handler: s.getSubscription},
		{Method: http.MethodPatch, Path: "/webhook/webhooks/:id", Scope: write, Tenancy: Scoped, Handler: s.updateSubscription},
		{Method: http.MethodDelete, Path: "/webhook/webhooks/:id", Scope: write, Tenancy: Scoped, Handler: s.deleteSubscription},
		{Method: http.MethodPost, Path: "/webhook/webhooks/:id/rotate-secret", Scope: write, Tenancy: Scoped, Handler: s.rotateSecret},
		{Method: http.MethodPost, Path: "/webhook/webhooks/:id/test", Scope: write, Tenancy: Scoped, Handler: s.testSubscription},
		// Recovery re-sends up to store.MaxRecoveryEvents deliveries to one
		// subscription: an act on the subscription, for whoever manages it,
		// not for a key that may only publish events (events:write).
		{Method: http.MethodPost, Path: "/webhook/webhooks/:id/recover", Scope: write, Tenancy: Scoped, Handler: s.recoverSubscription},
		{Method: http.MethodGet, Path: "/webhook/recoveries/:id", Scope: read, Tenancy: Scoped, Handler: s.getRecovery},

		{Method: http.MethodPost, Path: "/webhook/events", Scope: publish, Tenancy: Scoped, Handler: s.publishEvent},
		{Method: http.MethodGet, Path: "/webhook/events", Scope: read, Tenancy: Scoped, Handler: s.listEvents},
		{Method: http.MethodGet, Path: "/webhook/events/:id", Scope: read, Tenancy: Scoped, Handler: s.getEvent},
		{Method: http.MethodPost, Path: "/webhook/events/:id/replay", Scope: publish, Tenancy: Scoped, Handler: s.replayEvent},

		{Method: http.MethodGet, Path: "/webhook/logs", Scope: read, Tenancy: Scoped, Handler: s.listLogs},

		{Method: http.MethodDelete, Path: "/webhook/consumers/:consumer_id/data", Scope: admin, Tenancy: Application, Handler: s.eraseConsumerData},

		// An event's entity_url: the entity's newest stored state. Static
		// routes take precedence over this one.
		{Method: http.MethodGet, Path: "/:unified_api/:entity_plural/:id", Scope: read, Tenancy: Scoped, Handler: s.getEntity},

		{Method: http.MethodGet, Path: "/webhook/event-types", Scope: read, Tenancy: Shared, Handler: s.listEventTypes},
		{Method: http.MethodGet, Path: "/webhook/event-types/:event_type", Scope: read, Tenancy: Shared, Handler: s.getEventType},
		{Method: http.MethodPost, Path: "/webhook/event-types", Scope: admin, Tenancy: Application, Handler: s.registerEventType},

		{Method: http.MethodPost, Path: "/admin/api-keys", Scope: admin, Tenancy: Application, Handler: s.createKey},
		{Method: http.MethodGet, Path: "/admin/api-keys", Scope: admin, Tenancy: Application, Handler: s.listKeys},
		{Method: http.MethodDelete, Path: "/admin/api-keys/:id", Scope: admin, Tenancy: Application, Handler: s.revokeKey},
		{Method: http.MethodGet, Path: "/admin/overview", Scope: admin, Tenancy: Application, Handler: s.overview},

		{Method: http.MethodPost, Path: "/vault/sessions", Scope: connections, Tenancy: Scoped, Handler: s.createSession},
		{Method: http.MethodGet, Path: "/vault/sessions", Scope: read, Tenancy: Scoped, Handler: s.listSessions},
		{Method: http.MethodDelete, Path: "/vault/sessions/:id", Scope: connections, Tenancy: Scoped, Handler: s.revokeSession},

		{Method: http.MethodGet, Path: "/vault/consumers", Scope: read, Tenancy: Scoped, Handler: s.listConsumers},
	}
}
