package plugins

import (
	"bytes"
	"encoding/json"
	"errors"
)

// ObjectFields parses a webhook body that must be one JSON object and
// returns its top-level members. It refuses, as Malformed with a precise
// reason, an empty body, invalid JSON, a body that is not an object and a
// duplicated top-level key: parsers disagree on which duplicate wins, so the
// connector and the mapping could read different events.
func ObjectFields(body []byte) (map[string]json.RawMessage, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, Malformed("body is empty")
	}
	if !json.Valid(body) {
		var v any
		err := json.Unmarshal(body, &v)
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, Malformed("body is not valid JSON: %v (at byte %d)", se, se.Offset)
		}
		return nil, Malformed("body is not valid JSON")
	}
	if k := JSONKind(body); k != "an object" {
		return nil, Malformed("body must be a JSON object, got %s", k)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil { // {
		return nil, Malformed("body is not valid JSON: %v", err)
	}
	fields := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, Malformed("body is not valid JSON: %v", err)
		}
		key, _ := tok.(string)
		if _, dup := fields[key]; dup {
			return nil, Malformed("body field %q appears more than once", key)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, Malformed("body field %q is not valid JSON: %v", key, err)
		}
		fields[key] = raw
	}
	return fields, nil
}

// JSONKind names the type of a raw JSON value for error messages: "an
// object", "an array", "a string", "a boolean", "null", "a number" or
// "nothing".
func JSONKind(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}
