package mapping

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/tidwall/gjson"
)

// The compiled form of one mapping file. Everything a lookup needs is
// resolved at load (entity references, base event types, scale factors), so
// Apply does no validation and cannot fail on a mapping problem.
type service struct {
	id          string
	file        string
	description string
	version     string
	raw         []byte
	hash        [sha256.Size]byte

	record     string // gjson path of the record in the body; "" = body
	sources    []typeSource
	occurredAt []string // paths against the body
	passID     string   // id path of pass-through records

	entities map[string]*entity
	events   map[string]*eventRule
	coverage Coverage
}

type sourceKind int

const (
	sourcePath sourceKind = iota
	sourceHeader
	sourceQuery
)

type typeSource struct {
	kind sourceKind
	name string
}

type entity struct {
	name       string
	typ        string
	id         string
	occurredAt []string // paths against the record
	fields     []*field
	index      *targetIndex // of fields, for checking events against them
}

type field struct {
	target string   // dotted target path, as written
	segs   []string // target split on "."
	ptr    pointer  // where it was defined, for load errors

	path     string
	value    json.RawMessage // constant (value, or a set entry)
	hasValue bool
	when     *cond
	def      json.RawMessage // default; nil = none

	table    map[string]json.RawMessage
	fallback json.RawMessage // the "*" entry; nil = none

	scale    *big.Rat
	scaleInt bool // scale only numbers written as integers

	typ  string
	each []*field
}

type change struct {
	relation, action string
	relatedID, pivot string
}

// outcome is what a native event (or one of its branches) turns into.
type outcome struct {
	eventType     string
	baseEventType string
	unifiedAPI    string
	entity        *entity
	fields        []*field
	set           []*field
	change        *change
}

type branch struct {
	when *cond
	out  *outcome
}

type eventRule struct {
	native      string
	passThrough bool
	main        *outcome // nil when only branches decide
	branches    []branch
}

// The decoded file, before checks. Field names follow the JSON keys.
type fileDoc struct {
	Schema          string               `json:"$schema"`
	Comment         string               `json:"$comment"`
	ServiceID       string               `json:"service_id"`
	Description     string               `json:"description"`
	Version         string               `json:"version"`
	Record          string               `json:"record"`
	NativeEventType json.RawMessage      `json:"native_event_type"`
	OccurredAt      json.RawMessage      `json:"occurred_at"`
	PassThrough     *passThroughDoc      `json:"pass_through"`
	Entities        map[string]entityDoc `json:"entities"`
	Events          map[string]eventDoc  `json:"events"`
}

type passThroughDoc struct {
	Description string `json:"description"`
	ID          string `json:"id"`
}

type sourceDoc struct {
	Description string `json:"description"`
	Path        string `json:"path"`
	Header      string `json:"header"`
	Query       string `json:"query"`
}

type entityDoc struct {
	Description string                     `json:"description"`
	Type        string                     `json:"type"`
	ID          string                     `json:"id"`
	OccurredAt  json.RawMessage            `json:"occurred_at"`
	Fields      map[string]json.RawMessage `json:"fields"`
}

type outcomeDoc struct {
	Description   string                     `json:"description"`
	EventType     string                     `json:"event_type"`
	BaseEventType string                     `json:"base_event_type"`
	Entity        string                     `json:"entity"`
	Fields        map[string]json.RawMessage `json:"fields"`
	Set           map[string]json.RawMessage `json:"set"`
	Change        *changeDoc                 `json:"change"`
}

type eventDoc struct {
	outcomeDoc
	PassThrough bool        `json:"pass_through"`
	Branches    []branchDoc `json:"branches"`
}

type branchDoc struct {
	outcomeDoc
	When json.RawMessage `json:"when"`
}

type changeDoc struct {
	Description string `json:"description"`
	Relation    string `json:"relation"`
	Action      string `json:"action"`
	RelatedID   string `json:"related_id"`
	Pivot       string `json:"pivot"`
}

type fieldDoc struct {
	Description string                     `json:"description"`
	Path        string                     `json:"path"`
	Value       json.RawMessage            `json:"value"`
	When        json.RawMessage            `json:"when"`
	Default     json.RawMessage            `json:"default"`
	Map         map[string]json.RawMessage `json:"map"`
	Scale       json.Number                `json:"scale"`
	ScaleWhen   string                     `json:"scale_when"`
	Type        string                     `json:"type"`
	Each        map[string]json.RawMessage `json:"each"`
}

type condDoc struct {
	Description string            `json:"description"`
	Path        string            `json:"path"`
	Equals      json.RawMessage   `json:"equals"`
	NotEquals   json.RawMessage   `json:"not_equals"`
	In          []json.RawMessage `json:"in"`
	Exists      *bool             `json:"exists"`
	All         []json.RawMessage `json:"all"`
	Any         []json.RawMessage `json:"any"`
}

// compileFile turns one mapping file into a service, or reports every
// problem found in it.
func compileFile(name string, data []byte, cat *event.Catalog) (*service, error) {
	p := &problems{file: name}
	doc, ok := decodeChecked(p, data)
	if !ok {
		return nil, p.err()
	}
	if cat == nil {
		cat = event.Default()
	}
	c := &compiler{p: p, cat: cat}
	svc := c.service(name, doc)
	if err := p.err(); err != nil {
		return nil, err
	}
	svc.raw = slices.Clone(data)
	svc.hash = sha256.Sum256(data)
	svc.coverage = svc.buildCoverage()
	return svc, nil
}

// decodeChecked parses the file, rejects duplicate keys (encoding/json would
// silently keep the last one, hiding e.g. a native event mapped twice),
// validates it against the schema and decodes it.
func decodeChecked(p *problems, data []byte) (*fileDoc, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var inst any
	if err := dec.Decode(&inst); err != nil {
		p.add(nil, "invalid JSON: %s", describeJSONError(data, err))
		return nil, false
	}
	end := dec.InputOffset()
	if _, err := dec.Token(); err != io.EOF {
		for end < int64(len(data)) && strings.ContainsRune(" \t\r\n", rune(data[end])) {
			end++
		}
		p.add(nil, "invalid JSON: unexpected data after the top-level value at %s", lineCol(data, end))
		return nil, false
	}
	for _, d := range duplicateKeys(data) {
		p.add(d.ptr, "duplicate key %q (%s)", d.key, d.where)
	}
	if len(p.list) > 0 {
		return nil, false
	}
	sch, err := compiledSchema()
	if err != nil {
		p.add(nil, "mapping schema does not compile: %v", err)
		return nil, false
	}
	if err := sch.Validate(inst); err != nil {
		for _, e := range schemaProblems(err) {
			p.list = append(p.list, &Error{File: p.file, Pointer: e.Pointer, Reason: e.Reason})
		}
		return nil, false
	}
	var doc fileDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		// The schema admits only what fileDoc can hold; reaching this is a
		// bug in the schema, reported rather than hidden.
		p.add(nil, "cannot decode mapping: %v", err)
		return nil, false
	}
	return &doc, true
}

func describeJSONError(data []byte, err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s at %s", se.Error(), lineCol(data, se.Offset-1))
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of file"
	}
	return err.Error()
}

// lineCol locates the byte at index off as 1-based line and column.
func lineCol(data []byte, off int64) string {
	p := position(data, off)
	return fmt.Sprintf("line %d, column %d", p.Line, p.Column)
}

type compiler struct {
	p   *problems
	cat *event.Catalog // the vocabulary targets are checked against
}

func (c *compiler) service(name string, doc *fileDoc) *service {
	svc := &service{
		id:          doc.ServiceID,
		file:        name,
		description: doc.Description,
		version:     doc.Version,
		record:      doc.Record,
		passID:      "id",
		entities:    map[string]*entity{},
		events:      map[string]*eventRule{},
	}
	if want := strings.TrimSuffix(name, ".json"); doc.ServiceID != want {
		c.p.add(pointer{"service_id"}, "service_id %q does not match the file name (want %q)", doc.ServiceID, want)
	}
	if doc.Record != "" {
		c.path(pointer{"record"}, doc.Record)
	}
	svc.sources = c.sources(pointer{"native_event_type"}, doc.NativeEventType)
	svc.occurredAt = c.paths(pointer{"occurred_at"}, doc.OccurredAt)
	if doc.PassThrough != nil && doc.PassThrough.ID != "" {
		if c.path(pointer{"pass_through", "id"}, doc.PassThrough.ID) {
			svc.passID = doc.PassThrough.ID
		}
	}
	for _, name := range sortedKeys(doc.Entities) {
		svc.entities[name] = c.entity(pointer{"entities", name}, name, doc.Entities[name])
	}
	for _, native := range sortedKeys(doc.Events) {
		svc.events[native] = c.event(pointer{"events", native}, native, doc.Events[native], svc)
	}
	return svc
}

// path checks one gjson path and reports whether it is usable.
func (c *compiler) path(ptr pointer, p string) bool {
	if err := checkPath(p); err != nil {
		c.p.add(ptr, "%v", err)
		return false
	}
	return true
}

func (c *compiler) paths(ptr pointer, raw json.RawMessage) []string {
	if len(raw) == 0 {
		return nil
	}
	var list []string
	if raw[0] == '[' {
		_ = json.Unmarshal(raw, &list)
		var ok []string
		for i, p := range list {
			if c.path(ptr.index(i), p) {
				ok = append(ok, p)
			}
		}
		return ok
	}
	var one string
	_ = json.Unmarshal(raw, &one)
	if c.path(ptr, one) {
		return []string{one}
	}
	return nil
}

func (c *compiler) sources(ptr pointer, raw json.RawMessage) []typeSource {
	var docs []sourceDoc
	var ptrs []pointer
	if len(raw) > 0 && raw[0] == '[' {
		_ = json.Unmarshal(raw, &docs)
		for i := range docs {
			ptrs = append(ptrs, ptr.index(i))
		}
	} else {
		var d sourceDoc
		_ = json.Unmarshal(raw, &d)
		docs, ptrs = []sourceDoc{d}, []pointer{ptr}
	}
	var out []typeSource
	for i, d := range docs {
		n := 0
		for _, s := range []string{d.Path, d.Header, d.Query} {
			if s != "" {
				n++
			}
		}
		if n != 1 {
			c.p.add(ptrs[i], "a native event type source needs exactly one of path, header or query")
			continue
		}
		switch {
		case d.Path != "":
			if c.path(ptrs[i].add("path"), d.Path) {
				out = append(out, typeSource{sourcePath, d.Path})
			}
		case d.Header != "":
			out = append(out, typeSource{sourceHeader, d.Header})
		default:
			out = append(out, typeSource{sourceQuery, d.Query})
		}
	}
	return out
}

func (c *compiler) entity(ptr pointer, name string, d entityDoc) *entity {
	e := &entity{name: name, typ: d.Type, id: d.ID}
	c.path(ptr.add("id"), d.ID)
	e.occurredAt = c.paths(ptr.add("occurred_at"), d.OccurredAt)
	e.fields = c.fields(ptr.add("fields"), d.Fields)
	c.checkTargets(nil, e.fields)
	c.checkSchema(c.schemaOf(ptr.add("type"), d.Type), nil, e.fields)
	e.index = newTargetIndex(e.fields)
	return e
}

func (c *compiler) fields(ptr pointer, docs map[string]json.RawMessage) []*field {
	var out []*field
	for _, target := range sortedKeys(docs) {
		if f := c.field(ptr.add(target), target, docs[target]); f != nil {
			out = append(out, f)
		}
	}
	return out
}

var fieldTypes = map[string]bool{"string": true, "number": true, "integer": true, "boolean": true, "time": true, "date": true}

func (c *compiler) field(ptr pointer, target string, raw json.RawMessage) *field {
	f := &field{target: target, segs: strings.Split(target, "."), ptr: ptr}
	if len(raw) > 0 && raw[0] == '"' {
		_ = json.Unmarshal(raw, &f.path)
		c.path(ptr, f.path)
		return f
	}
	var d fieldDoc
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&d); err != nil {
		c.p.add(ptr, "cannot decode field: %v", err)
		return nil
	}
	hasPath, hasValue := d.Path != "", d.Value != nil
	if hasPath == hasValue {
		c.p.add(ptr, "a field needs exactly one of path or value")
		return nil
	}
	if hasValue {
		var extra []string
		for k, set := range map[string]bool{"default": d.Default != nil, "map": d.Map != nil, "scale": d.Scale != "", "scale_when": d.ScaleWhen != "", "type": d.Type != "", "each": d.Each != nil} {
			if set {
				extra = append(extra, k)
			}
		}
		if len(extra) > 0 {
			sort.Strings(extra)
			c.p.add(ptr, "a constant value takes no %s (only when)", strings.Join(extra, ", "))
		}
		f.value, f.hasValue = compactRaw(d.Value), true
	} else {
		f.path = d.Path
		c.path(ptr.add("path"), d.Path)
	}
	if d.When != nil {
		f.when = c.cond(ptr.add("when"), d.When)
	}
	if d.Default != nil {
		f.def = compactRaw(d.Default)
	}
	if d.Type != "" && !fieldTypes[d.Type] {
		c.p.add(ptr.add("type"), "unknown type %q", d.Type)
	}
	f.typ = d.Type
	if d.Scale != "" {
		// Bounded before big.Rat sees it: SetString("1e999999999") would
		// expand the power of ten.
		v, err := strconv.ParseFloat(string(d.Scale), 64)
		r, ok := new(big.Rat), false
		if err == nil && len(d.Scale) <= 64 && math.Abs(v) >= 1e-30 && math.Abs(v) <= 1e30 {
			_, ok = r.SetString(string(d.Scale))
		}
		if !ok {
			c.p.add(ptr.add("scale"), "scale %s must be a non-zero number of magnitude 1e-30 to 1e30", d.Scale)
		} else {
			f.scale = r
		}
	}
	switch d.ScaleWhen {
	case "", "always":
	case "integer":
		f.scaleInt = true
	default:
		c.p.add(ptr.add("scale_when"), "scale_when must be always or integer, not %q", d.ScaleWhen)
	}
	if d.ScaleWhen != "" && d.Scale == "" {
		c.p.add(ptr.add("scale_when"), "scale_when needs scale")
	}
	if d.Map != nil {
		c.table(ptr.add("map"), f, d.Map)
	}
	if d.Each != nil {
		if d.Map != nil || d.Scale != "" || d.Type != "" {
			c.p.add(ptr.add("each"), "each cannot be combined with map, scale or type")
		}
		f.each = c.fields(ptr.add("each"), d.Each)
		c.checkTargets(nil, f.each)
	}
	return f
}

// table compiles an enum table and checks that every value it yields can go
// through the rest of the field's pipeline (scale, type).
func (c *compiler) table(ptr pointer, f *field, m map[string]json.RawMessage) {
	f.table = map[string]json.RawMessage{}
	for _, k := range sortedKeys(m) {
		v := compactRaw(m[k])
		res := gjson.ParseBytes(v)
		if res.IsObject() || res.IsArray() {
			c.p.add(ptr.add(k), "map values must be strings, numbers, booleans or null")
			continue
		}
		if k == "" {
			c.p.add(ptr.add(k), "map keys must not be empty")
			continue
		}
		if f.scale != nil && res.Type != gjson.Number && res.Type != gjson.Null {
			c.p.add(ptr.add(k), "map value %s cannot be scaled: not a number", v)
		}
		if f.typ != "" && f.scale == nil && res.Type != gjson.Null {
			if _, err := coerce(res, f.typ); err != nil {
				c.p.add(ptr.add(k), "map value %s does not fit type %s: %v", v, f.typ, err)
			}
		}
		if k == "*" {
			f.fallback = v
			continue
		}
		f.table[k] = v
	}
}

func (c *compiler) cond(ptr pointer, raw json.RawMessage) *cond {
	if len(raw) > 0 && raw[0] == '"' {
		var p string
		_ = json.Unmarshal(raw, &p)
		if !c.path(ptr, p) {
			return nil
		}
		return &cond{op: opTruthy, path: p}
	}
	var d condDoc
	if err := json.Unmarshal(raw, &d); err != nil {
		c.p.add(ptr, "cannot decode condition: %v", err)
		return nil
	}
	var ops []string
	for name, set := range map[string]bool{"equals": d.Equals != nil, "not_equals": d.NotEquals != nil, "in": d.In != nil, "exists": d.Exists != nil, "all": d.All != nil, "any": d.Any != nil} {
		if set {
			ops = append(ops, name)
		}
	}
	sort.Strings(ops)
	if len(ops) > 1 {
		c.p.add(ptr, "a condition takes one operator, got %s", strings.Join(ops, ", "))
		return nil
	}
	k := &cond{path: d.Path}
	switch {
	case d.All != nil || d.Any != nil:
		if d.Path != "" {
			c.p.add(ptr.add("path"), "all and any take no path (their conditions have their own)")
			return nil
		}
		list, name := d.All, "all"
		k.op = opAll
		if d.Any != nil {
			list, name, k.op = d.Any, "any", opAny
		}
		for i, sub := range list {
			if s := c.cond(ptr.add(name).index(i), sub); s != nil {
				k.subs = append(k.subs, s)
			}
		}
		return k
	case d.Path == "":
		c.p.add(ptr, "a condition needs a path")
		return nil
	}
	if !c.path(ptr.add("path"), d.Path) {
		return nil
	}
	switch {
	case d.Equals != nil:
		k.op, k.vals = opEquals, []gjson.Result{gjson.ParseBytes(compactRaw(d.Equals))}
	case d.NotEquals != nil:
		k.op, k.vals = opNotEquals, []gjson.Result{gjson.ParseBytes(compactRaw(d.NotEquals))}
	case d.In != nil:
		k.op = opIn
		for _, v := range d.In {
			k.vals = append(k.vals, gjson.ParseBytes(compactRaw(v)))
		}
	case d.Exists != nil:
		k.op, k.exists = opExists, *d.Exists
	default:
		k.op = opTruthy
	}
	for i, v := range k.vals {
		if v.IsObject() || v.IsArray() {
			vp := ptr.add("equals")
			switch k.op {
			case opNotEquals:
				vp = ptr.add("not_equals")
			case opIn:
				vp = ptr.add("in").index(i)
			}
			c.p.add(vp, "conditions compare with strings, numbers, booleans or null only")
			return nil
		}
	}
	return k
}

func (c *compiler) event(ptr pointer, native string, d eventDoc, svc *service) *eventRule {
	rule := &eventRule{native: native}
	if d.PassThrough {
		rule.passThrough = true
		var extra []string
		for _, k := range []struct {
			name string
			set  bool
		}{
			{"event_type", d.EventType != ""}, {"base_event_type", d.BaseEventType != ""}, {"entity", d.Entity != ""},
			{"fields", d.Fields != nil}, {"set", d.Set != nil}, {"change", d.Change != nil}, {"branches", d.Branches != nil},
		} {
			if k.set {
				extra = append(extra, k.name)
			}
		}
		if len(extra) > 0 {
			c.p.add(ptr, "a pass_through event takes no %s", strings.Join(extra, ", "))
		}
		return rule
	}
	if d.EventType == "" && len(d.Branches) == 0 {
		c.p.add(ptr, "an event needs event_type and entity, branches, or pass_through: true")
		return rule
	}
	// Without an event-level event_type, the event's other keys are only
	// defaults for its branches.
	evParts := c.parts(ptr, d.outcomeDoc)
	if d.EventType != "" {
		rule.main = c.outcome(ptr, ptr, d.outcomeDoc, evParts, svc)
	}
	for i, b := range d.Branches {
		bp := ptr.add("branches").index(i)
		merged, typePtr, entityPtr := b.outcomeDoc, bp, bp
		if merged.EventType == "" {
			if b.BaseEventType != "" {
				c.p.add(bp.add("base_event_type"), "a branch that sets base_event_type must also set event_type")
			}
			merged.EventType, merged.BaseEventType, typePtr = d.EventType, d.BaseEventType, ptr
		}
		if merged.Entity == "" {
			merged.Entity, entityPtr = d.Entity, ptr
		}
		bParts := c.parts(bp, b.outcomeDoc)
		if b.Fields == nil {
			bParts.fields = evParts.fields
		}
		if b.Set == nil {
			bParts.set = evParts.set
		}
		if b.Change == nil {
			bParts.change, bParts.changeField = evParts.change, evParts.changeField
		}
		when := c.cond(bp.add("when"), b.When)
		if merged.EventType == "" {
			c.p.add(bp, "a branch needs an event_type (or one on the event to inherit)")
			continue
		}
		if merged.Entity == "" {
			c.p.add(bp, "a branch needs an entity (or one on the event to inherit)")
			continue
		}
		out := c.outcome(typePtr, entityPtr, merged, bParts, svc)
		if when != nil && out != nil {
			rule.branches = append(rule.branches, branch{when: when, out: out})
		}
	}
	return rule
}

// parts are the per-event additions to an entity: fields, set, change.
type parts struct {
	fields, set []*field
	change      *change
	changeField *field // the "change" target, for conflict checks
}

func (c *compiler) parts(ptr pointer, d outcomeDoc) parts {
	var ps parts
	ps.fields = c.fields(ptr.add("fields"), d.Fields)
	for _, target := range sortedKeys(d.Set) {
		ps.set = append(ps.set, &field{target: target, segs: strings.Split(target, "."), ptr: ptr.add("set", target), value: compactRaw(d.Set[target]), hasValue: true})
	}
	if ch := d.Change; ch != nil {
		cp := ptr.add("change")
		switch ch.Action {
		case "attached", "detached", "updated":
		default:
			c.p.add(cp.add("action"), "action must be attached, detached or updated, not %q", ch.Action)
		}
		c.path(cp.add("related_id"), ch.RelatedID)
		if ch.Pivot != "" {
			c.path(cp.add("pivot"), ch.Pivot)
		}
		ps.change = &change{relation: ch.Relation, action: ch.Action, relatedID: ch.RelatedID, pivot: ch.Pivot}
		ps.changeField = &field{target: "change", segs: []string{"change"}, ptr: cp}
	}
	return ps
}

// outcome resolves an event type and entity reference. typePtr and
// entityPtr point at where event_type and entity were written (a branch may
// inherit them from its event).
func (c *compiler) outcome(typePtr, entityPtr pointer, d outcomeDoc, ps parts, svc *service) *outcome {
	o := &outcome{eventType: d.EventType, baseEventType: d.BaseEventType, fields: ps.fields, set: ps.set, change: ps.change}
	ok := true
	cat := c.cat
	ct, known := cat.Lookup(d.EventType)
	if !known {
		c.p.add(typePtr.add("event_type"), "%q is not an event type of the catalogue (did you mean %s?)",
			d.EventType, strings.Join(event.Suggest(d.EventType, cat.Names(), 3), ", "))
		ok = false
	}
	o.unifiedAPI = event.UnifiedAPIOf(d.EventType)
	switch {
	case !known:
	case d.BaseEventType == "":
		o.baseEventType = ct.BaseEventType
	case d.BaseEventType != ct.BaseEventType:
		want := ct.BaseEventType
		if want == "" {
			want = "none"
		}
		c.p.add(typePtr.add("base_event_type"), "base_event_type %q: the catalogue's base type of %s is %s", d.BaseEventType, d.EventType, want)
		ok = false
	}
	if ok && o.unifiedAPI == svc.id {
		c.p.add(typePtr.add("event_type"), "%q uses the service id as unified API; that prefix is reserved for pass-through events", d.EventType)
		ok = false
	}
	switch {
	case d.Entity == "":
		c.p.add(entityPtr, "event_type %s needs an entity", d.EventType)
		ok = false
	case svc.entities[d.Entity] == nil:
		c.p.add(entityPtr.add("entity"), "entity %q is not defined", d.Entity)
		ok = false
	default:
		o.entity = svc.entities[d.Entity]
		if known && o.entity.typ != ct.EntityType {
			c.p.add(entityPtr.add("entity"), "entity %q has type %q, but %s carries entity type %s", d.Entity, o.entity.typ, d.EventType, ct.EntityType)
			ok = false
		}
	}
	// The event's own targets must fit with the entity's: the same target
	// overrides, but a value and an object at one place cannot both be.
	var base *targetIndex
	if o.entity != nil {
		base = o.entity.index
	}
	extra := append(append([]*field{}, o.fields...), o.set...)
	if ps.changeField != nil {
		extra = append(extra, ps.changeField)
	}
	c.checkTargets(base, extra)
	if known {
		if s, has := cat.Schema(ct.EntityType); has {
			c.checkSchema(s, nil, extra)
		}
	}
	if !ok {
		return nil
	}
	return o
}

// targetIndex answers the questions checkTargets asks about a list of
// fields in constant time, so checking an event against a large entity does
// not cost entity size per event.
type targetIndex struct {
	targets  map[string]*field    // target -> field
	prefixes map[string]*field    // proper prefix -> a field below it
	kinds    map[string][2]*field // parent -> {a child that is an index, a child that is a key}
}

func newTargetIndex(fields []*field) *targetIndex {
	ix := &targetIndex{targets: map[string]*field{}, prefixes: map[string]*field{}, kinds: map[string][2]*field{}}
	for _, f := range fields {
		if ix.targets[f.target] == nil {
			ix.targets[f.target] = f
		}
		for k := 1; k < len(f.segs); k++ {
			parent := strings.Join(f.segs[:k], ".")
			if ix.prefixes[parent] == nil {
				ix.prefixes[parent] = f
			}
			v := ix.kinds[parent]
			n := 1
			if isIndex(f.segs[k]) {
				n = 0
			}
			if v[n] == nil {
				v[n] = f
			}
			ix.kinds[parent] = v
		}
	}
	return ix
}

var emptyIndex = newTargetIndex(nil)

// checkTargets reports target paths that cannot be built together: one that
// is a strict prefix of another ("customer" and "customer.id"), siblings
// mixing array indexes and keys ("emails.0" and "emails.primary"), and an
// index as first segment. base (an entity's fields, checked already) may be
// nil; only problems involving extra are reported, at the extra field.
func (c *compiler) checkTargets(base *targetIndex, extra []*field) {
	if base == nil {
		base = emptyIndex
	}
	own := newTargetIndex(extra)
	conflict := func(at *field, long, short string) {
		c.p.add(at.ptr, "target %q conflicts with %q: a field cannot hold both a value and sub-fields", long, short)
	}
	for _, e := range extra {
		for k := 1; k < len(e.segs); k++ {
			p := strings.Join(e.segs[:k], ".")
			if f := base.targets[p]; f != nil {
				conflict(e, e.target, f.target)
			}
			if f := own.targets[p]; f != nil {
				conflict(e, e.target, f.target)
			}
		}
		if f := base.prefixes[e.target]; f != nil {
			conflict(e, f.target, e.target)
		}
		if isIndex(e.segs[0]) {
			c.p.add(e.ptr, "target %q: the entity is an object, its first segment cannot be an array index", e.target)
		}
	}
	for _, parent := range sortedKeys(own.kinds) {
		k, b := own.kinds[parent], base.kinds[parent]
		if b[0] != nil && b[1] != nil {
			continue // base's own problem, reported with the entity
		}
		if (k[0] != nil || b[0] != nil) && (k[1] != nil || b[1] != nil) {
			at := k[0]
			if at == nil || (k[1] != nil && k[1].ptr.String() > at.ptr.String()) {
				at = k[1]
			}
			c.p.add(at.ptr, "targets under %q mix array indexes and keys", parent)
		}
	}
}

func isIndex(seg string) bool {
	if seg == "" || len(seg) > 4 {
		return false
	}
	_, err := strconv.Atoi(seg)
	return err == nil && seg[0] >= '0' && seg[0] <= '9'
}

func compactRaw(raw json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return raw
	}
	return b.Bytes()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
