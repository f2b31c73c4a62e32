package mapping

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"github.com/switchboardhq/switchboard/mappings"
)

const schemaURL = "https://github.com/switchboardhq/switchboard/mappings/mapping.schema.json"

// compiledSchema is the built-in mapping schema, compiled once. The engine
// validates against its own copy: the schema describes what this build
// understands, whatever a mappings directory on disk contains.
var compiledSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(mappings.Schema))
	if err != nil {
		return nil, fmt.Errorf("parsing mapping.schema.json: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, fmt.Errorf("adding mapping.schema.json: %w", err)
	}
	return c.Compile(schemaURL)
})

// schemaProblems flattens a validation error into one problem per failing
// leaf, pointer first. Wrapper nodes ("doesn't validate with ...") carry no
// information a maintainer can act on and are dropped.
func schemaProblems(err error) []*Error {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []*Error{{Reason: err.Error()}}
	}
	seen := map[string]bool{}
	var out []*Error
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		ptr := pointer(e.InstanceLocation).String()
		reason := schemaReason(e)
		if reason == "" {
			return
		}
		key := ptr + "\x00" + reason
		if seen[key] {
			return
		}
		seen[key] = true
		out = append(out, &Error{Pointer: ptr, Reason: "schema: " + reason})
	}
	walk(ve)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Pointer < out[j].Pointer })
	if len(out) == 0 {
		out = append(out, &Error{Reason: "schema: " + strings.TrimSpace(ve.Error())})
	}
	return out
}

// schemaReason words the common mistakes in the file's terms rather than
// the schema's.
func schemaReason(e *jsonschema.ValidationError) string {
	switch k := e.ErrorKind.(type) {
	case *kind.Pattern:
		last := ""
		if n := len(e.InstanceLocation); n > 0 {
			last = e.InstanceLocation[n-1]
		}
		switch {
		case last == "event_type" || last == "base_event_type":
			return fmt.Sprintf("%q is not a valid event type (<unified_api>.<entity>.<action>: lower case letters, digits, _ and -, 2 to 4 dot-separated segments)", k.Got)
		case last == "service_id":
			return fmt.Sprintf("%q is not a valid service id (lower case letters, digits and -, starting with a letter)", k.Got)
		}
	case *kind.AdditionalProperties:
		return fmt.Sprintf("unknown key(s) %s", quoteAll(k.Properties))
	}
	return e.ErrorKind.LocalizedString(printer)
}

func quoteAll(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// dupKey is a key that occurs twice in one JSON object.
type dupKey struct {
	ptr   pointer // the object holding it
	key   string
	where string
}

// duplicateKeys finds keys repeated within one object. encoding/json keeps
// the last one silently, which would hide a native event mapped twice or a
// field defined twice.
func duplicateKeys(data []byte) []dupKey {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var out []dupKey
	var walk func(ptr pointer) bool
	walk = func(ptr pointer) bool {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		d, ok := tok.(json.Delim)
		if !ok {
			return true
		}
		switch d {
		case '{':
			keys := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return false
				}
				k, _ := kt.(string)
				if keys[k] {
					out = append(out, dupKey{ptr: ptr.add(k), key: k, where: "the last one would win silently"})
				}
				keys[k] = true
				if !walk(ptr.add(k)) {
					return false
				}
			}
		case '[':
			for i := 0; dec.More(); i++ {
				if !walk(ptr.index(i)) {
					return false
				}
			}
		}
		_, err = dec.Token() // closing delimiter
		return err == nil
	}
	walk(nil)
	return out
}
