package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
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
	// Registrations are rare and admin-made: a read less than a second old
	// serves, so publishing does not cost a query per event. This node's
	// own registrations clear it at once; another node's show within a
	// second.
	if regs, fresh := s.registered.get(s.now()); fresh {
		v.Registered = regs
		return v, nil
	}
	regs, err := s.store.ListEventTypes(ctx)
	if err != nil {
		return v, fmt.Errorf("listing registered event types: %w", err)
	}
	for _, r := range regs {
		v.Registered[r.Name] = registeredType(r)
	}
	s.registered.set(v.Registered, s.now())
	return v, nil
}

// registeredCache keeps the last registered types read, for at most a
// second: name checks and subscription views (which have no request
// context and must not fail) use it; a registration clears it.
type registeredCache struct {
	mu    sync.Mutex
	types map[string]*event.Type
	at    time.Time
}

func (r *registeredCache) set(types map[string]*event.Type, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.types, r.at = types, at
}

func (r *registeredCache) get(now time.Time) (map[string]*event.Type, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.types, r.types != nil && now.Sub(r.at) < time.Second
}

func (s *server) mappingSet() *mapping.Set {
	if s.mappings == nil {
		return nil
	}
	return s.mappings()
}

func registeredType(r *store.EventType) *event.Type {
	return &event.Type{
		Name: r.Name, UnifiedAPI: r.UnifiedAPI, EntityType: r.EntityType, Description: r.Description,
		Example: event.Example{EntityID: r.ExampleEntityID, Entity: r.Example}, Registered: true,
	}
}

// schemaOf returns a type's entity schema: the catalogue's, or the one the
// application registered with it.
func (s *server) schemaOf(ctx context.Context, t *event.Type) (*event.Schema, error) {
	if !t.Registered {
		sch, ok := event.Default().Schema(t.EntityType)
		if !ok {
			return nil, fmt.Errorf("event type %s: entity type %s has no schema", t.Name, t.EntityType)
		}
		return sch, nil
	}
	r, err := s.store.GetEventType(ctx, t.Name)
	if err != nil {
		return nil, fmt.Errorf("loading event type %s: %w", t.Name, err)
	}
	sch, err := event.NewSchema(r.EntityType, r.Schema)
	if err != nil {
		return nil, fmt.Errorf("compiling the schema of event type %s: %w", t.Name, err)
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

// viewVocabulary is the vocabulary for flagging names in responses. It
// must not fail a response: when the registered types cannot be read it
// reports ok=false and nothing is flagged.
func (s *server) viewVocabulary() (event.Vocabulary, bool) {
	v := event.Vocabulary{Catalog: event.Default()}
	if set := s.mappingSet(); set != nil {
		v.Services = set.Services()
	}
	regs, fresh := s.registered.get(s.now())
	if !fresh {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		list, err := s.store.ListEventTypes(ctx)
		if err != nil {
			return v, false
		}
		regs = map[string]*event.Type{}
		for _, r := range list {
			regs[r.Name] = registeredType(r)
		}
		s.registered.set(regs, s.now())
	}
	v.Registered = regs
	return v, true
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

// registerRequest is the body of POST /webhook/event-types.
type registerRequest struct {
	Name        string          `json:"name"`
	EntityType  string          `json:"entity_type"`
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"`
	Example     *struct {
		EntityID string          `json:"entity_id"`
		Entity   json.RawMessage `json:"entity"`
	} `json:"example"`
	Replace bool `json:"replace"`
}

// registerEventType registers an application's own event type with its
// entity schema: publishing it is then allowed and validated against the
// schema. The same name with the same schema again is a no-op (200); with
// another schema it is 409 unless replace is true.
func (s *server) registerEventType(c *gin.Context) {
	var req registerRequest
	if _, err := DecodeJSON(c, &req); err != nil {
		WriteError(c, err)
		return
	}
	ctx := c.Request.Context()
	v, err := s.vocabulary(ctx)
	if err != nil {
		WriteError(c, err)
		return
	}
	var errs []FieldError
	segs := strings.Split(req.Name, ".")
	api := segs[0]
	switch {
	case req.Name == "":
		errs = append(errs, FieldError{"name", "is required"})
	case !event.ValidType(req.Name) || len(segs) != 3:
		errs = append(errs, FieldError{"name", fmt.Sprintf("must be <unified_api>.<entity>.<action> in lower case, such as billing.subscription.renewed, got %q", req.Name)})
	case isHubAPI(api):
		errs = append(errs, FieldError{"name", fmt.Sprintf("%s.* events are the hub's own; choose another unified API", api)})
	case slices.Contains(v.Services, api):
		errs = append(errs, FieldError{"name", fmt.Sprintf("%s.* is the pass-through namespace of service %s; choose another unified API", api, api)})
	default:
		if _, ok := v.Catalog.Lookup(req.Name); ok {
			errs = append(errs, FieldError{"name", fmt.Sprintf("%s is a catalogue type; register your own names only", req.Name)})
		}
	}
	if req.EntityType == "" && len(segs) == 3 {
		req.EntityType = segs[1]
	}
	if !serviceIDPattern.MatchString(req.EntityType) {
		errs = append(errs, FieldError{"entity_type", fmt.Sprintf("must be a lower-case name such as subscription, got %q", req.EntityType)})
	}
	errs = append(errs, checkLength("description", req.Description, MaxDescriptionLength)...)
	var sch *event.Schema
	if t := bytes.TrimSpace(req.Schema); len(t) == 0 || t[0] != '{' {
		errs = append(errs, FieldError{"schema", "is required: the JSON Schema of the entity, an object"})
	} else if sch, err = event.NewSchema(req.EntityType, t); err != nil {
		errs = append(errs, FieldError{"schema", err.Error()})
	}
	var exampleID string
	var example json.RawMessage
	if req.Example != nil {
		exampleID, example = req.Example.EntityID, bytes.TrimSpace(req.Example.Entity)
		errs = append(errs, checkID("example.entity_id", exampleID, true)...)
		if len(example) == 0 || example[0] != '{' {
			errs = append(errs, FieldError{"example.entity", "must be a JSON object"})
		} else if sch != nil {
			var se *event.SchemaError
			if err := sch.Validate(example); errors.As(err, &se) {
				for _, p := range se.Problems {
					errs = append(errs, FieldError{"example.entity" + strings.TrimSuffix(p.Pointer, "/"), p.Reason})
				}
			} else if err != nil {
				errs = append(errs, FieldError{"example.entity", err.Error()})
			}
		}
	}
	if len(errs) > 0 {
		WriteError(c, Invalid(errs...))
		return
	}
	t := &store.EventType{
		Name: req.Name, UnifiedAPI: api, EntityType: req.EntityType, Description: req.Description,
		Schema: json.RawMessage(bytes.TrimSpace(req.Schema)), ExampleEntityID: exampleID, Example: example,
		UpdatedAt: s.now().UTC(),
	}
	status := http.StatusCreated
	old, err := s.store.GetEventType(ctx, req.Name)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		WriteError(c, fmt.Errorf("loading event type %s: %w", req.Name, err))
		return
	case sameJSON(old.Schema, t.Schema) && old.EntityType == t.EntityType && old.Description == t.Description &&
		old.ExampleEntityID == t.ExampleEntityID && sameJSON(old.Example, t.Example):
		s.respondEventType(c, http.StatusOK, registeredType(old))
		return
	case !sameJSON(old.Schema, t.Schema) && !req.Replace:
		WriteError(c, &Error{
			Status: http.StatusConflict, TypeName: TypeConflict,
			Message: fmt.Sprintf("event type %s is registered with a different schema; send \"replace\": true to replace it", req.Name),
			Detail:  FieldError{Field: "schema", Reason: "differs from the registered schema"},
		})
		return
	default:
		status = http.StatusOK
	}
	if err := s.store.PutEventType(ctx, t); err != nil {
		WriteError(c, fmt.Errorf("registering event type %s: %w", req.Name, err))
		return
	}
	s.registered.set(nil, time.Time{}) // views re-read the registrations
	s.respondEventType(c, status, registeredType(t))
}

func (s *server) respondEventType(c *gin.Context, status int, t *event.Type) {
	view, err := s.eventTypeView(c.Request.Context(), baseURL(c, s.publicURL), t)
	if err != nil {
		WriteError(c, err)
		return
	}
	Respond(c, status, view)
}

// isHubAPI reports the unified APIs whose events only the hub raises.
func isHubAPI(api string) bool { return api == "vault" || api == "webhook" }

// sameJSON compares two JSON documents by value (key order and spacing
// aside); two empty documents are the same.
func sameJSON(a, b json.RawMessage) bool {
	if len(bytes.TrimSpace(a)) == 0 || len(bytes.TrimSpace(b)) == 0 {
		return len(bytes.TrimSpace(a)) == len(bytes.TrimSpace(b))
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
