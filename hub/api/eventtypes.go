package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/mapping"
	"github.com/switchboardhq/switchboard/hub/store"
)

// eventTypesList is the cursor kind of GET /webhook/event-types.
const eventTypesList = "event-types"

// vocabulary is what event names are checked against for this request:
// the embedded catalogue, the application's registered types and the
// pass-throughs of the services with mappings.
func (s *server) vocabulary(ctx context.Context) (event.Vocabulary, error) {
	v := event.Vocabulary{Catalog: event.Default(), Registered: map[string]*event.Type{}}
	if set := s.mappingSet(); set != nil {
		v.Services = set.Services()
	}
	return v, nil
}

func (s *server) mappingSet() *mapping.Set {
	if s.mappings == nil {
		return nil
	}
	return s.mappings()
}

// schemaOf returns a type's entity schema from the catalogue.
func (s *server) schemaOf(_ context.Context, t *event.Type) (*event.Schema, error) {
	sch, ok := event.Default().Schema(t.EntityType)
	if !ok {
		return nil, fmt.Errorf("event type %s: entity type %s has no schema", t.Name, t.EntityType)
	}
	return sch, nil
}

// nameError words an unknown name for a FieldError.
func nameError(field string, err error) FieldError {
	return FieldError{field, err.Error()}
}

// checkEventNames checks a subscription's events list against the
// vocabulary (besides checkEvents' count and shape rules).
func checkEventNames(v event.Vocabulary, events []string) []FieldError {
	var errs []FieldError
	for i, name := range events {
		if !event.ValidType(name) && name != event.Wildcard {
			continue // checkEvents reports the shape
		}
		if err := v.CheckType(name, true); err != nil {
			errs = append(errs, nameError(fmt.Sprintf("events[%d]", i), err))
		}
	}
	return errs
}

// viewVocabulary is the vocabulary for flagging names in responses, which
// must not fail: without the store's registered types it is the catalogue
// and the services.
func (s *server) viewVocabulary() event.Vocabulary {
	v := event.Vocabulary{Catalog: event.Default()}
	if set := s.mappingSet(); set != nil {
		v.Services = set.Services()
	}
	return v
}

// unknownEvents lists the names of a stored subscription that no longer
// pass the vocabulary: they keep matching, and the response flags them.
func unknownEvents(v event.Vocabulary, events []string) []string {
	var out []string
	for _, name := range events {
		if v.CheckType(name, true) != nil {
			out = append(out, name)
		}
	}
	return out
}

// eventTypeView is one event type as GET /webhook/event-types shows it.
type eventTypeView struct {
	Name          string                      `json:"name"`
	UnifiedAPI    string                      `json:"unified_api"`
	EntityType    string                      `json:"entity_type"`
	Description   string                      `json:"description"`
	BaseEventType *string                     `json:"base_event_type"`
	Source        string                      `json:"source"` // catalogue or application
	Apideck       bool                        `json:"apideck"`
	Schema        json.RawMessage             `json:"schema"`
	Example       json.RawMessage             `json:"example"`
	Connectors    []mapping.ConnectorCoverage `json:"connectors"`
	CreatedAt     *string                     `json:"created_at,omitempty"`
	UpdatedAt     *string                     `json:"updated_at,omitempty"`
}

func (s *server) eventTypeView(ctx context.Context, base string, t *event.Type) (eventTypeView, error) {
	sch, err := s.schemaOf(ctx, t)
	if err != nil {
		return eventTypeView{}, err
	}
	v := eventTypeView{
		Name: t.Name, UnifiedAPI: t.UnifiedAPI, EntityType: t.EntityType, Description: t.Description,
		BaseEventType: nullable(t.BaseEventType), Source: "catalogue", Apideck: t.Apideck,
		Schema: sch.Raw, Connectors: []mapping.ConnectorCoverage{},
	}
	if t.Registered {
		v.Source = "application"
	}
	if set := s.mappingSet(); set != nil {
		v.Connectors = set.EventTypeCoverage(t.Name, sch)
		if v.Connectors == nil {
			v.Connectors = []mapping.ConnectorCoverage{}
		}
	}
	service := DefaultServiceID
	if len(v.Connectors) > 0 {
		service = v.Connectors[0].ServiceID
	}
	body, err := ExampleEvent(t, service, base).Body(1)
	if err != nil {
		return eventTypeView{}, err
	}
	v.Example = body
	return v, nil
}

// ExampleEvent is the catalogue example of t as a stored event: what
// `switchboard trigger` publishes and the documentation shows.
func ExampleEvent(t *event.Type, serviceID, publicURL string) *event.Event {
	at := time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)
	ev := &event.Event{
		ID: "01900000-0000-7000-8000-000000000000", EventType: t.Name, BaseEventType: t.BaseEventType,
		UnifiedAPI: t.UnifiedAPI, ServiceID: serviceID, ConsumerID: "acme",
		EntityID: t.Example.EntityID, EntityType: t.EntityType, EventSource: event.SourceAPI,
		OccurredAt: at, CreatedAt: at, Entity: t.Example.Entity,
	}
	ev.EntityURL = event.EntityURL(publicURL, ev.UnifiedAPI, ev.EntityType, ev.EntityID)
	return ev
}

func (s *server) listEventTypes(c *gin.Context) {
	f, err := parseFilters(c, "unified_api")
	if err != nil {
		WriteError(c, err)
		return
	}
	q, err := parsePage(c, eventTypesList)
	if err != nil {
		WriteError(c, err)
		return
	}
	ctx := c.Request.Context()
	v, err := s.vocabulary(ctx)
	if err != nil {
		WriteError(c, err)
		return
	}
	all := v.Catalog.Types()
	for _, t := range v.Registered {
		all = append(all, t)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	var types []*event.Type
	for _, t := range all {
		if api := f["unified_api"]; api == "" || t.UnifiedAPI == api {
			types = append(types, t)
		}
	}
	pg, err := fetchPage(q, func(p store.Page) ([]*event.Type, error) {
		return pageByName(types, p), nil
	}, func(t *event.Type) string { return t.Name })
	if err != nil {
		WriteError(c, err)
		return
	}
	base := baseURL(c, s.publicURL)
	views := page[eventTypeView]{hasPrev: pg.hasPrev, hasNext: pg.hasNext}
	for _, t := range pg.items {
		view, err := s.eventTypeView(ctx, base, t)
		if err != nil {
			WriteError(c, err)
			return
		}
		views.items = append(views.items, view)
	}
	if views.items == nil {
		views.items = []eventTypeView{}
	}
	respondList(c, s.publicURL, q, views, func(v eventTypeView) string { return v.Name })
}

// pageByName pages a name-sorted list the way the store pages ids: After
// continues past a name, Before returns the names just before one.
func pageByName(types []*event.Type, p store.Page) []*event.Type {
	switch {
	case p.After != "":
		i := sort.Search(len(types), func(i int) bool { return types[i].Name > p.After })
		return types[i:min(len(types), i+p.Limit)]
	case p.Before != "":
		i := sort.Search(len(types), func(i int) bool { return types[i].Name >= p.Before })
		return types[max(0, i-p.Limit):i]
	default:
		return types[:min(len(types), p.Limit)]
	}
}

func (s *server) getEventType(c *gin.Context) {
	ctx := c.Request.Context()
	v, err := s.vocabulary(ctx)
	if err != nil {
		WriteError(c, err)
		return
	}
	name := c.Param("event_type")
	t, ok := v.Lookup(name)
	if !ok {
		e := NotFound("event type", name)
		if err := v.CheckType(name, false); err != nil {
			var un *event.UnknownNameError
			if errors.As(err, &un) && len(un.Suggestions) > 0 {
				e.Message += " (did you mean " + strings.Join(un.Suggestions, ", ") + "?)"
			}
		}
		WriteError(c, e)
		return
	}
	view, err := s.eventTypeView(ctx, baseURL(c, s.publicURL), t)
	if err != nil {
		WriteError(c, err)
		return
	}
	Respond(c, http.StatusOK, view)
}
