package mapping

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"
)

// Errors Apply returns. Everything else about an event, however odd, still
// produces a Result: unmapped or half-filled events are kept, never dropped.
var (
	// ErrInvalidBody: the native event is not valid JSON. The ingest path
	// answers the provider 400.
	ErrInvalidBody = errors.New("native event body is not valid JSON")
	// ErrNoEventType: neither the plugin nor any source of the mapping
	// named the native event type, so there is nothing to call the event.
	ErrNoEventType = errors.New("native event type not found")
	// ErrInvalidService: the service id cannot prefix an event type.
	ErrInvalidService = errors.New("invalid service id")
)

// Set is an immutable collection of compiled mappings, one per service. A
// *Set is safe for concurrent use; reloading builds a new Set and swaps it
// in (see Registry), so an Apply in flight always sees one consistent
// version. The nil *Set is empty: every event passes through.
type Set struct {
	services map[string]*service
}

// Input is one native event, as the connector plugin hands it over.
type Input struct {
	// NativeType is the provider's event type when the plugin knows it
	// (it split a batch, or read it from somewhere only it understands).
	// When set it wins over the mapping's native_event_type sources.
	NativeType string
	// Body is the JSON of one native event (for dVersum the whole webhook
	// body {event, timestamp, data}).
	Body []byte
	// Header and Query are the inbound request's, for event type sources
	// such as Deskera's ?e=CREATE_INVOICE. Either may be nil.
	Header http.Header
	Query  url.Values
	// OccurredAt is the plugin's idea of when the event happened. The
	// mapping's occurred_at paths win; this is the fallback before the
	// time of receipt.
	OccurredAt time.Time
}

// Result is the unified form of one native event: the fields of an
// event.Event that the mapping decides. The host adds ids, consumer,
// connection and entity_url.
type Result struct {
	EventType           string          `json:"event_type"`
	BaseEventType       string          `json:"base_event_type,omitempty"`
	UnifiedAPI          string          `json:"unified_api"`
	EntityType          string          `json:"entity_type"`
	EntityID            string          `json:"entity_id"`
	DownstreamEventType string          `json:"downstream_event_type"`
	OccurredAt          time.Time       `json:"occurred_at"`
	Entity              json.RawMessage `json:"entity"`
	// Mapped is false for pass-through events (<service_id>.<native>).
	Mapped bool `json:"mapped"`
	// Warnings name what the mapping could not do for this event (a value
	// that did not fit its type, a missing entity id); the event is kept.
	Warnings []string `json:"warnings,omitempty"`
}

// Apply maps one native event of serviceID. A service without a mapping
// file still gets its events through, as pass-through events, provided the
// plugin names the native type.
func (s *Set) Apply(serviceID string, in Input) (Result, error) {
	if !validServiceID(serviceID) {
		return Result{}, fmt.Errorf("%w: %q", ErrInvalidService, serviceID)
	}
	if !gjson.ValidBytes(in.Body) {
		return Result{}, fmt.Errorf("%s event: %w", serviceID, ErrInvalidBody)
	}
	var svc *service
	if s != nil {
		svc = s.services[serviceID]
	}
	body := gjson.ParseBytes(in.Body)
	native := strings.TrimSpace(in.NativeType)
	if native == "" && svc != nil {
		native = svc.nativeType(body, in)
	}
	if native == "" {
		return Result{}, fmt.Errorf("%s event: %w", serviceID, ErrNoEventType)
	}
	a := &applier{svc: svc, body: body, record: body}
	if svc != nil && svc.record != "" {
		a.record = body.Get(svc.record)
		if !a.record.Exists() {
			a.warnf("record %q not found in the body", svc.record)
		}
	}
	var rule *eventRule
	if svc != nil {
		rule = svc.events[native]
	}
	var out *outcome
	if rule != nil && !rule.passThrough {
		out = rule.main
		for _, b := range rule.branches {
			if b.when.eval(a.record) {
				out = b.out
				break
			}
		}
		if out == nil {
			a.warnf("no branch of %q matched; passed through", native)
		}
	}
	var res Result
	if out == nil {
		res = a.passThrough(serviceID, native)
	} else {
		res = a.mapped(native, out)
	}
	res.OccurredAt = a.occurredAt(out, in.OccurredAt)
	res.Warnings = a.warnings
	return res, nil
}

var serviceIDPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,63}$`)

func validServiceID(id string) bool { return serviceIDPattern.MatchString(id) }

func (svc *service) nativeType(body gjson.Result, in Input) string {
	for _, src := range svc.sources {
		var v string
		switch src.kind {
		case sourcePath:
			r := body.Get(src.name)
			if r.Type == gjson.String || r.Type == gjson.Number {
				v = r.String()
			}
		case sourceHeader:
			v = in.Header.Get(src.name)
		case sourceQuery:
			v = in.Query.Get(src.name)
		}
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// applier carries the state of one Apply.
type applier struct {
	svc      *service
	body     gjson.Result
	record   gjson.Result
	warnings []string
}

func (a *applier) warnf(format string, args ...any) {
	if len(a.warnings) < maxWarnings {
		a.warnings = append(a.warnings, fmt.Sprintf(format, args...))
	}
}

// maxWarnings keeps a hostile body (a huge array under an each) from
// producing an unbounded list.
const maxWarnings = 20

func (a *applier) mapped(native string, o *outcome) Result {
	res := Result{
		EventType:           o.eventType,
		BaseEventType:       o.baseEventType,
		UnifiedAPI:          o.unifiedAPI,
		EntityType:          o.entity.typ,
		DownstreamEventType: native,
		Mapped:              true,
	}
	if id, ok := idString(a.record.Get(o.entity.id)); ok {
		res.EntityID = id
	} else {
		a.warnf("entity id %q not found", o.entity.id)
	}
	t := &tree{}
	a.fill(t, a.record, o.entity.fields)
	a.fill(t, a.record, o.fields)
	a.fill(t, a.record, o.set)
	if ch := o.change; ch != nil {
		c := &tree{}
		c.set([]string{"relation"}, jsonString(ch.relation))
		c.set([]string{"action"}, jsonString(ch.action))
		if id, ok := idString(a.record.Get(ch.relatedID)); ok {
			c.set([]string{"related_id"}, jsonString(id))
		} else {
			a.warnf("change related_id %q not found", ch.relatedID)
		}
		if ch.pivot != "" {
			if p := a.record.Get(ch.pivot); p.Exists() {
				c.set([]string{"pivot"}, json.RawMessage(p.Raw))
			}
		}
		t.setTree([]string{"change"}, c)
	}
	res.Entity = t.render()
	return res
}

// passThrough keeps an event the mapping does not describe (catalogue rule
// 4): <service_id>.<native>, the raw record as entity.
func (a *applier) passThrough(serviceID, native string) Result {
	name := passThroughName(native)
	res := Result{
		EventType:           serviceID + "." + name,
		UnifiedAPI:          serviceID,
		EntityType:          passThroughEntityType(native),
		DownstreamEventType: native,
	}
	idPath := "id"
	if a.svc != nil {
		idPath = a.svc.passID
	}
	ent := a.record
	if !ent.Exists() {
		ent = a.body
	}
	if id, ok := idString(ent.Get(idPath)); ok {
		res.EntityID = id
	}
	res.Entity = compactRaw(json.RawMessage(ent.Raw))
	if len(res.Entity) == 0 {
		res.Entity = json.RawMessage("{}")
	}
	return res
}

// passThroughName turns a native event type into the tail of an event type:
// lower case, characters outside [a-z0-9_-] replaced by "_", empty segments
// dropped, each segment starting with a letter or digit.
func passThroughName(native string) string {
	var segs []string
	for _, seg := range strings.Split(strings.ToLower(native), ".") {
		var b strings.Builder
		for _, r := range seg {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '-':
				b.WriteRune(r)
			default:
				b.WriteByte('_')
			}
		}
		s := b.String()
		if s == "" {
			continue
		}
		if c := s[0]; c == '_' || c == '-' {
			s = "x" + s
		}
		segs = append(segs, s)
	}
	if len(segs) == 0 {
		return "unknown"
	}
	name := strings.Join(segs, ".")
	if len(name) > 200 {
		name = name[:200]
	}
	return name
}

// idString renders an id found in the record: strings as they are,
// numbers as written.
func idString(v gjson.Result) (string, bool) {
	switch v.Type {
	case gjson.String:
		return v.Str, v.Str != ""
	case gjson.Number:
		return strings.TrimSpace(v.Raw), true
	}
	return "", false
}

func (a *applier) occurredAt(o *outcome, fallback time.Time) time.Time {
	if o != nil {
		for _, p := range o.entity.occurredAt {
			if t, ok := parseTime(a.record.Get(p)); ok {
				return t.UTC()
			}
		}
	}
	if a.svc != nil {
		for _, p := range a.svc.occurredAt {
			if t, ok := parseTime(a.body.Get(p)); ok {
				return t.UTC()
			}
		}
	}
	if !fallback.IsZero() {
		return fallback.UTC()
	}
	return time.Now().UTC()
}

// fill evaluates fields against rec into t; later writes win.
func (a *applier) fill(t *tree, rec gjson.Result, fields []*field) {
	for _, f := range fields {
		if v, ok := a.eval(f, rec); ok {
			t.set(f.segs, v)
		}
	}
}

// eval runs one field's pipeline: when, read path (or constant), default
// when missing or null, each, map, scale, type.
func (a *applier) eval(f *field, rec gjson.Result) (json.RawMessage, bool) {
	if f.when != nil && !f.when.eval(rec) {
		return nil, false
	}
	if f.hasValue {
		return f.value, true
	}
	v := rec.Get(f.path)
	if !v.Exists() || v.Type == gjson.Null {
		if f.def != nil {
			return f.def, true
		}
		if !v.Exists() {
			return nil, false
		}
		return json.RawMessage("null"), true
	}
	if f.each != nil {
		if !v.IsArray() {
			a.warnf("%s: %q is %s, not an array", f.target, f.path, kindOf(v))
			return nil, false
		}
		var b bytes.Buffer
		b.WriteByte('[')
		for i, el := range v.Array() {
			if i > 0 {
				b.WriteByte(',')
			}
			t := &tree{}
			a.fill(t, el, f.each)
			b.Write(t.render())
		}
		b.WriteByte(']')
		return b.Bytes(), true
	}
	changed := false
	if f.table != nil {
		if m, ok := f.table[mapKey(v)]; ok {
			v, changed = gjson.ParseBytes(m), true
		} else if f.fallback != nil {
			v, changed = gjson.ParseBytes(f.fallback), true
		}
		if v.Type == gjson.Null {
			return json.RawMessage("null"), true
		}
	}
	if f.scale != nil {
		lit, ok := numberLiteral(v)
		if !ok {
			a.warnf("%s: %s cannot be scaled: not a number", f.target, describe(v))
			return nil, false
		}
		factor := f.scale
		if f.scaleInt && !isIntegerLiteral(lit) {
			factor = nil // already a decimal amount
		}
		out, err := scaleNumber(lit, factor)
		if err != nil {
			a.warnf("%s: %v", f.target, err)
			return nil, false
		}
		v, changed = gjson.ParseBytes(out), true
	}
	if f.typ != "" {
		out, err := coerce(v, f.typ)
		if err != nil {
			a.warnf("%s: %v", f.target, err)
			return nil, false
		}
		return out, true
	}
	if changed {
		return json.RawMessage(v.Raw), true
	}
	return compactRaw(json.RawMessage(v.Raw)), true
}

// mapKey is the text an enum table is looked up by: strings as they are,
// numbers as written, true/false, other JSON as written.
func mapKey(v gjson.Result) string {
	switch v.Type {
	case gjson.String:
		return v.Str
	case gjson.True:
		return "true"
	case gjson.False:
		return "false"
	}
	return strings.TrimSpace(v.Raw)
}

// tree builds the entity from dotted targets. A node is a leaf (a JSON
// value) or has children; children named by digits render as an array in
// index order, others as an object with sorted keys, so output is stable.
type tree struct {
	leaf json.RawMessage
	kids map[string]*tree
}

func (t *tree) set(segs []string, v json.RawMessage) {
	n := t.walk(segs)
	n.leaf, n.kids = v, nil
}

func (t *tree) setTree(segs []string, sub *tree) {
	n := t.walk(segs)
	*n = *sub
}

func (t *tree) walk(segs []string) *tree {
	n := t
	for _, s := range segs {
		if n.kids == nil {
			n.leaf = nil // a later sub-field replaces a value
			n.kids = map[string]*tree{}
		}
		next := n.kids[s]
		if next == nil {
			next = &tree{}
			n.kids[s] = next
		}
		n = next
	}
	return n
}

func (t *tree) render() json.RawMessage {
	var b bytes.Buffer
	t.write(&b)
	return b.Bytes()
}

func (t *tree) write(b *bytes.Buffer) {
	if t.kids == nil {
		if t.leaf == nil {
			b.WriteString("{}")
			return
		}
		if err := json.Compact(b, t.leaf); err != nil {
			b.WriteString("null")
		}
		return
	}
	keys := sortedKeys(t.kids)
	array := len(keys) > 0
	for _, k := range keys {
		if !isIndex(k) {
			array = false
			break
		}
	}
	if array {
		sort.Slice(keys, func(i, j int) bool {
			x, _ := strconv.Atoi(keys[i])
			y, _ := strconv.Atoi(keys[j])
			return x < y
		})
		b.WriteByte('[')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			t.kids[k].write(b)
		}
		b.WriteByte(']')
		return
	}
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(jsonString(k))
		b.WriteByte(':')
		t.kids[k].write(b)
	}
	b.WriteByte('}')
}
