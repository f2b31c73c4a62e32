// Package event defines the unified event: the one envelope every provider
// webhook and every published event is turned into, and the rules that decide
// which subscriptions receive it.
package event

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Sources of an event, as carried in the payload's event_source field.
const (
	SourceNative  = "native"  // a provider pushed it to the hub
	SourceVirtual = "virtual" // the hub polled the provider for it
	SourceAPI     = "api"     // an application published it through POST /webhook/events
	SourceTest    = "test"    // POST /webhook/webhooks/{id}/test sent the catalogue example
	SourceHub     = "hub"     // the hub itself: an operational event (webhook.*)
)

// Operational event types (unified API "webhook"): what the hub says about
// its own subscriptions and deliveries.
const (
	OpsAPI                = "webhook"
	SubscriptionFailing   = "webhook.subscription.failing"
	SubscriptionDisabled  = "webhook.subscription.disabled"
	SubscriptionRecovered = "webhook.subscription.recovered"
	DeliveryExhausted     = "webhook.delivery.exhausted"
)

// IsOperational reports whether eventType is one of the hub's operational
// event types. They follow their own delivery rules (see Subscriber.Matches),
// and no operational event is ever made about delivering one, so two
// subscriptions that fail and take each other's operational events cannot
// feed each other.
func IsOperational(eventType string) bool {
	switch eventType {
	case SubscriptionFailing, SubscriptionDisabled, SubscriptionRecovered, DeliveryExhausted:
		return true
	}
	return false
}

// Subject returns the id of the subscription an operational event is about:
// the entity of a webhook.subscription.* event, the subscription_id of a
// webhook.delivery.exhausted one; "" for any other event.
func (e *Event) Subject() string {
	if !IsOperational(e.EventType) {
		return ""
	}
	if e.EventType != DeliveryExhausted {
		return e.EntityID
	}
	var d struct {
		SubscriptionID string `json:"subscription_id"`
	}
	_ = json.Unmarshal(e.Entity, &d) // the hub wrote it; a bad one has no subject
	return d.SubscriptionID
}

// Event is a stored unified event. Everything a delivery needs is here, so a
// worker renders the delivered body from the row alone.
type Event struct {
	ID                  string          `json:"id"`
	EventType           string          `json:"event_type"`
	BaseEventType       string          `json:"base_event_type,omitempty"`
	UnifiedAPI          string          `json:"unified_api"`
	ServiceID           string          `json:"service_id"`
	ConsumerID          string          `json:"consumer_id"`
	ConnectionID        string          `json:"connection_id,omitempty"`
	EntityID            string          `json:"entity_id"`
	EntityType          string          `json:"entity_type"`
	EntityURL           string          `json:"entity_url,omitempty"`
	DownstreamEventType string          `json:"downstream_event_type,omitempty"`
	EventSource         string          `json:"event_source"`
	OccurredAt          time.Time       `json:"occurred_at"`
	CreatedAt           time.Time       `json:"created_at"`
	Entity              json.RawMessage `json:"entity,omitempty"`

	// DedupeKey makes storing idempotent: a second event with the same key is
	// not stored. The caller scopes it (per consumer for the API, per
	// connection for providers) so two sources never collide.
	DedupeKey string `json:"-"`
	// RequestHash fingerprints what produced the event, so reusing a key for a
	// different request is reported instead of silently answered.
	RequestHash string `json:"-"`
}

// Payload is the body delivered to subscribers: {"payload": {...}}.
type Payload struct {
	EventID             string          `json:"event_id"`
	EventType           string          `json:"event_type"`
	BaseEventType       *string         `json:"base_event_type"`
	UnifiedAPI          string          `json:"unified_api"`
	ServiceID           string          `json:"service_id"`
	ConsumerID          string          `json:"consumer_id"`
	ConnectionID        *string         `json:"connection_id"`
	EntityID            string          `json:"entity_id"`
	EntityType          string          `json:"entity_type"`
	EntityURL           string          `json:"entity_url"`
	DownstreamEventType *string         `json:"downstream_event_type"`
	EventSource         string          `json:"event_source"`
	ExecutionAttempt    int             `json:"execution_attempt"`
	OccurredAt          string          `json:"occurred_at"`
	Entity              json.RawMessage `json:"entity"`
}

// Body renders the exact bytes delivered for one try. It is called once per
// event and attempt number, and the bytes are shared by every subscriber.
func (e *Event) Body(attempt int) ([]byte, error) {
	p := Payload{
		EventID:             e.ID,
		EventType:           e.EventType,
		BaseEventType:       nullable(e.BaseEventType),
		UnifiedAPI:          e.UnifiedAPI,
		ServiceID:           e.ServiceID,
		ConsumerID:          e.ConsumerID,
		ConnectionID:        nullable(e.ConnectionID),
		EntityID:            e.EntityID,
		EntityType:          e.EntityType,
		EntityURL:           e.EntityURL,
		DownstreamEventType: nullable(e.DownstreamEventType),
		EventSource:         e.EventSource,
		ExecutionAttempt:    attempt,
		OccurredAt:          e.OccurredAt.UTC().Format(time.RFC3339Nano),
		Entity:              e.Entity,
	}
	if len(p.Entity) == 0 {
		p.Entity = json.RawMessage("{}")
	}
	b, err := json.Marshal(struct {
		Payload Payload `json:"payload"`
	}{p})
	if err != nil {
		return nil, fmt.Errorf("encoding payload of event %s: %w", e.ID, err)
	}
	return b, nil
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Wildcard in a subscription's events list means every event of its unified API.
const Wildcard = "*"

// IsHubAPI reports the unified APIs whose events only the hub raises
// (vault.connection.*, webhook.subscription.*): "*" never matches them, so
// a subscription receives them only by name.
func IsHubAPI(api string) bool { return api == "vault" || api == "webhook" }

var typePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*){1,4}$`)

// ValidType reports whether name is a well-formed event type such as
// accounting.invoice.paid, dversum.page.created or the pass-through
// vplan.collection.checklist.item.attached (up to five segments).
func ValidType(name string) bool { return typePattern.MatchString(name) }

var apiPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,63}$`)

// ValidUnifiedAPI reports whether name can be a unified API id (accounting,
// issue-tracking, ...). Applications may publish events of their own APIs, so
// any well-formed name is accepted.
func ValidUnifiedAPI(name string) bool { return apiPattern.MatchString(name) }

// UnifiedAPIOf returns the unified API of an event type: its first segment.
func UnifiedAPIOf(eventType string) string {
	api, _, _ := strings.Cut(eventType, ".")
	return api
}

// Subscriber is what matching needs to know about a subscription.
type Subscriber struct {
	// ID is the subscription's own id: an operational event about it never
	// reaches it. Empty matches as no subscription's.
	ID         string
	UnifiedAPI string
	Events     []string
	ConsumerID string // empty: every consumer
}

// Matches reports whether a subscription receives ev. A subscription receives
// an event it names, an extension event whose base type it names, and with
// "*" every event of its unified API except the hub's own (vault.*,
// webhook.*), which go only to subscriptions that name them; pass-through events of a service
// (dversum.page.created) reach "*" subscriptions too, since they belong to no
// unified API. A subscription bound to a consumer sees only that consumer's
// events.
//
// Operational events (IsOperational) reach only subscriptions that name
// them (never through "*"), never the subscription they are about, and,
// like every event, only its consumer's subscriptions and the unbound ones
// (their ConsumerID is the consumer of the subscription they are about).
func (s Subscriber) Matches(ev *Event) bool {
	if s.ConsumerID != "" && s.ConsumerID != ev.ConsumerID {
		return false
	}
	if IsOperational(ev.EventType) {
		return slices.Contains(s.Events, ev.EventType) && (s.ID == "" || s.ID != ev.Subject())
	}
	for _, name := range s.Events {
		switch name {
		case ev.EventType:
			return true
		case Wildcard:
			if IsHubAPI(ev.UnifiedAPI) || IsHubAPI(UnifiedAPIOf(ev.EventType)) {
				continue // vault.* and webhook.* only by name
			}
			if s.UnifiedAPI == Wildcard || s.UnifiedAPI == ev.UnifiedAPI || ev.UnifiedAPI == ev.ServiceID {
				return true
			}
		default:
			if ev.BaseEventType != "" && name == ev.BaseEventType {
				return true
			}
		}
	}
	return false
}

// SortedUnique normalises an events list: sorted, without repeats.
func SortedUnique(events []string) []string {
	out := slices.Clone(events)
	slices.Sort(out)
	return slices.Compact(out)
}

// EntityURL builds the link a consumer follows to the entity in the unified
// API: <public>/<unified_api>/<plural entity>/<id>, served by
// GET /{unified_api}/{entity_plural}/{id}. The id is one escaped path
// segment: a provider's id never steers the link elsewhere (../../vault).
func EntityURL(publicURL, unifiedAPI, entityType, entityID string) string {
	if entityType == "" || entityID == "" {
		return ""
	}
	return strings.TrimRight(publicURL, "/") + "/" + url.PathEscape(unifiedAPI) + "/" + Plural(entityType) + "/" + url.PathEscape(entityID)
}

// Plural is an entity type's name in entity URLs, pluralised as spelled
// (invoice -> invoices, time_entry -> time_entries).
func Plural(entityType string) string { return url.PathEscape(plural(entityType)) }

func plural(s string) string {
	switch {
	case strings.HasSuffix(s, "y") && !strings.HasSuffix(s, "ay") && !strings.HasSuffix(s, "ey"):
		return s[:len(s)-1] + "ies"
	case strings.HasSuffix(s, "s"), strings.HasSuffix(s, "x"), strings.HasSuffix(s, "ch"):
		return s + "es"
	default:
		return s + "s"
	}
}
