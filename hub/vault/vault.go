// Package vault serves the connector catalogue (GET /connector/connectors)
// and the consumers' provider connections (/vault/connections): a
// connection's settings and credentials are validated against the JSON
// Schemas its connector describes, its inbound webhook URL is registered at
// the provider through the connector's Subscribe (and removed through
// Unsubscribe on delete), and it is stored with its credentials sealed and its
// inbound token hashed.
//
// Nothing is half-made: a connection is stored only after the provider
// accepted the registration, and a registration whose connection could not
// be stored is undone. Credentials never appear in a response or a log line;
// a signing secret the hub generates is shown once, in the answer that made
// it.
//
// The routes are mounted on the API through api.Config.Routes, so they share
// its authentication, envelopes and error shape.
package vault

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/switchboardhq/switchboard/hub/api"
	"github.com/switchboardhq/switchboard/hub/apikey"
	"github.com/switchboardhq/switchboard/hub/poll"
	"github.com/switchboardhq/switchboard/hub/store"
	"github.com/switchboardhq/switchboard/plugins"
)

// Connector statuses as the catalogue shows them. The plugin manager may
// report others (starting, stopped); they are shown as given.
const (
	StatusRunning    = "running"
	StatusRestarting = "restarting"
	StatusFailed     = "failed"
)

// Info is what the vault needs to know about one loaded connector.
type Info struct {
	// ID is the service id the connector was launched under (dversum).
	ID string
	// Status is the connector process's state: running, restarting, failed.
	Status string
	// Description is the connector's self-description cached at its last
	// start; nil when it has never started, and then connections to it can
	// be neither validated nor created.
	Description *plugins.Description
}

// Connectors is the vault's view of the plugin manager: which connectors are
// loaded and the two calls that register and remove a connection's inbound
// URL at the provider. It is owned here so the vault depends on what it uses,
// not on how plugins are run; the hub adapts its plugin manager to it.
//
// Subscribe and Unsubscribe return the connector's errors as the SDK defines
// them: a *plugins.ProviderError when the provider refused, an error matching
// plugins.ErrUnavailable (ideally a *plugins.UnavailableError with a
// Retry-After hint) when the connector is down.
type Connectors interface {
	// List returns every loaded connector, running or not.
	List() []Info
	// Get returns one connector; false when no connector has that id.
	Get(serviceID string) (Info, bool)
	Subscribe(ctx context.Context, serviceID string, req *plugins.SubscribeRequest) (*plugins.SubscribeResult, error)
	Unsubscribe(ctx context.Context, serviceID string, req *plugins.UnsubscribeRequest) error
}

// ConsumerHeader names the consumer a /vault request of an unbound key acts
// for. Every connection belongs to exactly one consumer and is invisible to
// others.
const ConsumerHeader = api.ConsumerHeader

// DefaultCallTimeout bounds one Subscribe or Unsubscribe, including the
// store write that follows it, when Config.CallTimeout is zero.
const DefaultCallTimeout = 60 * time.Second

// Store is the part of the hub's store the vault uses; store.Store
// satisfies it. Every call is scoped to the request's consumer.
type Store interface {
	CreateConnection(ctx context.Context, sc store.Scope, c *store.Connection) error
	GetConnection(ctx context.Context, sc store.Scope, id string) (*store.Connection, error)
	ListConnections(ctx context.Context, sc store.Scope, p store.Page) ([]*store.Connection, error)
	UpdateConnection(ctx context.Context, sc store.Scope, c *store.Connection) error
	DeleteConnection(ctx context.Context, sc store.Scope, id string) error
	GetPollState(ctx context.Context, sc store.Scope, id string) (*store.PollState, error)
}

// Config wires the vault to the rest of the hub. Store and Connectors are
// required.
type Config struct {
	// Store persists connections; store.Store satisfies it.
	Store Store
	// NoConnectionEvents turns off what a Store that can publish events
	// (store.Store can) otherwise gets: every connection created, changed
	// or deleted through the vault is published as a vault.connection.*
	// event (WithConnectionEvents).
	NoConnectionEvents bool
	// Connectors are the loaded connector plugins.
	Connectors Connectors
	// PublicURL is the hub's external base URL; connections' webhook_url is
	// PublicURL + "/webhook/inbound/<service_id>/<token>". Empty: the scheme
	// and host the API request came to, which only suits local setups.
	PublicURL string
	// Logger receives one line per connection created, changed or deleted
	// and per failed undo; never a credential. Nil discards.
	Logger *slog.Logger
	// Now is the clock (tests); nil: time.Now.
	Now func() time.Time
	// Coverage, when set, adds mapping_coverage to each catalogue entry:
	// what the service's mapping file turns its native events into. A nil
	// result leaves the field out.
	Coverage func(serviceID string) any
	// CallTimeout bounds a provider registration or removal together with
	// the store write after it (default DefaultCallTimeout). Those run to
	// completion even when the client disconnects, so a provider never
	// keeps a registration the hub forgot.
	CallTimeout time.Duration
	// Poller, when set, runs POST /vault/connections/{id}/poll (virtual
	// webhooks); without it that route answers 503.
	Poller Poller
}

// Poller runs one poll of a connection now (hub/poll.Service).
type Poller interface {
	PollOnce(ctx context.Context, conn *store.Connection) (*poll.Result, error)
}

// Service serves the catalogue and the vault connections.
type Service struct {
	store      Store
	connectors Connectors
	publicURL  string
	log        *slog.Logger
	now        func() time.Time
	coverage   func(string) any
	timeout    time.Duration
	poller     Poller

	mu      sync.Mutex
	schemas map[string]*compiled // by service id + kind
}

// New builds the service. It panics when Store or Connectors is nil: that is
// a wiring mistake, not a runtime condition.
func New(cfg Config) *Service {
	if cfg.Store == nil || cfg.Connectors == nil {
		panic("vault: Config.Store and Config.Connectors are required")
	}
	s := &Service{
		store:      cfg.Store,
		connectors: cfg.Connectors,
		publicURL:  strings.TrimRight(cfg.PublicURL, "/"),
		log:        cfg.Logger,
		now:        cfg.Now,
		coverage:   cfg.Coverage,
		timeout:    cfg.CallTimeout,
		poller:     cfg.Poller,
		schemas:    map[string]*compiled{},
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.timeout <= 0 {
		s.timeout = DefaultCallTimeout
	}
	if pub, ok := cfg.Store.(Publisher); ok && !cfg.NoConnectionEvents {
		// Every change made through the vault (our routes, the /apideck
		// edge that runs them, token rotation) is a vault.connection.*
		// event of the connection's consumer.
		s.store = WithConnectionEvents(cfg.Store, EventsConfig{
			Publisher: pub, PublicURL: s.publicURL, UnifiedAPI: s.unifiedAPIOf, Logger: s.log, Now: s.now,
		})
	}
	return s
}

// unifiedAPIOf is the first unified API a loaded connector's events feed,
// or "" when the connector is unknown or has never described itself.
func (s *Service) unifiedAPIOf(serviceID string) string {
	if info, ok := s.connectors.Get(serviceID); ok && info.Description != nil && len(info.Description.UnifiedAPIs) > 0 {
		return info.Description.UnifiedAPIs[0]
	}
	return ""
}

// Routes returns the catalogue and vault routes for api.Config.Routes.
// Reading needs webhooks:read; creating, changing and deleting connections
// needs connections:write, because those calls hand credentials to
// providers.
func (s *Service) Routes() []api.Route {
	read, write := apikey.ScopeWebhooksRead, apikey.ScopeConnectionsWrite
	return []api.Route{
		{Method: http.MethodGet, Path: "/connector/connectors", Scope: read, Tenancy: api.Shared, Handler: s.listConnectors},
		{Method: http.MethodGet, Path: "/connector/connectors/:id", Scope: read, Tenancy: api.Shared, Handler: s.getConnector},
		{Method: http.MethodPost, Path: "/vault/connections", Scope: write, Tenancy: api.Scoped, Handler: s.createConnection},
		{Method: http.MethodGet, Path: "/vault/connections", Scope: read, Tenancy: api.Scoped, Handler: s.listConnections},
		{Method: http.MethodGet, Path: "/vault/connections/:id", Scope: read, Tenancy: api.Scoped, Handler: s.getConnection},
		{Method: http.MethodPatch, Path: "/vault/connections/:id", Scope: write, Tenancy: api.Scoped, Handler: s.updateConnection},
		{Method: http.MethodDelete, Path: "/vault/connections/:id", Scope: write, Tenancy: api.Scoped, Handler: s.deleteConnection},
		{Method: http.MethodPost, Path: "/vault/connections/:id/rotate-token", Scope: write, Tenancy: api.Scoped, Handler: s.rotateToken},
		{Method: http.MethodPost, Path: "/vault/connections/:id/poll", Scope: write, Tenancy: api.Scoped, Handler: s.pollNow},
	}
}

// callContext detaches a provider call from the client's request: once a
// registration starts, it and the store write after it finish (or are
// undone) even if the client goes away.
func (s *Service) callContext(c *gin.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(c.Request.Context()), s.timeout)
}

// baseURL is the configured public URL or, without one, the scheme and host
// the request came to.
func (s *Service) baseURL(c *gin.Context) string {
	if s.publicURL != "" {
		return s.publicURL
	}
	scheme := "http"
	if c.Request.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + c.Request.Host
}

// formatTime renders times as the rest of the API does: UTC RFC 3339.
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
