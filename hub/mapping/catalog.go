package mapping

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/switchboardhq/switchboard/hub/event"
)

// The mapping's targets are checked against the event catalogue (package
// event): every event_type must be a catalogue type, its entity must be the
// catalogue's entity type, and every target field must exist in that
// entity's JSON Schema with a type the field can produce. A typo in a
// mapping is a load error naming the closest known names, not a field
// silently delivered to nobody's model.

// schemaOf returns the catalogue schema of an entity type, reporting a
// missing one at ptr.
func (c *compiler) schemaOf(ptr pointer, entityType string) *event.Schema {
	cat := c.cat
	s, ok := cat.Schema(entityType)
	if !ok {
		c.p.add(ptr, "entity type %q has no schema in the event catalogue (did you mean %s?)",
			entityType, strings.Join(event.Suggest(entityType, cat.EntityTypes(), 3), ", "))
		return nil
	}
	return s
}

// checkSchema checks fields (targets relative to prefix) against s.
func (c *compiler) checkSchema(s *event.Schema, prefix []string, fields []*field) {
	if s == nil {
		return
	}
	for _, f := range fields {
		segs := append(append([]string{}, prefix...), f.segs...)
		node, known, missing := s.Field(segs)
		if node == nil {
			where := s.EntityType
			parent := s.Root
			if len(known) > 0 {
				where += "." + strings.Join(known, ".")
				parent, _, _ = s.Field(known)
			}
			msg := "target %q: %s has no field %q"
			args := []any{f.target, where, missing}
			if parent != nil && len(parent.Properties) > 0 {
				msg += " (did you mean %s?)"
				args = append(args, strings.Join(event.Suggest(missing, parent.FieldNames(), 3), ", "))
			}
			c.p.add(f.ptr, msg, args...)
			continue
		}
		if f.each != nil {
			if !node.Allows("array") {
				c.p.add(f.ptr, "target %q: each builds an array, but %s.%s is %s", f.target, s.EntityType, strings.Join(segs, "."), node.TypeString())
				continue
			}
			c.checkSchema(s, append(segs, "[]"), f.each)
			continue
		}
		for _, kind := range f.kinds() {
			if !node.Allows(kind) {
				c.p.add(f.ptr, "target %q: the field gives %s, but %s.%s is %s", f.target, kind, s.EntityType, strings.Join(segs, "."), node.TypeString())
				break
			}
		}
	}
}

// kinds lists the JSON types a field can produce, as far as load time
// knows: a constant's type, a map's values, a type coercion or a scale. A
// plain copied path can be anything and is not checked.
func (f *field) kinds() []string {
	var out []string
	add := func(raw json.RawMessage) {
		if k := jsonKind(gjson.ParseBytes(raw)); k != "" {
			out = append(out, k)
		}
	}
	switch {
	case f.hasValue:
		add(f.value)
	case f.scale != nil:
		out = append(out, "number")
	case f.typ != "":
		switch f.typ {
		case "time", "date":
			out = append(out, "string")
		default:
			out = append(out, f.typ)
		}
	case f.table != nil:
		for _, v := range f.table {
			add(v)
		}
		if f.fallback != nil {
			add(f.fallback)
		}
	}
	if f.def != nil {
		add(f.def)
	}
	return out
}

func jsonKind(r gjson.Result) string {
	switch {
	case r.Type == gjson.String:
		return "string"
	case r.Type == gjson.Number:
		return "number"
	case r.Type == gjson.True || r.Type == gjson.False:
		return "boolean"
	case r.IsArray():
		return "array"
	case r.IsObject():
		return "object"
	}
	return "" // null fits every catalogue field
}

// ConnectorCoverage is what one connector's mapping fills of an event
// type's entity: Apideck's "mapping coverage per connector".
type ConnectorCoverage struct {
	ServiceID            string          `json:"service_id"`
	DownstreamEventTypes []string        `json:"downstream_event_types"`
	Coverage             map[string]bool `json:"coverage"`
}

// EventTypeCoverage lists, per service that emits eventType, its native
// events and which of the schema's fields (event.Schema.Leaves) it fills.
// A field counts as filled when a target writes it (each targets count
// per element field), a part of it, or the object it is part of.
func (s *Set) EventTypeCoverage(eventType string, schema *event.Schema) []ConnectorCoverage {
	var out []ConnectorCoverage
	for _, id := range s.Services() {
		svc := s.services[id]
		var natives []string
		filled := map[string]bool{}
		for _, native := range sortedKeys(svc.events) {
			rule := svc.events[native]
			outs := []*outcome{rule.main}
			for _, b := range rule.branches {
				outs = append(outs, b.out)
			}
			hit := false
			for _, o := range outs {
				if o == nil || o.eventType != eventType {
					continue
				}
				hit = true
				addTargets(filled, "", append(append(slices.Clone(o.entity.fields), o.fields...), o.set...))
				if o.change != nil {
					filled["change"] = true
				}
			}
			if hit {
				natives = append(natives, native)
			}
		}
		if len(natives) == 0 {
			continue
		}
		cov := ConnectorCoverage{ServiceID: id, DownstreamEventTypes: natives, Coverage: map[string]bool{}}
		if schema != nil {
			for _, leaf := range schema.Leaves() {
				cov.Coverage[leaf] = covers(filled, leaf)
			}
		}
		out = append(out, cov)
	}
	return out
}

// addTargets records the targets of fields (and of each elements) as
// schema leaves are written.
func addTargets(filled map[string]bool, prefix string, fields []*field) {
	for _, f := range fields {
		t := prefix + normTarget(f.segs)
		if f.each != nil {
			addTargets(filled, t+"[].", f.each)
			continue
		}
		filled[t] = true
	}
}

// normTarget writes a target as schema leaves are written: indexes as [].
func normTarget(segs []string) string {
	var b strings.Builder
	for i, s := range segs {
		switch {
		case isIndex(s):
			b.WriteString("[]")
			continue
		case i > 0:
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
}

func covers(filled map[string]bool, leaf string) bool {
	for t := range filled {
		if t == leaf || strings.HasPrefix(leaf, t+".") || strings.HasPrefix(leaf, t+"[]") || strings.HasPrefix(t, leaf+".") || strings.HasPrefix(t, leaf+"[]") {
			return true
		}
	}
	return false
}
