package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/gin-gonic/gin"
)

// DecodeJSON reads the request body into v, refusing unknown fields,
// trailing data, NUL characters and invalid UTF-8 in any string (see
// checkStrings), and returns an *Error that says what is wrong and where. The
// raw map of the top-level fields is returned too, so a PATCH can tell a field
// sent as null from one not sent. Any content type is accepted: curl -d sends
// form-urlencoded by default and refusing it helps no one.
func DecodeJSON(c *gin.Context, v any) (map[string]json.RawMessage, error) {
	body, err := readBody(c)
	if err != nil {
		return nil, err
	}
	return decodeBody(body, v, false)
}

// decodeOptionalJSON is DecodeJSON for routes whose body may be left out.
func decodeOptionalJSON(c *gin.Context, v any) (map[string]json.RawMessage, error) {
	body, err := readBody(c)
	if err != nil {
		return nil, err
	}
	return decodeBody(body, v, true)
}

// readBody reads the whole (size-limited) body; going over the limit returns
// the *http.MaxBytesError that toError turns into a 413.
func readBody(c *gin.Context) ([]byte, error) {
	if c.Request.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, err
		}
		return nil, BadRequest("", fmt.Sprintf("reading request body: %v", err))
	}
	return body, nil
}

func decodeBody(body []byte, v any, optional bool) (map[string]json.RawMessage, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return map[string]json.RawMessage{}, nil
		}
		return nil, BadRequest("", "request body is empty; send a JSON object")
	}
	if err := checkStrings(body); err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := strictDecode(body, &fields); err != nil {
		return nil, err
	}
	if fields == nil {
		return nil, BadRequest("", "request body must be a JSON object, got null")
	}
	if err := strictDecode(body, v); err != nil {
		return nil, err
	}
	return fields, nil
}

// strictDecode decodes exactly one JSON value and turns decoder errors into
// field-naming 400s.
func strictDecode(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return decodeError(err, body)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return BadRequest("", fmt.Sprintf("request body is not valid JSON: unexpected data after the JSON object at %s", position(body, dec.InputOffset())))
	}
	return nil
}

// position names a byte offset of body as "offset N (line L, column C)",
// lines and columns counted from 1, columns in bytes.
func position(body []byte, offset int64) string {
	offset = min(max(offset, 0), int64(len(body)))
	before := body[:offset]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(offset) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return fmt.Sprintf("offset %d (line %d, column %d)", offset, line, col)
}

func decodeError(err error, body []byte) error {
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntaxErr):
		return BadRequest("", fmt.Sprintf("request body is not valid JSON: %s at %s",
			strings.TrimPrefix(syntaxErr.Error(), "json: "), position(body, syntaxErr.Offset)))
	case errors.Is(err, io.ErrUnexpectedEOF):
		// The decoder reports no offset for a value cut short: the body
		// ended where a value, a comma or a closing bracket was due.
		return BadRequest("", fmt.Sprintf("request body is not valid JSON: unexpected EOF: it ends too early, at %s (truncated, or a missing closing } or ])",
			position(body, int64(len(bytes.TrimRight(body, " \t\r\n"))))))
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return BadRequest("", fmt.Sprintf("request body must be %s, got %s", jsonKind(typeErr.Type), typeErr.Value))
		}
		return BadRequest(field, fmt.Sprintf("must be %s, got %s", jsonKind(typeErr.Type), typeErr.Value))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return BadRequest(name, "is not a known field")
	default:
		var apiErr *Error
		if errors.As(err, &apiErr) {
			return apiErr
		}
		return BadRequest("", fmt.Sprintf("request body is not valid JSON: %v", err))
	}
}

// jsonKind names the JSON type a Go type decodes from, for error messages.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(jsonKind(t.Elem()), "a "), "an ") + "s"
	case reflect.Map, reflect.Struct:
		return "a JSON object"
	default:
		return "a JSON value"
	}
}
