package mapping

import (
	"slices"
	"sort"
	"strings"
)

// Coverage describes what one service's mapping produces: the unified events
// it can emit for each native event and the unified fields each entity
// fills. GET /connector/connectors lists supported events from it, and
// maintainers use it to see gaps without reading the file.
type Coverage struct {
	ServiceID   string           `json:"service_id"`
	File        string           `json:"file"`
	Version     string           `json:"version"`
	Description string           `json:"description,omitempty"`
	Events      []EventCoverage  `json:"events"`
	Entities    []EntityCoverage `json:"entities"`
}

// EventCoverage is one unified event a native event can become. A native
// event with branches appears once per distinct outcome.
type EventCoverage struct {
	NativeType    string `json:"downstream_event_type"`
	EventType     string `json:"event_type"`
	BaseEventType string `json:"base_event_type,omitempty"`
	EntityType    string `json:"entity_type,omitempty"`
	Entity        string `json:"entity,omitempty"` // entity map name
	// PassThrough marks native events kept as <service_id>.<native> on
	// purpose (pass_through: true).
	PassThrough bool `json:"pass_through,omitempty"`
	// Branch marks an outcome chosen by a branch condition.
	Branch bool `json:"branch,omitempty"`
	// Fields are the unified fields this event fills beyond its entity's
	// (see Entities): its own fields, set and change.
	Fields []string `json:"fields,omitempty"`
}

// EntityCoverage lists the unified fields one entity map fills.
type EntityCoverage struct {
	Name       string   `json:"name"`
	EntityType string   `json:"entity_type"`
	Fields     []string `json:"fields"`
}

func (svc *service) buildCoverage() Coverage {
	cov := Coverage{ServiceID: svc.id, File: svc.file, Version: svc.version, Description: svc.description}
	for _, name := range sortedKeys(svc.entities) {
		e := svc.entities[name]
		cov.Entities = append(cov.Entities, EntityCoverage{Name: name, EntityType: e.typ, Fields: targets(e.fields)})
	}
	seen := map[string]bool{}
	for _, native := range sortedKeys(svc.events) {
		rule := svc.events[native]
		if rule.passThrough {
			cov.Events = append(cov.Events, EventCoverage{
				NativeType: native, EventType: svc.id + "." + passThroughName(native),
				EntityType: passThroughEntityType(native), PassThrough: true,
			})
			continue
		}
		add := func(o *outcome, branch bool) {
			ec := EventCoverage{
				NativeType: native, EventType: o.eventType, BaseEventType: o.baseEventType,
				EntityType: o.entity.typ, Entity: o.entity.name, Branch: branch,
			}
			fields := targets(o.fields)
			fields = append(fields, targets(o.set)...)
			if o.change != nil {
				fields = append(fields, "change")
			}
			sort.Strings(fields)
			ec.Fields = slices.Compact(fields)
			key := strings.Join(append([]string{ec.NativeType, ec.EventType, ec.Entity}, ec.Fields...), "\x00")
			if seen[key] {
				return
			}
			seen[key] = true
			cov.Events = append(cov.Events, ec)
		}
		for _, b := range rule.branches {
			add(b.out, true)
		}
		if rule.main != nil {
			add(rule.main, false)
		}
	}
	return cov
}

func passThroughEntityType(native string) string {
	name := passThroughName(native)
	for i := 0; i < len(name); i++ {
		if name[i] == '.' {
			return name[:i]
		}
	}
	return name
}

func targets(fields []*field) []string {
	out := make([]string, 0, len(fields))
	for _, f := range fields {
		out = append(out, f.target)
	}
	sort.Strings(out)
	return out
}

func (c Coverage) clone() Coverage {
	c.Events = slices.Clone(c.Events)
	for i := range c.Events {
		c.Events[i].Fields = slices.Clone(c.Events[i].Fields)
	}
	c.Entities = slices.Clone(c.Entities)
	for i := range c.Entities {
		c.Entities[i].Fields = slices.Clone(c.Entities[i].Fields)
	}
	return c
}
