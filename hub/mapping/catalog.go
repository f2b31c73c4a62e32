package mapping

import (
	"encoding/json"
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
