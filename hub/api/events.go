package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/store"
)

// DefaultServiceID is the service_id of events published through the API
// without one: they come from the hub's own caller, not a provider.
const DefaultServiceID = "switchboard"

// IdempotentReplayedHeader marks a publish answered from an earlier request
// with the same idempotency key.
const IdempotentReplayedHeader = "Idempotent-Replayed"

var serviceIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// publishRequest is the body of POST /webhook/events.
type publishRequest struct {
	EventType      string          `json:"event_type"`
	ConsumerID     string          `json:"consumer_id"`
	EntityID       string          `json:"entity_id"`
	EntityType     string          `json:"entity_type"`
	Entity         json.RawMessage `json:"entity"`
	OccurredAt     string          `json:"occurred_at"`
	IdempotencyKey string          `json:"idempotency_key"`
	BaseEventType  string          `json:"base_event_type"`
	ServiceID      string          `json:"service_id"`
}

type publishView struct {
	ID         string `json:"id"`
	EventType  string `json:"event_type"`
	Deliveries int    `json:"deliveries"`
}

func (s *server) publishEvent(c *gin.Context) {
	var req publishRequest
	if _, err := DecodeJSON(c, &req); err != nil {
		WriteError(c, err)
		return
	}
	if req.IdempotencyKey == "" {
		req.IdempotencyKey = c.GetHeader("Idempotency-Key")
	}
	if err := CheckConsumer(c, "consumer_id", req.ConsumerID); err != nil {
		WriteError(c, err)
		return
	}
	if p := Principal(c); p.Bound() {
		req.ConsumerID = p.ConsumerID // a bound key publishes for its own consumer
	}
	var errs []FieldError
	switch {
	case req.EventType == "":
		errs = append(errs, FieldError{"event_type", "is required"})
	case len(req.EventType) > MaxEventTypeLength:
		errs = append(errs, checkLength("event_type", req.EventType, MaxEventTypeLength)...)
	case !event.ValidType(req.EventType):
		errs = append(errs, FieldError{"event_type", fmt.Sprintf("must be an event type such as accounting.invoice.created, got %q", req.EventType)})
	}
	known, nameErrs, err := s.checkPublishedType(c, req)
	if err != nil {
		WriteError(c, err)
		return
	}
	errs = append(errs, nameErrs...)
	errs = append(errs, checkID("consumer_id", req.ConsumerID, true)...)
	errs = append(errs, checkID("entity_id", req.EntityID, true)...)
	errs = append(errs, checkName("entity_type", req.EntityType, "a lower-case name such as invoice")...)
	var entity json.RawMessage
	if t := bytes.TrimSpace(req.Entity); len(t) > 0 && !bytes.Equal(t, []byte("null")) {
		if t[0] != '{' {
			errs = append(errs, FieldError{"entity", "must be a JSON object"})
		}
		entity = t
	}
	occurred := s.now().UTC()
	if req.OccurredAt != "" {
		at, err := time.Parse(time.RFC3339Nano, req.OccurredAt)
		if err != nil {
			errs = append(errs, FieldError{"occurred_at", fmt.Sprintf("must be an RFC 3339 time such as 2024-01-15T10:30:00Z, got %q", req.OccurredAt)})
		}
		occurred = at.UTC()
	}
	errs = append(errs, checkID("idempotency_key", req.IdempotencyKey, false)...)
	switch {
	case len(req.BaseEventType) > MaxEventTypeLength:
		errs = append(errs, checkLength("base_event_type", req.BaseEventType, MaxEventTypeLength)...)
	case req.BaseEventType != "" && !event.ValidType(req.BaseEventType):
		errs = append(errs, FieldError{"base_event_type", fmt.Sprintf("must be an event type such as accounting.invoice.updated, got %q", req.BaseEventType)})
	}
	errs = append(errs, checkName("service_id", req.ServiceID, "a lower-case service id such as dversum")...)
	if len(errs) > 0 {
		WriteError(c, Invalid(errs...))
		return
	}

	id, err := uuid.NewV7()
	if err != nil {
		WriteError(c, fmt.Errorf("making event id: %w", err))
		return
	}
	ev := &event.Event{
		ID:            id.String(),
		EventType:     req.EventType,
		BaseEventType: req.BaseEventType,
		UnifiedAPI:    event.UnifiedAPIOf(req.EventType),
		ServiceID:     req.ServiceID,
		ConsumerID:    req.ConsumerID,
		EntityID:      req.EntityID,
		EntityType:    req.EntityType,
		EventSource:   event.SourceAPI,
		OccurredAt:    occurred,
		CreatedAt:     s.now().UTC(),
		Entity:        entity,
	}
	if known != nil {
		ev.UnifiedAPI = known.UnifiedAPI
		ev.BaseEventType = known.BaseEventType
	}
	if ev.ServiceID == "" {
		ev.ServiceID = DefaultServiceID
	}
	if ev.EntityType == "" && known != nil {
		ev.EntityType = known.EntityType
	}
	if ev.EntityType == "" {
		ev.EntityType = entityTypeOf(ev.EventType)
	}
	ev.EntityURL = event.EntityURL(baseURL(c, s.publicURL), ev.UnifiedAPI, ev.EntityType, ev.EntityID)
	if req.IdempotencyKey != "" {
		ev.DedupeKey = apiDedupeKey(req.ConsumerID, req.IdempotencyKey)
		hash, err := requestHash(req)
		if err != nil {
			WriteError(c, err)
			return
		}
		ev.RequestHash = hash
	}

	res, err := s.store.PublishEvent(c.Request.Context(), ScopeOf(c), ev)
	if err != nil {
		WriteError(c, fmt.Errorf("publishing event: %w", err))
		return
	}
	s.metrics.EventsPublished.WithLabelValues(event.SourceAPI, strconv.FormatBool(res.Duplicate)).Inc()
	stored := ev
	if res.Event != nil {
		stored = res.Event
	}
	if res.Duplicate {
		c.Header(IdempotentReplayedHeader, "true")
	}
	Respond(c, http.StatusAccepted, publishView{ID: stored.ID, EventType: stored.EventType, Deliveries: res.Deliveries})
}

// apiDedupeKey scopes an idempotency key to its consumer. The consumer id's
// length goes first, so no pair of consumer id and key spells another's
// ("acme:eu" + "k" and "acme" + "eu:k" used to be the same key, so one
// consumer's publish could be answered with another's event or a 409). The
// "api2:" prefix never begins a key of the earlier "api:<consumer>:<key>"
// form, so old and new keys cannot collide either; a key first used before
// this form was introduced dedupes again from its next use on (README).
func apiDedupeKey(consumerID, key string) string {
	return "api2:" + strconv.Itoa(len(consumerID)) + ":" + consumerID + ":" + key
}

// checkName checks an optional lower-case name (entity_type, service_id):
// its length first, so a megabyte is not echoed back in the error.
func checkName(field, v, example string) []FieldError {
	if errs := checkLength(field, v, MaxNameLength); errs != nil {
		return errs
	}
	if v != "" && !serviceIDPattern.MatchString(v) {
		return []FieldError{{field, fmt.Sprintf("must be %s, got %q", example, v)}}
	}
	return nil
}

// checkPublishedType checks a publish request's names and entity against
// the catalogue: an unknown event type is refused with the closest names; a
// catalogue (or registered) type fixes base_event_type and entity_type, and
// its entity must be valid against the entity schema. Pass-through events
// (<service_id>.<native>) carry the provider's raw body and are not checked.
func (s *server) checkPublishedType(c *gin.Context, req publishRequest) (*event.Type, []FieldError, error) {
	if !event.ValidType(req.EventType) {
		return nil, nil, nil
	}
	if event.IsOperational(req.EventType) {
		// Subscribers trust these to come from the hub: nobody may forge
		// a subscription's failing, disabled or recovered notice.
		return nil, []FieldError{{"event_type", fmt.Sprintf("%s is an operational event the hub sends itself; it cannot be published", req.EventType)}}, nil
	}
	v, err := s.vocabulary(c.Request.Context())
	if err != nil {
		return nil, nil, err
	}
	if err := v.CheckType(req.EventType, false); err != nil {
		return nil, []FieldError{nameError("event_type", err)}, nil
	}
	t, ok := v.Lookup(req.EventType)
	if !ok {
		return nil, nil, nil // a pass-through
	}
	var errs []FieldError
	if req.BaseEventType != "" && req.BaseEventType != t.BaseEventType {
		want := t.BaseEventType
		if want == "" {
			want = "none"
		}
		errs = append(errs, FieldError{"base_event_type", fmt.Sprintf("must be the catalogue's base type of %s (%s), got %q", t.Name, want, req.BaseEventType)})
	}
	if req.EntityType != "" && req.EntityType != t.EntityType {
		errs = append(errs, FieldError{"entity_type", fmt.Sprintf("%s carries entity type %s, got %q", t.Name, t.EntityType, req.EntityType)})
	}
	if entity := bytes.TrimSpace(req.Entity); len(entity) > 0 && entity[0] == '{' {
		sch, err := s.schemaOf(c.Request.Context(), t)
		if err != nil {
			return nil, nil, err
		}
		// entity.id may be left out: entity_id says it.
		if !gjson.GetBytes(entity, "id").Exists() && req.EntityID != "" {
			if withID, err := sjson.SetBytes(slices.Clone(entity), "id", req.EntityID); err == nil {
				entity = withID
			}
		}
		var se *event.SchemaError
		if err := sch.Validate(entity); errors.As(err, &se) {
			for _, p := range se.Problems {
				errs = append(errs, FieldError{"entity" + strings.TrimSuffix(p.Pointer, "/"), p.Reason})
			}
		} else if err != nil {
			errs = append(errs, FieldError{"entity", err.Error()})
		}
	}
	return t, errs, nil
}

// entityTypeOf guesses the entity type from an event type's second segment
// (accounting.invoice.paid -> invoice) when the publisher leaves it out.
func entityTypeOf(eventType string) string {
	parts := strings.Split(eventType, ".")
	if len(parts) < 3 {
		return ""
	}
	return parts[1]
}

// requestHash fingerprints a publish request as sent, so the same
// idempotency key with a different body is a conflict, while a byte-for-byte
// different encoding of the same request (key order, spacing) is not.
func requestHash(req publishRequest) (string, error) {
	var entity any
	if len(req.Entity) > 0 {
		dec := json.NewDecoder(bytes.NewReader(req.Entity))
		dec.UseNumber()
		if err := dec.Decode(&entity); err != nil {
			return "", fmt.Errorf("canonicalising entity: %w", err)
		}
	}
	canonical, err := json.Marshal([]any{
		req.EventType, req.ConsumerID, req.EntityID, req.EntityType, entity,
		req.OccurredAt, req.BaseEventType, req.ServiceID,
	})
	if err != nil {
		return "", fmt.Errorf("canonicalising request: %w", err)
	}
	sum := sha256.Sum256(canonical)
	return hex.EncodeToString(sum[:]), nil
}

// eventView is a stored event as the API shows it: the delivered payload's
// fields, null where a field does not apply.
type eventView struct {
	ID                  string          `json:"id"`
	EventType           string          `json:"event_type"`
	BaseEventType       *string         `json:"base_event_type"`
	UnifiedAPI          string          `json:"unified_api"`
	ServiceID           string          `json:"service_id"`
	ConsumerID          string          `json:"consumer_id"`
	ConnectionID        *string         `json:"connection_id"`
	EntityID            string          `json:"entity_id"`
	EntityType          string          `json:"entity_type"`
	EntityURL           *string         `json:"entity_url"`
	DownstreamEventType *string         `json:"downstream_event_type"`
	EventSource         string          `json:"event_source"`
	OccurredAt          string          `json:"occurred_at"`
	CreatedAt           string          `json:"created_at"`
	Entity              json.RawMessage `json:"entity"`
}

func newEventView(ev *event.Event) eventView {
	v := eventView{
		ID:                  ev.ID,
		EventType:           ev.EventType,
		BaseEventType:       nullable(ev.BaseEventType),
		UnifiedAPI:          ev.UnifiedAPI,
		ServiceID:           ev.ServiceID,
		ConsumerID:          ev.ConsumerID,
		ConnectionID:        nullable(ev.ConnectionID),
		EntityID:            ev.EntityID,
		EntityType:          ev.EntityType,
		EntityURL:           nullable(ev.EntityURL),
		DownstreamEventType: nullable(ev.DownstreamEventType),
		EventSource:         ev.EventSource,
		OccurredAt:          formatTime(ev.OccurredAt),
		CreatedAt:           formatTime(ev.CreatedAt),
		Entity:              ev.Entity,
	}
	if len(v.Entity) == 0 {
		v.Entity = json.RawMessage("{}")
	}
	return v
}

// eventDetail is one event with where it went.
type eventDetail struct {
	eventView
	Deliveries []deliveryView `json:"deliveries"`
}

type deliveryView struct {
	ID             string  `json:"id"`
	SubscriptionID string  `json:"subscription_id"`
	Status         string  `json:"status"`
	Attempts       int     `json:"attempts"`
	NextAttemptAt  *string `json:"next_attempt_at"`
	CreatedAt      string  `json:"created_at"`
	UpdatedAt      string  `json:"updated_at"`
}

func (s *server) listEvents(c *gin.Context) {
	f, err := parseFilters(c, "event_type", "consumer_id", "service_id")
	if err != nil {
		WriteError(c, err)
		return
	}
	q, err := parsePage(c, "events")
	if err != nil {
		WriteError(c, err)
		return
	}
	if err := CheckConsumer(c, "filter[consumer_id]", f["consumer_id"]); err != nil {
		WriteError(c, err)
		return
	}
	filter := store.EventFilter{
		EventType:  f["event_type"],
		ConsumerID: f["consumer_id"],
		ServiceID:  f["service_id"],
	}
	ctx := c.Request.Context()
	pg, err := fetchPage(q, func(p store.Page) ([]*event.Event, error) {
		return s.store.ListEvents(ctx, ScopeOf(c), filter, p)
	}, func(ev *event.Event) string { return ev.ID })
	if err != nil {
		WriteError(c, fmt.Errorf("listing events: %w", err))
		return
	}
	respondList(c, s.publicURL, q, mapPage(pg, newEventView), func(v eventView) string { return v.ID })
}

func (s *server) loadEvent(c *gin.Context, id string) (*event.Event, error) {
	ev, err := s.store.GetEvent(c.Request.Context(), ScopeOf(c), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, NotFound("event", id)
	}
	if err != nil {
		return nil, fmt.Errorf("loading event %s: %w", id, err)
	}
	return ev, nil
}

func (s *server) getEvent(c *gin.Context) {
	ev, err := s.loadEvent(c, c.Param("id"))
	if err != nil {
		WriteError(c, err)
		return
	}
	ds, err := s.store.ListDeliveries(c.Request.Context(), ScopeOf(c), ev.ID)
	if err != nil {
		WriteError(c, fmt.Errorf("listing deliveries of event %s: %w", ev.ID, err))
		return
	}
	d := eventDetail{eventView: newEventView(ev), Deliveries: make([]deliveryView, len(ds))}
	for i, dl := range ds {
		d.Deliveries[i] = deliveryView{
			ID:             dl.ID,
			SubscriptionID: dl.SubscriptionID,
			Status:         dl.Status,
			Attempts:       dl.Attempts,
			NextAttemptAt:  timePtr(dl.NextAttemptAt),
			CreatedAt:      formatTime(dl.CreatedAt),
			UpdatedAt:      formatTime(dl.UpdatedAt),
		}
	}
	Respond(c, http.StatusOK, d)
}

type replayRequest struct {
	SubscriptionID string `json:"subscription_id"`
}

type replayView struct {
	EventID    string `json:"event_id"`
	Deliveries int    `json:"deliveries"`
}

// replayEvent delivers a stored event again, as new deliveries, to every
// subscription matching it now or to the one named.
func (s *server) replayEvent(c *gin.Context) {
	var req replayRequest
	if _, err := decodeOptionalJSON(c, &req); err != nil {
		WriteError(c, err)
		return
	}
	ev, err := s.loadEvent(c, c.Param("id"))
	if err != nil {
		WriteError(c, err)
		return
	}
	if req.SubscriptionID != "" {
		if _, err := s.loadSubscription(c, req.SubscriptionID); err != nil {
			WriteError(c, err)
			return
		}
	}
	n, err := s.store.Replay(c.Request.Context(), ScopeOf(c), ev.ID, req.SubscriptionID)
	if errors.Is(err, store.ErrNotFound) {
		err = NotFound("event", ev.ID)
	}
	if err != nil {
		WriteError(c, fmt.Errorf("replaying event %s: %w", ev.ID, err))
		return
	}
	Respond(c, http.StatusAccepted, replayView{EventID: ev.ID, Deliveries: n})
}

// parseFilters reads filter[name]=value parameters, refusing names the route
// does not support so a typo does not silently list everything.
func parseFilters(c *gin.Context, allowed ...string) (map[string]string, error) {
	out := map[string]string{}
	for key, vals := range c.Request.URL.Query() {
		name, ok := strings.CutPrefix(key, "filter[")
		if !ok {
			if key == "filter" {
				return nil, BadRequest(key, "must be given as filter[name]=value")
			}
			continue
		}
		name, ok = strings.CutSuffix(name, "]")
		if !ok || !slices.Contains(allowed, name) {
			if len(allowed) == 0 {
				return nil, BadRequest(key, "is not a supported filter (this list has no filters)")
			}
			return nil, BadRequest(key, "is not a supported filter (supported: filter["+strings.Join(allowed, "], filter[")+"])")
		}
		if len(vals) > 1 {
			return nil, BadRequest(key, "must be given once")
		}
		if why := badText(vals[0]); why != "" {
			return nil, BadRequest(key, why)
		}
		if vals[0] != "" {
			out[name] = vals[0]
		}
	}
	return out, nil
}
