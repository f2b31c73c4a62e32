package vault

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/store"
)

// The connection events (catalogue entries of unified API "vault"), as
// Apideck names them.
const (
	EventConnectionCreated  = "vault.connection.created"
	EventConnectionUpdated  = "vault.connection.updated"
	EventConnectionDeleted  = "vault.connection.deleted"
	EventConnectionCallable = "vault.connection.callable"
	EventConnectionDisabled = "vault.connection.disabled"
)

// Publisher stores an event and fans it out: store.Store's PublishEvent,
// the path every event takes (stored, delivered, logged, replayable).
type Publisher interface {
	PublishEvent(ctx context.Context, sc store.Scope, ev *event.Event) (*store.PublishResult, error)
}

// EventsConfig configures WithConnectionEvents.
type EventsConfig struct {
	// Publisher publishes the events; required.
	Publisher Publisher
	// PublicURL makes the events' entity_url
	// (<PublicURL>/vault/connections/<id>); empty leaves it out.
	PublicURL string
	// UnifiedAPI names the unified API a service's connection feeds, for
	// the entity's unified_api; nil or "" leaves it null.
	UnifiedAPI func(serviceID string) string
	// Logger receives a warning when an event could not be published.
	Logger *slog.Logger
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// WithConnectionEvents returns st with every connection change published as
// a vault.connection.* event to the connection's consumer, through the
// normal publish path: created (and callable, for an active connection) on
// create; updated on every update, plus disabled when it leaves active and
// callable when it returns to it; deleted on delete. Everything that
// changes connections through the returned Store (our /vault routes, the
// /apideck edge, token rotation) emits them; the events are published after
// the change is written, and a failed publish is logged, never undoing it.
func WithConnectionEvents(st Store, cfg EventsConfig) Store {
	if cfg.Publisher == nil {
		panic("vault: EventsConfig.Publisher is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	return &eventingStore{Store: st, cfg: cfg}
}

type eventingStore struct {
	Store
	cfg EventsConfig
}

func (s *eventingStore) CreateConnection(ctx context.Context, sc store.Scope, c *store.Connection) error {
	if err := s.Store.CreateConnection(ctx, sc, c); err != nil {
		return err
	}
	s.publish(ctx, c, EventConnectionCreated)
	if c.Status == store.ConnectionActive {
		s.publish(ctx, c, EventConnectionCallable)
	}
	return nil
}

func (s *eventingStore) UpdateConnection(ctx context.Context, sc store.Scope, c *store.Connection) error {
	before, err := s.Store.GetConnection(ctx, sc, c.ID)
	if err != nil {
		before = nil // the update reports the connection missing itself
	}
	if err := s.Store.UpdateConnection(ctx, sc, c); err != nil {
		return err
	}
	s.publish(ctx, c, EventConnectionUpdated)
	if before != nil && before.Status != c.Status {
		switch c.Status {
		case store.ConnectionDisabled:
			s.publish(ctx, c, EventConnectionDisabled)
		case store.ConnectionActive:
			s.publish(ctx, c, EventConnectionCallable)
		}
	}
	return nil
}

func (s *eventingStore) DeleteConnection(ctx context.Context, sc store.Scope, id string) error {
	c, err := s.Store.GetConnection(ctx, sc, id)
	if err != nil {
		return s.Store.DeleteConnection(ctx, sc, id) // its not-found, or the read's failure again
	}
	if err := s.Store.DeleteConnection(ctx, sc, id); err != nil {
		return err
	}
	s.publish(ctx, c, EventConnectionDeleted)
	return nil
}

// connectionEntity is the event's entity: the catalogue's connection schema
// (hub/event/catalog/schemas/connection.json), Apideck's Connection fields
// that have a meaning here. Credentials, settings and the inbound token are
// never part of it.
type connectionEntity struct {
	ID         string  `json:"id"`
	ConsumerID string  `json:"consumer_id"`
	ServiceID  string  `json:"service_id"`
	UnifiedAPI *string `json:"unified_api"`
	Status     string  `json:"status"`
	Enabled    bool    `json:"enabled"`
	State      string  `json:"state"`
	CreatedAt  string  `json:"created_at"`
	UpdatedAt  string  `json:"updated_at"`
}

// ConnectionEntity renders a connection as the vault.connection.* events
// carry it. An active connection passed validation of its credentials, so
// it is callable; a disabled one keeps its credentials (state callable) but
// is not enabled.
func ConnectionEntity(c *store.Connection, unifiedAPI string) json.RawMessage {
	e := connectionEntity{
		ID: c.ID, ConsumerID: c.ConsumerID, ServiceID: c.ServiceID,
		Status: "callable", Enabled: true, State: "callable",
		CreatedAt: formatTime(c.CreatedAt), UpdatedAt: formatTime(c.UpdatedAt),
	}
	if unifiedAPI != "" {
		e.UnifiedAPI = &unifiedAPI
	}
	if c.Status == store.ConnectionDisabled {
		e.Status, e.Enabled = "disabled", false
	}
	b, _ := json.Marshal(e) // strings and a bool: cannot fail
	return b
}

func (s *eventingStore) publish(ctx context.Context, c *store.Connection, eventType string) {
	ctx = context.WithoutCancel(ctx) // the change is written: its event goes out
	api := ""
	if s.cfg.UnifiedAPI != nil {
		api = s.cfg.UnifiedAPI(c.ServiceID)
	}
	now := s.cfg.Now().UTC()
	ev := &event.Event{
		ID:           store.NewID(),
		EventType:    eventType,
		UnifiedAPI:   event.UnifiedAPIOf(eventType),
		ServiceID:    c.ServiceID,
		ConsumerID:   c.ConsumerID,
		ConnectionID: c.ID,
		EntityID:     c.ID,
		EntityType:   "connection",
		EventSource:  event.SourceAPI,
		OccurredAt:   now,
		CreatedAt:    now,
		Entity:       ConnectionEntity(c, api),
	}
	if s.cfg.PublicURL != "" {
		ev.EntityURL = s.cfg.PublicURL + "/vault/connections/" + url.PathEscape(c.ID)
	}
	res, err := s.cfg.Publisher.PublishEvent(ctx, store.Consumer(c.ConsumerID), ev)
	if err != nil {
		s.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "connection event not published",
			slog.String("event_type", eventType), slog.String("connection_id", c.ID),
			slog.String("consumer_id", c.ConsumerID), slog.String("error", fmt.Sprint(err)))
		return
	}
	s.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "connection event published",
		slog.String("event_id", ev.ID), slog.String("event_type", eventType),
		slog.String("connection_id", c.ID), slog.String("consumer_id", c.ConsumerID),
		slog.Int("deliveries", res.Deliveries))
}
