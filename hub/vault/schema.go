package vault

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/switchboardhq/switchboard/hub/api"
)

// The two documents of a connection a connector describes a schema for.
// They are also the first token of the field names in validation errors
// ("settings/base_url").
const (
	fieldSettings    = "settings"
	fieldCredentials = "credentials"
)

var printer = message.NewPrinter(language.English)

// compiled is a connector's schema compiled once per distinct document: a
// restarted connector may describe a new one.
type compiled struct {
	raw    string
	schema *jsonschema.Schema // nil: the connector describes no schema
	err    error
}

// errBadSchema marks a schema the connector describes that cannot be
// compiled: the connector's fault, not the caller's.
var errBadSchema = errors.New("connector describes an invalid JSON Schema")

// schemaFor returns the compiled schema of one document of a connector. A
// missing schema accepts any object.
func (s *Service) schemaFor(serviceID, doc string, raw []byte) (*jsonschema.Schema, error) {
	key := serviceID + "\x00" + doc
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.schemas[key]; ok && c.raw == string(raw) {
		return c.schema, c.err
	}
	c := &compiled{raw: string(raw)}
	if len(bytes.TrimSpace(raw)) > 0 {
		c.schema, c.err = compileSchema(serviceID, doc, raw)
	}
	s.schemas[key] = c
	return c.schema, c.err
}

func compileSchema(serviceID, doc string, raw []byte) (*jsonschema.Schema, error) {
	parsed, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%w: %s schema of %s is not JSON: %v", errBadSchema, doc, serviceID, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	// format is an assertion here: "format": "uri" on base_url must refuse
	// a value that is not one before a connector tries to call it.
	c.AssertFormat()
	// A connector's schema is self-contained: no $ref may reach the file
	// system or the network.
	c.UseLoader(jsonschema.SchemeURLLoader{})
	loc := "https://connectors.switchboard.invalid/" + url.PathEscape(serviceID) + "/" + doc + ".schema.json"
	if err := c.AddResource(loc, parsed); err != nil {
		return nil, fmt.Errorf("%w: %s schema of %s: %v", errBadSchema, doc, serviceID, err)
	}
	sch, err := c.Compile(loc)
	if err != nil {
		return nil, fmt.Errorf("%w: %s schema of %s: %v", errBadSchema, doc, serviceID, err)
	}
	return sch, nil
}

// validate checks v (decoded with json.Number) against sch and returns one
// FieldError per problem, named by JSON pointer under doc
// ("settings/base_url"). When secret is set (credentials) no reason quotes
// the offending value.
func validate(sch *jsonschema.Schema, doc string, v any, secret bool) []api.FieldError {
	if sch == nil {
		return nil
	}
	err := sch.Validate(v)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []api.FieldError{{Field: doc, Reason: "does not satisfy the connector's schema"}}
	}
	seen := map[api.FieldError]bool{}
	var out []api.FieldError
	add := func(fe api.FieldError) {
		if !seen[fe] {
			seen[fe] = true
			out = append(out, fe)
		}
	}
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		ptr := pointer(doc, e.InstanceLocation)
		switch k := e.ErrorKind.(type) {
		case *kind.Required:
			for _, name := range k.Missing {
				add(api.FieldError{Field: ptr + "/" + escape(name), Reason: "is required"})
			}
		case *kind.AdditionalProperties:
			for _, name := range k.Properties {
				add(api.FieldError{Field: ptr + "/" + escape(name), Reason: "is not a known field"})
			}
		default:
			add(api.FieldError{Field: ptr, Reason: reason(e.ErrorKind, secret)})
		}
	}
	walk(ve)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Field < out[j].Field })
	if len(out) == 0 {
		out = append(out, api.FieldError{Field: doc, Reason: "does not satisfy the connector's schema"})
	}
	return out
}

// reason phrases one schema failure as the reason part of "<field> <reason>".
func reason(k jsonschema.ErrorKind, secret bool) string {
	switch k := k.(type) {
	case *kind.Type:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = article(w)
		}
		return fmt.Sprintf("must be %s, got %s", strings.Join(want, " or "), k.Got)
	case *kind.Format:
		return "must be " + formatName(k.Want)
	case *kind.Pattern:
		return fmt.Sprintf("must match the pattern %q", k.Want)
	case *kind.MinLength:
		return fmt.Sprintf("must be at least %d characters long", k.Want)
	case *kind.MaxLength:
		return fmt.Sprintf("must be at most %d characters long", k.Want)
	case *kind.MinItems:
		return fmt.Sprintf("must have at least %s", items(k.Want))
	case *kind.MaxItems:
		return fmt.Sprintf("must have at most %s", items(k.Want))
	case *kind.Enum, *kind.Const:
		// The allowed values come from the schema, not from the request.
		return strings.TrimPrefix(k.LocalizedString(printer), "value ")
	}
	if secret {
		// Other messages may quote the value (minimum: got 5, ...).
		return fmt.Sprintf("does not satisfy the %q keyword of the connector's schema", strings.Join(k.KeywordPath(), "/"))
	}
	return k.LocalizedString(printer)
}

func items(n int) string {
	if n == 1 {
		return "1 item"
	}
	return fmt.Sprintf("%d items", n)
}

// article names a JSON type with its article: "an object", "a string".
func article(t string) string {
	switch t {
	case "object", "array", "integer":
		return "an " + t
	case "null":
		return "null"
	default:
		return "a " + t
	}
}

// formatName names a JSON Schema format for a reason.
func formatName(f string) string {
	switch f {
	case "uri":
		return "a URI"
	case "uri-reference":
		return "a URI reference"
	case "email":
		return "an email address"
	case "date-time":
		return "an RFC 3339 date-time"
	case "date":
		return "an RFC 3339 date"
	case "hostname":
		return "a host name"
	case "ipv4":
		return "an IPv4 address"
	case "ipv6":
		return "an IPv6 address"
	case "uuid":
		return "a UUID"
	default:
		return "a valid " + f
	}
}

// pointer is a JSON pointer under doc, without the leading slash:
// settings/event_types/0.
func pointer(doc string, tokens []string) string {
	var b strings.Builder
	b.WriteString(doc)
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(escape(t))
	}
	return b.String()
}

// escape encodes one JSON pointer token (RFC 6901).
func escape(t string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(t)
}
