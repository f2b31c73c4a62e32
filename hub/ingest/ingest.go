// Package ingest turns provider webhooks into stored unified events.
//
// An inbound request to /webhook/inbound/{service_id}/{token} is matched to
// its connection by the SHA-256 of the token, handed to the connector plugin
// (which verifies the signature and splits it into native events), mapped
// with the service's mapping file and stored with its deliveries in one
// transaction per event. The provider gets a 2xx only after every event of
// its request is committed: any failure before that answers 4xx or 5xx, so
// nothing acknowledged is ever lost and a provider retry is stored once
// (events are deduplicated per connection on the provider's idempotency key;
// a provider is never answered 409). Signed events must fall inside the
// replay window (checkEventTime), and text that the stores cannot hold is
// repaired the same way on both (text.go).
package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/switchboardhq/switchboard/hub/api"
	"github.com/switchboardhq/switchboard/hub/apikey"
	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/mapping"
	"github.com/switchboardhq/switchboard/hub/metric"
	"github.com/switchboardhq/switchboard/hub/store"
	"github.com/switchboardhq/switchboard/plugins"
)

// Connectors is what ingest needs of the plugin manager.
type Connectors interface {
	HandleInbound(ctx context.Context, serviceID string, req *plugins.InboundRequest) (*plugins.InboundResult, error)
}

// Store is what ingest needs of the store.
type Store interface {
	ConnectionByToken(ctx context.Context, serviceID string, tokenHash []byte) (*store.Connection, error)
	PublishEvent(ctx context.Context, sc store.Scope, ev *event.Event) (*store.PublishResult, error)
}

// Config wires the ingest service.
type Config struct {
	Store      Store
	Connectors Connectors
	// Mappings returns the mapping set in force; it changes on hot reload.
	Mappings func() *mapping.Set
	// MappingStatus reports each mapping file's load state (optional).
	MappingStatus func() []mapping.FileStatus
	// SaveMapping writes one service's mapping file and reloads (the
	// registry's Save, or ErrMappingsShared); nil: saving is refused as on
	// built-in mappings.
	SaveMapping func(serviceID string, data []byte) (mapping.FileStatus, error)
	// ReadMapping returns one service's mapping file and its name (the
	// registry's Read); nil: GET /mapping/mappings/{service_id} finds none.
	ReadMapping func(serviceID string) (file string, data []byte, err error)
	// PublicURL is the base of entity_url.
	PublicURL string
	Logger    *slog.Logger
	Metrics   *metric.Metrics
	// InboundTimeout bounds the connector call (default 10s).
	InboundTimeout time.Duration
	// ReplayWindow is how old a signed provider event may be (the hub's
	// --retention; default DefaultReplayWindow). See checkEventTime.
	ReplayWindow time.Duration
	// Now is the clock (tests); nil: time.Now.
	Now func() time.Time
}

// Service handles inbound webhooks and mapping previews.
type Service struct {
	cfg Config
	log *slog.Logger
}

// New returns the ingest service; mount its Routes on the API.
func New(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.InboundTimeout == 0 {
		cfg.InboundTimeout = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ReplayWindow <= 0 {
		cfg.ReplayWindow = DefaultReplayWindow
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metric.New()
	}
	return &Service{cfg: cfg, log: cfg.Logger}
}

// Routes are the ingest routes: the public inbound endpoint and the mapping
// tools.
func (s *Service) Routes() []api.Route {
	return []api.Route{
		{Method: http.MethodPost, Path: "/webhook/inbound/:service_id/:token", Tenancy: api.Public, Handler: s.inbound},
		// Providers verify an endpoint with a GET challenge (a query
		// parameter to echo) before they post to it; the connector answers
		// it with a DirectResponse.
		{Method: http.MethodGet, Path: "/webhook/inbound/:service_id/:token", Tenancy: api.Public, Handler: s.inbound},
		{Method: http.MethodPost, Path: "/mapping/preview", Scope: "webhooks:read", Tenancy: api.Shared, Handler: s.preview},
		{Method: http.MethodGet, Path: "/mapping/mappings", Scope: "webhooks:read", Tenancy: api.Shared, Handler: s.mappingStatus},
		{Method: http.MethodPost, Path: "/mapping/validate", Scope: "webhooks:read", Tenancy: api.Shared, Handler: s.validate},
		{Method: http.MethodPut, Path: "/mapping/mappings/:service_id", Scope: apikey.ScopeAdmin, Tenancy: api.Application, Handler: s.saveMapping},
		{Method: http.MethodGet, Path: "/mapping/mappings/:service_id", Scope: "webhooks:read", Tenancy: api.Shared, Handler: s.readMapping},
	}
}

// DefaultReplayWindow is the replay window when Config.ReplayWindow is
// zero: the default retention (api.md, Operations: --retention 720h).
const DefaultReplayWindow = 720 * time.Hour

// MaxFutureSkew is how far in the future a signed provider event's time may
// lie: providers' clocks drift a little, never by hours.
const MaxFutureSkew = 5 * time.Minute

// retryAfterUnavailable is what a provider is told to wait while its
// connector restarts: restarts take well under a second, providers' own
// retry schedules are coarser anyway.
const retryAfterUnavailable = 5

// inboundEvent is one stored event in the inbound response.
type inboundEvent struct {
	ID        string `json:"id"`
	EventType string `json:"event_type"`
	Duplicate bool   `json:"duplicate"`
}

func (s *Service) inbound(c *gin.Context) {
	serviceID := c.Param("service_id")
	started := s.cfg.Now()
	// The metric is labelled with the service id only once a connection
	// vouches for it: the URL is anyone's to make up, and an arbitrary label
	// value would grow the metric without bound (or fail as invalid UTF-8).
	label := "unknown"
	reject := func(reason string, err error) {
		s.cfg.Metrics.InboundRequests.WithLabelValues(label, reason).Inc()
		api.WriteError(c, err)
	}

	sum := sha256.Sum256([]byte(c.Param("token")))
	conn, err := s.cfg.Store.ConnectionByToken(c.Request.Context(), serviceID, sum[:])
	switch {
	case errors.Is(err, store.ErrNotFound):
		reject("unknown_token", &api.Error{Status: http.StatusNotFound, TypeName: api.TypeEntityNotFound,
			Message: "no connection has this inbound URL (unknown service or token)"})
		return
	case err != nil:
		reject("error", err)
		return
	}
	label = conn.ServiceID
	if conn.Status != store.ConnectionActive {
		reject("connection_disabled", &api.Error{Status: http.StatusNotFound, TypeName: api.TypeEntityNotFound,
			Message: "the connection of this inbound URL is disabled"})
		return
	}

	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			reject("too_large", err)
			return
		}
		reject("unreadable", api.BadRequest("", "reading request body: "+err.Error()))
		return
	}

	ctx, cancel := context.WithTimeout(c.Request.Context(), s.cfg.InboundTimeout)
	defer cancel()
	res, err := s.cfg.Connectors.HandleInbound(ctx, serviceID, &plugins.InboundRequest{
		Method:  c.Request.Method,
		Path:    c.Request.URL.Path,
		Headers: c.Request.Header.Clone(),
		Query:   c.Request.URL.Query(),
		Body:    body,
		Connection: plugins.Connection{
			ID: conn.ID, ConsumerID: conn.ConsumerID, Settings: conn.Settings, Credentials: conn.Credentials,
		},
	})
	if err != nil {
		reason, apiErr := connectorError(serviceID, err)
		if apiErr.Status == http.StatusServiceUnavailable {
			c.Header("Retry-After", strconv.Itoa(retryAfter(err)))
		}
		reject(reason, apiErr)
		return
	}

	signed := conn.Credentials[plugins.CredentialSigningSecret] != ""
	if signed {
		// Check every event's time before storing any, so a refused
		// request stores nothing.
		for i, nev := range res.Events {
			if reason, err := s.checkEventTime(nev.OccurredAt); err != nil {
				reject(reason, api.BadRequest("timestamp", fmt.Sprintf("event %d of the request: %v", i, err)))
				return
			}
		}
	}

	stored := make([]inboundEvent, 0, len(res.Events))
	for i, nev := range res.Events {
		ev, err := s.Unify(serviceID, conn, nev, event.SourceNative, c.Request.Header, c.Request.URL.Query())
		if err != nil {
			reject("unmappable", api.BadRequest("body", fmt.Sprintf("event %d of the request: %v", i, err)))
			return
		}
		// The URL token is the provider's credential for this one
		// connection: its events are its consumer's, nobody else's.
		pub, err := s.cfg.Store.PublishEvent(c.Request.Context(), store.Consumer(conn.ConsumerID), ev)
		var conflict *store.IdempotencyConflictError
		if errors.As(err, &conflict) {
			// The provider sent another payload under a key it used
			// before. A 409 would be retried forever (or get the webhook
			// disabled at the provider) and could not be fixed by anyone,
			// so the first stored version stands and the request is
			// acknowledged as a duplicate. With dVersum this cannot
			// happen (its key is the hash of the signed body); for a
			// provider whose key is its event id it means a changed
			// redelivery, which is logged for the operator.
			s.log.Warn("provider reused an idempotency key for a different payload; the first event stands",
				"service_id", serviceID, "connection_id", conn.ID, "event_id", conflict.First.ID)
			pub, err = &store.PublishResult{Event: conflict.First, Duplicate: true}, nil
		}
		if err != nil {
			// Nothing of this event is stored; events before it are, and
			// the provider's retry finds them deduplicated.
			reject("store_error", err)
			return
		}
		s.cfg.Metrics.EventsPublished.WithLabelValues(event.SourceNative, strconv.FormatBool(pub.Duplicate)).Inc()
		stored = append(stored, inboundEvent{ID: pub.Event.ID, EventType: pub.Event.EventType, Duplicate: pub.Duplicate})
	}
	s.cfg.Metrics.InboundRequests.WithLabelValues(label, "accepted").Inc()
	s.log.Debug("inbound webhook stored", "service_id", serviceID, "connection_id", conn.ID,
		"events", len(stored), "duration", s.cfg.Now().Sub(started))

	if r := res.Response; r != nil {
		s.direct(c, serviceID, r)
		return
	}
	api.Respond(c, http.StatusAccepted, gin.H{"events": stored})
}

// DirectHeaders are the only headers a connector's DirectResponse may set.
// The answer goes out from the hub's own origin, so a plugin must not set
// cookies, redirect (Location), relax CORS or the console's CSP, or
// otherwise speak for the hub; a challenge needs a content type and at
// most a token echoed in a header (X-Hook-Secret is Asana's handshake).
var DirectHeaders = []string{"Content-Type", "Cache-Control", "Retry-After", "X-Hook-Secret"}

// direct sends a connector's DirectResponse: its status (200 when unset;
// one outside 200-599 is the connector's error), the allowed headers and
// its body. Headers outside DirectHeaders are dropped and logged by name.
func (s *Service) direct(c *gin.Context, serviceID string, r *plugins.DirectResponse) {
	status := r.Status
	if status == 0 {
		status = http.StatusOK
	}
	if status < 200 || status > 599 {
		api.WriteError(c, &api.Error{Status: http.StatusBadGateway, TypeName: typeConnectorExecution,
			Message: fmt.Sprintf("the %s connector answered with an invalid status %d", serviceID, r.Status)})
		return
	}
	var dropped []string
	for k, vs := range r.Headers {
		name := http.CanonicalHeaderKey(k)
		if !slices.Contains(DirectHeaders, name) {
			dropped = append(dropped, name)
			continue
		}
		for _, v := range vs {
			c.Writer.Header().Add(name, v)
		}
	}
	// A challenge often echoes a query parameter: whatever content type the
	// connector chose, a browser must not run it as a page of the hub's
	// origin (where the console lives).
	c.Writer.Header().Set("X-Content-Type-Options", "nosniff")
	c.Writer.Header().Set("Content-Security-Policy", "default-src 'none'; sandbox")
	if len(dropped) > 0 {
		slices.Sort(dropped)
		s.log.Warn("connector's direct response set headers that are not allowed; dropped",
			"service_id", serviceID, "headers", dropped, "allowed", DirectHeaders)
	}
	c.Data(status, c.Writer.Header().Get("Content-Type"), r.Body)
}

// checkEventTime refuses a signed event whose provider time lies outside
// the replay window. Deduplication only remembers what is stored, and
// stored events are purged after the retention period; a captured signed
// body resent after that would otherwise be a new event. So a signed body
// must be younger than the window (minus MaxFutureSkew: an event dated up
// to that far ahead may be stored for that much longer than its time
// suggests) and not more than MaxFutureSkew ahead of this hub's clock.
// Events without a time are left to the connector: dVersum's requires one.
func (s *Service) checkEventTime(at time.Time) (reason string, _ error) {
	if at.IsZero() {
		return "", nil
	}
	now := s.cfg.Now()
	if at.After(now.Add(MaxFutureSkew)) {
		return "future_timestamp", fmt.Errorf("the signed timestamp %s is more than %s ahead of the hub's clock (%s); check the sender's clock",
			at.UTC().Format(time.RFC3339), MaxFutureSkew, now.UTC().Format(time.RFC3339))
	}
	if oldest := now.Add(-s.cfg.ReplayWindow + MaxFutureSkew); at.Before(oldest) {
		return "stale_timestamp", fmt.Errorf("the signed timestamp %s is older than the hub's replay window (%s, the --retention period): "+
			"it cannot be told apart from a replay of an event the hub no longer remembers", at.UTC().Format(time.RFC3339), s.cfg.ReplayWindow)
	}
	return "", nil
}

// clean repairs a native event's text so both stores can hold it (text.go).
func clean(nev plugins.NativeEvent) plugins.NativeEvent {
	nev.Type = cleanString(nev.Type)
	nev.Payload = cleanJSON(nev.Payload)
	nev.IdempotencyKey = cleanKey(nev.IdempotencyKey)
	return nev
}

// Unify maps one native event of connection conn and builds the unified
// event to store: the one code path after the connector for pushed events
// (source event.SourceNative, with the request's header and query) and
// polled ones (event.SourceVirtual, hub/poll, no request). The event's
// dedupe key is the connection's and the native idempotency key, so a
// pushed change and its polled copy with the same key are stored once.
func (s *Service) Unify(serviceID string, conn *store.Connection, nev plugins.NativeEvent, source string, header http.Header, query url.Values) (*event.Event, error) {
	nev = clean(nev)
	res, err := s.cfg.Mappings().Apply(serviceID, mapping.Input{
		NativeType: nev.Type, Body: nev.Payload, Header: header, Query: query, OccurredAt: nev.OccurredAt,
	})
	if err != nil {
		return nil, err
	}
	if len(res.Warnings) > 0 {
		s.log.Warn("mapping warnings", "service_id", serviceID, "native_event", res.DownstreamEventType, "warnings", res.Warnings)
	}
	occurred := res.OccurredAt
	if occurred.IsZero() {
		occurred = s.cfg.Now()
	}
	sum := sha256.Sum256(nev.Payload)
	ev := &event.Event{
		ID:                  store.NewID(),
		EventType:           res.EventType,
		BaseEventType:       res.BaseEventType,
		UnifiedAPI:          res.UnifiedAPI,
		ServiceID:           serviceID,
		ConsumerID:          conn.ConsumerID,
		ConnectionID:        conn.ID,
		EntityID:            res.EntityID,
		EntityType:          res.EntityType,
		EntityURL:           entityURL(s.cfg.PublicURL, res),
		DownstreamEventType: res.DownstreamEventType,
		EventSource:         source,
		OccurredAt:          occurred.UTC(),
		CreatedAt:           store.Now(),
		Entity:              res.Entity,
		RequestHash:         hex.EncodeToString(sum[:]),
	}
	// Headers and query parameters reach the mapping unrepaired (a %00 in
	// the query decodes to NUL), so what the mapping made is repaired too.
	for _, f := range []*string{&ev.EventType, &ev.BaseEventType, &ev.UnifiedAPI, &ev.EntityID, &ev.EntityType,
		&ev.EntityURL, &ev.DownstreamEventType} {
		*f = cleanString(*f)
	}
	ev.Entity = cleanJSON(ev.Entity)
	if n := utf8.RuneCountInString(ev.EventType); n > api.MaxEventTypeLength {
		return nil, fmt.Errorf("event type is %d characters long, more than the %d an event type may have", n, api.MaxEventTypeLength)
	}
	if nev.IdempotencyKey != "" {
		// Connection ids are fixed-length generated ids without a colon,
		// so this key is unambiguous (unlike the API's, see apiDedupeKey).
		ev.DedupeKey = "conn:" + conn.ID + ":" + nev.IdempotencyKey
	}
	return ev, nil
}

// entityURL links a mapped entity into the unified API; a pass-through
// event's entity has no unified resource to link to.
func entityURL(publicURL string, res mapping.Result) string {
	if !res.Mapped {
		return ""
	}
	return event.EntityURL(publicURL, res.UnifiedAPI, res.EntityType, res.EntityID)
}

// connectorError maps what a connector call returned to the provider's
// answer: 401 for a bad signature, 400 for a malformed request, 503 while
// the connector is down (providers retry), 502 otherwise.
func connectorError(serviceID string, err error) (reason string, _ *api.Error) {
	var malformed *plugins.MalformedError
	switch {
	case errors.Is(err, plugins.ErrBadSignature):
		return "bad_signature", &api.Error{Status: http.StatusUnauthorized, TypeName: api.TypeUnauthorized,
			Message: "the webhook signature is missing or does not match the connection's signing secret", Err: err}
	case errors.As(err, &malformed):
		return "malformed", &api.Error{Status: http.StatusBadRequest, TypeName: api.TypeRequestValidation,
			Message: "malformed webhook: " + malformed.Reason, Err: err}
	case errors.Is(err, plugins.ErrMalformed):
		return "malformed", &api.Error{Status: http.StatusBadRequest, TypeName: api.TypeRequestValidation,
			Message: "malformed webhook", Err: err}
	case errors.Is(err, plugins.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return "connector_unavailable", &api.Error{Status: http.StatusServiceUnavailable, TypeName: api.TypeServiceUnavailable,
			Message: fmt.Sprintf("the %s connector is not available right now; retry later", serviceID), Err: err}
	default:
		return "connector_error", &api.Error{Status: http.StatusBadGateway, TypeName: typeConnectorExecution,
			Message: fmt.Sprintf("the %s connector failed to handle the webhook", serviceID), Err: err}
	}
}

func retryAfter(err error) int {
	var u *plugins.UnavailableError
	if errors.As(err, &u) {
		if s := u.RetryAfterSeconds(); s > 0 {
			return s
		}
	}
	return retryAfterUnavailable
}
