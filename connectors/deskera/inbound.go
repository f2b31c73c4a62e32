package deskera

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/switchboardhq/switchboard/plugins"
)

// Body fields the connector reads (see the package documentation).
const (
	// FieldEventType is the body field that may carry the event type.
	FieldEventType = "eventType"
	// FieldEventID is the body field that, when Deskera sends it, names
	// the event across redeliveries.
	FieldEventID = "eventId"
	// FieldTimestamp is the body field of when the event happened.
	FieldTimestamp = "timestamp"
)

const maxIDLen = 255

// eventTypePattern is what a native event type may look like: Deskera's are
// upper-case words joined by '_'; undocumented ones are accepted (they pass
// through unmapped, catalogue rule 4) as long as they are plain tokens.
var eventTypePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$`)

// parseInbound checks a webhook body and returns its native event. conflict
// is the body's eventType when it disagrees with ?e= (which wins).
func parseInbound(query url.Values, body []byte) (ev plugins.NativeEvent, conflict string, err error) {
	fields, err := plugins.ObjectFields(body)
	if err != nil {
		return ev, "", err
	}
	fromQuery, err := queryType(query)
	if err != nil {
		return ev, "", err
	}
	fromBody, err := bodyType(fields)
	if err != nil {
		return ev, "", err
	}
	switch {
	case fromQuery != "":
		ev.Type = fromQuery
		if fromBody != "" && fromBody != fromQuery {
			conflict = fromBody
		}
	case fromBody != "":
		ev.Type = fromBody
	default:
		return ev, "", plugins.Malformed(`no event type: the URL has no ?%s= and the body no %q field`, QueryEventType, FieldEventType)
	}
	ev.Payload = normalizeDates(body)
	ev.IdempotencyKey = idempotencyKey(ev.Type, fields[FieldEventID], body)
	ev.OccurredAt = timestamp(fields[FieldTimestamp])
	return ev, conflict, nil
}

// queryType reads ?e=, the event type the connector put in the URL it
// registered. Absent or empty: "".
func queryType(q url.Values) (string, error) {
	vals := q[QueryEventType]
	if len(vals) == 0 {
		return "", nil
	}
	if len(vals) > 1 {
		return "", plugins.Malformed("query parameter %q is given %d times", QueryEventType, len(vals))
	}
	v := strings.TrimSpace(vals[0])
	if v == "" {
		return "", nil
	}
	if !eventTypePattern.MatchString(v) {
		return "", plugins.Malformed("query parameter %q must be an event type such as CREATE_INVOICE (letters, digits, '_', '.', '-', at most 100)", QueryEventType)
	}
	return v, nil
}

// bodyType reads the body's eventType field, when present.
func bodyType(fields map[string]json.RawMessage) (string, error) {
	raw, ok := fields[FieldEventType]
	if !ok || plugins.JSONKind(raw) == "null" {
		return "", nil
	}
	if k := plugins.JSONKind(raw); k != "a string" {
		return "", plugins.Malformed("body field %q must be a string, got %s", FieldEventType, k)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", plugins.Malformed("body field %q is not a valid string", FieldEventType)
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	if !eventTypePattern.MatchString(s) {
		return "", plugins.Malformed("body field %q must be an event type such as CREATE_INVOICE (letters, digits, '_', '.', '-', at most 100)", FieldEventType)
	}
	return s, nil
}

// idempotencyKey is Deskera's event id when the body carries a usable one,
// else the hex SHA-256 of the event type, a newline and the raw body. The
// type is part of the hash because the body alone may not name it (the type
// can come from ?e=): a CREATE_ and an UPDATE_ webhook with identical data
// are two events, while the same webhook redelivered is one.
func idempotencyKey(eventType string, rawID json.RawMessage, body []byte) string {
	if id, ok := eventID(rawID); ok {
		return id
	}
	h := sha256.New()
	io.WriteString(h, eventType)
	h.Write([]byte{'\n'})
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// eventID reads an eventId that is a non-empty string of at most maxIDLen
// bytes without control characters, or an integer.
func eventID(raw json.RawMessage) (string, bool) {
	switch plugins.JSONKind(raw) {
	case "a string":
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		s = strings.TrimSpace(s)
		if s == "" || len(s) > maxIDLen || strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || r == unicode.ReplacementChar }) {
			return "", false
		}
		return s, true
	case "a number":
		n := string(bytes.TrimSpace(raw))
		if _, err := strconv.ParseInt(n, 10, 64); err != nil {
			return "", false
		}
		return n, true
	}
	return "", false
}

// timestamp reads when the event happened: an RFC 3339 string, or unix
// seconds or milliseconds (values of 1e12 and above are milliseconds, as the
// hub's mapping reads them). Anything else is "unknown", which is not worth
// losing an event over: the hub then uses the time of receipt.
func timestamp(raw json.RawMessage) time.Time {
	switch plugins.JSONKind(raw) {
	case "a string":
		var s string
		if json.Unmarshal(raw, &s) == nil {
			if t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s)); err == nil {
				return t.UTC()
			}
		}
	case "a number":
		f, err := strconv.ParseFloat(string(bytes.TrimSpace(raw)), 64)
		if err != nil || f <= 0 || f > 1e16 || math.IsNaN(f) {
			return time.Time{}
		}
		if f >= 1e12 {
			return time.UnixMilli(int64(f)).UTC()
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC()
	}
	return time.Time{}
}

// dmy is Deskera's REST date format, dd-MM-yyyy.
var dmy = regexp.MustCompile(`^"[0-9]{2}-[0-9]{2}-[0-9]{4}"$`)

// normalizeDates rewrites, in place and in a copy of body, every string
// value of a member whose name ends in "Date" (invoiceDate, dueDate, ...)
// and that is a valid dd-MM-yyyy date into yyyy-MM-dd, the form the mapping
// and Apideck's model use. Both forms have ten characters, so every other
// byte of the body stays where it was. body must be valid JSON; a body with
// nothing to rewrite is returned as is.
func normalizeDates(body []byte) []byte {
	type frame struct {
		object  bool
		wantKey bool
		key     string
	}
	var (
		out   []byte
		stack []frame
	)
	// valueDone marks the current object member as complete.
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].wantKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			break // io.EOF, or invalid JSON, which the caller refused already
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				stack = append(stack, frame{object: true, wantKey: true})
			case '[':
				stack = append(stack, frame{})
			default:
				if len(stack) > 0 {
					stack = stack[:len(stack)-1]
				}
				valueDone()
			}
		case string:
			n := len(stack)
			if n > 0 && stack[n-1].object && stack[n-1].wantKey {
				stack[n-1].key, stack[n-1].wantKey = v, false
				continue
			}
			if n > 0 && stack[n-1].object && isDateKey(stack[n-1].key) {
				end := int(dec.InputOffset())
				if start := end - 12; start >= 0 && dmy.Match(body[start:end]) {
					if t, err := time.Parse("02-01-2006", v); err == nil {
						if out == nil {
							out = bytes.Clone(body)
						}
						copy(out[start+1:end-1], t.Format(time.DateOnly))
					}
				}
			}
			valueDone()
		default:
			valueDone()
		}
	}
	if out == nil {
		return body
	}
	return out
}

func isDateKey(k string) bool { return strings.HasSuffix(k, "Date") || k == "date" }
