package event

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

var printer = message.NewPrinter(language.English)

// The catalogue is data, not code: catalog/catalog.json lists every unified
// event type with its entity type and one example, and
// catalog/schemas/<entity_type>.json is the JSON Schema of each entity. It
// lives here rather than under mappings/ because --mappings-dir replaces
// that directory, and the vocabulary must not change with it.
//
//go:embed catalog/catalog.json catalog/catalog.schema.json catalog/schemas/*.json
var catalogFiles embed.FS

// CatalogFS is the embedded catalogue, for tools that render it (docs,
// AsyncAPI) from the same files the hub checks against.
var CatalogFS fs.FS = mustSub(catalogFiles, "catalog")

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // a constant path into an embedded FS
	}
	return sub
}

// Type is one event type of the catalogue, or one an application
// registered (Registered).
type Type struct {
	Name          string `json:"name"`
	UnifiedAPI    string `json:"unified_api"`
	EntityType    string `json:"entity_type"`
	Description   string `json:"description"`
	BaseEventType string `json:"base_event_type,omitempty"`
	// Apideck: Apideck's event enum has this name verbatim.
	Apideck bool    `json:"apideck"`
	Example Example `json:"example"`
	// Registered marks an application's own type (POST /webhook/event-types).
	Registered bool `json:"-"`
}

// Example is the catalogue's example of an event type: what `switchboard
// trigger` publishes and what documentation shows.
type Example struct {
	EntityID string          `json:"entity_id"`
	Entity   json.RawMessage `json:"entity"`
}

// API is one unified API of the catalogue.
type API struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// Catalog is the loaded catalogue: types by name and schemas by entity type.
type Catalog struct {
	types   map[string]*Type
	names   []string
	apis    []API
	schemas map[string]*Schema
}

// Default is the embedded catalogue. The files are checked by tests, so a
// failure here is a build that must not run.
var Default = sync.OnceValue(func() *Catalog {
	c, err := LoadCatalog(CatalogFS)
	if err != nil {
		panic(fmt.Sprintf("embedded event catalogue: %v", err))
	}
	return c
})

// LoadCatalog reads and checks a catalogue directory: catalog.json valid
// against catalog.schema.json, every entity schema compiling, every event's
// entity type having a schema, base types existing, and every example
// valid against its schema.
func LoadCatalog(fsys fs.FS) (*Catalog, error) {
	raw, err := fs.ReadFile(fsys, "catalog.json")
	if err != nil {
		return nil, fmt.Errorf("reading catalog.json: %w", err)
	}
	meta, err := fs.ReadFile(fsys, "catalog.schema.json")
	if err != nil {
		return nil, fmt.Errorf("reading catalog.schema.json: %w", err)
	}
	metaSchema, err := compileSchema("catalog.schema.json", meta)
	if err != nil {
		return nil, err
	}
	if err := validateJSON(metaSchema, raw); err != nil {
		return nil, fmt.Errorf("catalog.json: %w", err)
	}
	var doc struct {
		APIs  []API   `json:"unified_apis"`
		Types []*Type `json:"event_types"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("decoding catalog.json: %w", err)
	}
	c := &Catalog{types: map[string]*Type{}, apis: doc.APIs, schemas: map[string]*Schema{}}
	files, err := fs.Glob(fsys, "schemas/*.json")
	if err != nil {
		return nil, fmt.Errorf("listing entity schemas: %w", err)
	}
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", f, err)
		}
		s, err := NewSchema(strings.TrimSuffix(path.Base(f), ".json"), data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		c.schemas[s.EntityType] = s
	}
	apis := map[string]bool{}
	for _, a := range doc.APIs {
		apis[a.Name] = true
	}
	var errs []error
	for _, t := range doc.Types {
		if c.types[t.Name] != nil {
			errs = append(errs, fmt.Errorf("event type %s is listed twice", t.Name))
			continue
		}
		c.types[t.Name] = t
		c.names = append(c.names, t.Name)
	}
	for _, t := range doc.Types {
		if err := c.checkType(t, apis); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("catalog.json: %w", err)
	}
	sort.Strings(c.names)
	return c, nil
}

func (c *Catalog) checkType(t *Type, apis map[string]bool) error {
	parts := strings.Split(t.Name, ".")
	switch {
	case len(parts) != 3:
		return fmt.Errorf("%s: a name is <unified_api>.<entity>.<action>", t.Name)
	case parts[0] != t.UnifiedAPI || !apis[t.UnifiedAPI]:
		return fmt.Errorf("%s: unified_api %q must be its first segment and listed in unified_apis", t.Name, t.UnifiedAPI)
	case c.schemas[t.EntityType] == nil:
		return fmt.Errorf("%s: entity type %q has no schema (schemas/%s.json)", t.Name, t.EntityType, t.EntityType)
	}
	if t.BaseEventType != "" {
		b := c.types[t.BaseEventType]
		if b == nil || b.BaseEventType != "" || b.EntityType != t.EntityType {
			return fmt.Errorf("%s: base_event_type %q must be a listed base type of the same entity", t.Name, t.BaseEventType)
		}
	}
	if err := c.schemas[t.EntityType].Validate(t.Example.Entity); err != nil {
		return fmt.Errorf("%s: example: %w", t.Name, err)
	}
	var id struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(t.Example.Entity, &id); err != nil || id.ID != t.Example.EntityID {
		return fmt.Errorf("%s: example entity_id %q must equal entity.id", t.Name, t.Example.EntityID)
	}
	return nil
}

// Lookup returns a catalogue type.
func (c *Catalog) Lookup(name string) (*Type, bool) {
	t, ok := c.types[name]
	return t, ok
}

// Types lists the catalogue, sorted by name.
func (c *Catalog) Types() []*Type {
	out := make([]*Type, len(c.names))
	for i, n := range c.names {
		out[i] = c.types[n]
	}
	return out
}

// Names lists the catalogue's event type names, sorted.
func (c *Catalog) Names() []string { return slices.Clone(c.names) }

// UnifiedAPIs lists the catalogue's unified APIs in file order.
func (c *Catalog) UnifiedAPIs() []API { return slices.Clone(c.apis) }

// HasUnifiedAPI reports whether name is one of the catalogue's unified APIs.
func (c *Catalog) HasUnifiedAPI(name string) bool {
	return slices.ContainsFunc(c.apis, func(a API) bool { return a.Name == name })
}

// Schema returns the schema of an entity type.
func (c *Catalog) Schema(entityType string) (*Schema, bool) {
	s, ok := c.schemas[entityType]
	return s, ok
}

// EntityTypes lists the entity types with a schema, sorted.
func (c *Catalog) EntityTypes() []string {
	out := make([]string, 0, len(c.schemas))
	for k := range c.schemas {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// BaseOf returns the base event type of a catalogue extension event, or "",
// so an event published as accounting.invoice.paid carries base_event_type
// accounting.invoice.updated without the publisher saying so.
func BaseOf(eventType string) string {
	if t, ok := Default().Lookup(eventType); ok {
		return t.BaseEventType
	}
	return ""
}

// Schema is one entity type's JSON Schema, compiled for validation and
// parsed for field look-ups (mapping lint, coverage).
type Schema struct {
	EntityType string
	Raw        json.RawMessage
	Root       *Node
	compiled   *jsonschema.Schema
}

// Node is the part of a JSON Schema the hub reads to walk fields: the
// catalogue's schemas use only type, properties, items and
// additionalProperties (no $ref), so a field path resolves without a
// general JSON Schema evaluator.
type Node struct {
	Types       []string         `json:"-"`
	Format      string           `json:"format,omitempty"`
	Description string           `json:"description,omitempty"`
	Properties  map[string]*Node `json:"properties,omitempty"`
	Items       *Node            `json:"items,omitempty"`
	// Closed: additionalProperties is false, so a field not in Properties
	// is an error rather than free-form data.
	Closed bool `json:"-"`
}

// UnmarshalJSON reads "type" as a string or a list and additionalProperties.
func (n *Node) UnmarshalJSON(b []byte) error {
	type plain Node
	var aux struct {
		plain
		Type       json.RawMessage `json:"type"`
		Additional json.RawMessage `json:"additionalProperties"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*n = Node(aux.plain)
	if len(aux.Type) > 0 {
		if aux.Type[0] == '"' {
			var s string
			if err := json.Unmarshal(aux.Type, &s); err != nil {
				return err
			}
			n.Types = []string{s}
		} else if err := json.Unmarshal(aux.Type, &n.Types); err != nil {
			return err
		}
	}
	n.Closed = bytes.Equal(bytes.TrimSpace(aux.Additional), []byte("false"))
	return nil
}

// Allows reports whether a value of JSON type kind ("string", "number",
// "integer", "boolean", "object", "array") fits the node. A node without a
// type takes anything.
func (n *Node) Allows(kind string) bool {
	if len(n.Types) == 0 {
		return true
	}
	for _, t := range n.Types {
		if t == kind || (t == "number" && kind == "integer") || (t == "integer" && kind == "number") {
			return true
		}
	}
	return false
}

// TypeString is the node's type list for messages: "string or null".
func (n *Node) TypeString() string {
	if len(n.Types) == 0 {
		return "any"
	}
	return strings.Join(n.Types, " or ")
}

// NewSchema compiles one entity schema.
func NewSchema(entityType string, data []byte) (*Schema, error) {
	compiled, err := compileSchema(entityType+".json", data)
	if err != nil {
		return nil, err
	}
	var root Node
	if err := json.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("reading schema of %s: %w", entityType, err)
	}
	if !root.Allows("object") || len(root.Properties) == 0 {
		return nil, fmt.Errorf("schema of %s must describe an object with properties", entityType)
	}
	return &Schema{EntityType: entityType, Raw: json.RawMessage(data), Root: &root, compiled: compiled}, nil
}

func compileSchema(name string, data []byte) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", name, err)
	}
	url := "mem:///" + name
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("adding %s: %w", name, err)
	}
	s, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("compiling %s: %w", name, err)
	}
	return s, nil
}

// Validate checks an entity against the schema. The error lists every
// failing field as "<json pointer>: <reason>".
func (s *Schema) Validate(entity json.RawMessage) error {
	if len(bytes.TrimSpace(entity)) == 0 {
		return nil
	}
	return validateJSON(s.compiled, entity)
}

func validateJSON(s *jsonschema.Schema, data []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	err = s.Validate(inst)
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	return &SchemaError{Problems: leafProblems(ve)}
}

// SchemaError lists what an entity got wrong, one problem per field.
type SchemaError struct {
	Problems []FieldProblem
}

// FieldProblem is one failing field: a JSON pointer into the entity and why.
type FieldProblem struct {
	Pointer string `json:"pointer"`
	Reason  string `json:"reason"`
}

func (e *SchemaError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Pointer + ": " + p.Reason
	}
	return strings.Join(parts, "; ")
}

func leafProblems(ve *jsonschema.ValidationError) []FieldProblem {
	var out []FieldProblem
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			ptr := "/" + strings.Join(e.InstanceLocation, "/")
			reason := e.ErrorKind.LocalizedString(printer)
			if k, ok := e.ErrorKind.(*kind.AdditionalProperties); ok {
				reason = "unknown field(s) " + strings.Join(k.Properties, ", ") + " (not in the entity schema)"
			}
			out = append(out, FieldProblem{Pointer: ptr, Reason: reason})
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	sort.Slice(out, func(i, j int) bool { return out[i].Pointer < out[j].Pointer })
	return out
}

// Field resolves a dotted target path (customer.id, line_items.0.unit_price,
// or with "[]" for "each element") in the schema. It returns the node and,
// when the path leaves the schema, the prefix that exists and the unknown
// segment.
func (s *Schema) Field(segs []string) (node *Node, known []string, missing string) {
	n := s.Root
	for i, seg := range segs {
		if seg == "[]" || isIndexSeg(seg) {
			if n.Items == nil {
				if !n.Allows("array") {
					return nil, segs[:i], seg
				}
				return &Node{}, nil, "" // free-form array
			}
			n = n.Items
			continue
		}
		child := n.Properties[seg]
		if child == nil {
			if !n.Closed && n.Allows("object") {
				return &Node{}, nil, "" // open object: anything below fits
			}
			return nil, segs[:i], seg
		}
		n = child
	}
	return n, nil, ""
}

// FieldNames lists the properties of the node at path (for suggestions).
func (n *Node) FieldNames() []string {
	out := make([]string, 0, len(n.Properties))
	for k := range n.Properties {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Leaves lists the schema's fields as dotted paths ("customer.id",
// "line_items[].unit_price"), sorted: the list a mapping editor maps onto
// and per-connector coverage is reported over.
func (s *Schema) Leaves() []string {
	var out []string
	var walk func(prefix string, n *Node)
	walk = func(prefix string, n *Node) {
		switch {
		case len(n.Properties) > 0:
			for k, c := range n.Properties {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				walk(p, c)
			}
		case n.Items != nil && len(n.Items.Properties) > 0:
			walk(prefix+"[]", n.Items)
		default:
			out = append(out, prefix)
		}
	}
	walk("", s.Root)
	sort.Strings(out)
	return out
}

func isIndexSeg(seg string) bool {
	if seg == "" || len(seg) > 4 {
		return false
	}
	for _, r := range seg {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// Suggest returns up to n of candidates closest to name (edit distance),
// closest first: the "did you mean" of every error about an unknown name.
func Suggest(name string, candidates []string, n int) []string {
	type scored struct {
		name string
		d    int
	}
	list := make([]scored, 0, len(candidates))
	for _, c := range candidates {
		list = append(list, scored{c, distance(name, c)})
	}
	sort.SliceStable(list, func(i, j int) bool {
		if list[i].d != list[j].d {
			return list[i].d < list[j].d
		}
		return list[i].name < list[j].name
	})
	var out []string
	for _, s := range list {
		if len(out) == n {
			break
		}
		if !slices.Contains(out, s.name) {
			out = append(out, s.name)
		}
	}
	return out
}

// distance is the Levenshtein distance, on bytes (names are ASCII).
func distance(a, b string) int {
	if len(a) > 256 {
		a = a[:256] // names are short; bound the work on hostile input
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
