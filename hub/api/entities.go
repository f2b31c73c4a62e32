package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/store"
)

// entityView is one unified entity as its entity_url serves it: the
// entity of the newest stored event about it, with where it came from.
type entityView struct {
	ID         string          `json:"id"`
	EntityType string          `json:"entity_type"`
	UnifiedAPI string          `json:"unified_api"`
	ConsumerID string          `json:"consumer_id"`
	ServiceID  string          `json:"service_id"`
	EventID    string          `json:"event_id"`
	EventType  string          `json:"event_type"`
	OccurredAt string          `json:"occurred_at"`
	Entity     json.RawMessage `json:"entity"`
}

// entityOfPath finds the catalogue's entity type of a unified API whose
// plural is plural, and otherwise lists the known entity paths.
func entityOfPath(unifiedAPI, plural string) (string, []string) {
	var known []string
	for _, t := range event.Default().Types() {
		if t.EntityType == "" {
			continue
		}
		p := "/" + t.UnifiedAPI + "/" + event.Plural(t.EntityType)
		if t.UnifiedAPI == unifiedAPI && event.Plural(t.EntityType) == plural {
			return t.EntityType, nil
		}
		if !slices.Contains(known, p) {
			known = append(known, p)
		}
	}
	slices.Sort(known)
	return "", known
}

// getEntity serves an event's entity_url: the newest stored state of one
// entity of the consumer (a bound credential's own, or the one an unbound
// key names in x-consumer-id, since entity ids are the providers' and may
// repeat across consumers). The lookup walks the consumer's events newest
// first (events_consumer_id) rather than an index of its own on entity_id,
// which every publish would have to maintain.
func (s *server) getEntity(c *gin.Context) {
	unifiedAPI, plural, id := c.Param("unified_api"), c.Param("entity_plural"), c.Param("id")
	entityType, known := entityOfPath(unifiedAPI, plural)
	if entityType == "" {
		path := "/" + unifiedAPI + "/" + plural
		WriteError(c, &Error{
			Status:   http.StatusNotFound,
			TypeName: TypeEntityNotFound,
			Message:  fmt.Sprintf("no unified entity at %s; entity paths: %s", path, strings.Join(known, ", ")),
			Detail:   map[string]any{"path": path, "closest": event.Suggest(path, known, 3)},
		})
		return
	}
	_, sc, err := VaultConsumer(c)
	if err != nil {
		WriteError(c, err)
		return
	}
	evs, err := s.store.ListEvents(c.Request.Context(), sc,
		store.EventFilter{UnifiedAPI: unifiedAPI, EntityType: entityType, EntityID: id}, store.Page{Limit: 1})
	if err != nil {
		WriteError(c, fmt.Errorf("loading %s %s: %w", entityType, id, err))
		return
	}
	if len(evs) == 0 {
		WriteError(c, NotFound(entityType, id))
		return
	}
	ev := evs[0]
	v := entityView{
		ID:         ev.EntityID,
		EntityType: ev.EntityType,
		UnifiedAPI: ev.UnifiedAPI,
		ConsumerID: ev.ConsumerID,
		ServiceID:  ev.ServiceID,
		EventID:    ev.ID,
		EventType:  ev.EventType,
		OccurredAt: formatTime(ev.OccurredAt),
		Entity:     ev.Entity,
	}
	if len(v.Entity) == 0 {
		v.Entity = json.RawMessage("{}")
	}
	Respond(c, http.StatusOK, v)
}
