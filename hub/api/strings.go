package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// nulEscape is how JSON spells a NUL character inside a string; surrogate
// escapes (\uD800-\uDFFF) start with one of surrogatePrefixes.
var (
	nulEscape         = []byte(`\u0000`)
	surrogatePrefixes = [][]byte{[]byte(`\ud`), []byte(`\uD`)}
)

// checkStrings refuses a JSON body with a NUL character (sent as the escape
// \u0000), bytes that are not UTF-8 or a lone UTF-16 surrogate escape
// (\ud800 without its pair) in any string, naming the field.
// Neither can be stored the same way by both stores: PostgreSQL refuses NUL
// in text and jsonb (the request used to end in a 500, and a provider
// retries a 500 forever), SQLite stores it and the hub then delivered
// invalid JSON. Go's decoder would turn bad bytes into U+FFFD silently in a
// string field but keep them inside a json.RawMessage (the entity), so the
// check runs on the raw body, before decoding, for every field alike.
func checkStrings(body []byte) error {
	// Fast path: nearly every body is valid UTF-8 without those escapes.
	if utf8.Valid(body) && !bytes.Contains(body, nulEscape) &&
		!bytes.Contains(body, surrogatePrefixes[0]) && !bytes.Contains(body, surrogatePrefixes[1]) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var path jsonPath
	prev := int64(0)
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			// Not JSON: the decode that follows says where.
			return nil
		}
		off := dec.InputOffset()
		raw := body[prev:off]
		prev = off
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				path.push(true)
			case '[':
				path.push(false)
			default:
				path.pop()
				path.valueDone()
			}
			continue
		case string:
			isKey := path.expectingKey()
			field := path.String()
			if isKey {
				field = path.child(t)
			}
			if !utf8.Valid(raw) {
				return BadRequest(field, "contains bytes that are not valid UTF-8; send text as UTF-8")
			}
			if loneSurrogate(raw) {
				// Go decodes it as U+FFFD, but a json.RawMessage keeps the
				// escape, and PostgreSQL's jsonb refuses it.
				return BadRequest(field, "contains an unpaired UTF-16 surrogate escape (\\uD800-\\uDFFF), which is not text")
			}
			if strings.ContainsRune(t, 0) {
				return BadRequest(field, `contains a NUL character (\u0000), which cannot be stored; remove it`)
			}
			if isKey {
				path.setKey(t)
				continue
			}
		}
		path.valueDone()
	}
}

// jsonPath tracks where a token stream is, to name a field as the API's
// errors do: entity.customer.name, events[2].
type jsonPath struct{ frames []pathFrame }

type pathFrame struct {
	object    bool
	key       string
	index     int
	expectKey bool
}

func (p *jsonPath) push(object bool) {
	p.frames = append(p.frames, pathFrame{object: object, expectKey: object})
}

func (p *jsonPath) pop() {
	if len(p.frames) > 0 {
		p.frames = p.frames[:len(p.frames)-1]
	}
}

func (p *jsonPath) expectingKey() bool {
	return len(p.frames) > 0 && p.frames[len(p.frames)-1].expectKey
}

func (p *jsonPath) setKey(k string) {
	f := &p.frames[len(p.frames)-1]
	f.key, f.expectKey = k, false
}

// valueDone moves past a value of the innermost container.
func (p *jsonPath) valueDone() {
	if len(p.frames) == 0 {
		return
	}
	f := &p.frames[len(p.frames)-1]
	if f.object {
		f.expectKey = true
	} else {
		f.index++
	}
}

// String is the path of the value being read.
func (p *jsonPath) String() string {
	var b strings.Builder
	for i, f := range p.frames {
		switch {
		case f.object && f.expectKey:
			// Between members: the object itself.
		case f.object:
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(f.key)
		default:
			b.WriteString("[" + strconv.Itoa(f.index) + "]")
		}
	}
	return b.String()
}

// child is the path of member k of the innermost object.
func (p *jsonPath) child(k string) string {
	if s := p.String(); s != "" {
		return s + "." + k
	}
	return k
}

// loneSurrogate reports a \uD800-\uDFFF escape in raw JSON that is not a
// high surrogate directly followed by a low one.
func loneSurrogate(raw []byte) bool {
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' || i+1 >= len(raw) {
			continue
		}
		if raw[i+1] != 'u' {
			i++ // skip the escaped character (it may be a backslash)
			continue
		}
		r, ok := hex4(raw, i+2)
		if !ok {
			continue
		}
		switch {
		case r >= 0xD800 && r <= 0xDBFF:
			if i+11 < len(raw) && raw[i+6] == '\\' && raw[i+7] == 'u' {
				if lo, ok := hex4(raw, i+8); ok && lo >= 0xDC00 && lo <= 0xDFFF {
					i += 11
					continue
				}
			}
			return true
		case r >= 0xDC00 && r <= 0xDFFF:
			return true
		}
		i += 5
	}
	return false
}

// hex4 reads the four hex digits of a \u escape at raw[at:].
func hex4(raw []byte, at int) (rune, bool) {
	if at+4 > len(raw) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(raw[at:at+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	return rune(n), true
}

// textHeaders are the request headers whose values reach the store (as
// consumer ids or idempotency keys).
var textHeaders = []string{"x-consumer-id", "x-apideck-consumer-id", "Idempotency-Key"}

// badText says why s cannot be stored as text, or "" when it can.
func badText(s string) string {
	switch {
	case !utf8.ValidString(s):
		return "contains bytes that are not valid UTF-8"
	case strings.IndexByte(s, 0) >= 0:
		return "contains a NUL character"
	}
	return ""
}

// refuseUnstorableText answers 400 when a path parameter or a header the
// API stores holds text no store can: on PostgreSQL such a value in a query
// (GET /webhook/events/%00) used to be a 500. Bodies are checked by
// DecodeJSON, filter[...] values by parseFilters.
func refuseUnstorableText() gin.HandlerFunc {
	return func(c *gin.Context) {
		for _, p := range c.Params {
			if why := badText(p.Value); why != "" {
				WriteError(c, BadRequest(p.Key, why+" (path parameter)"))
				return
			}
		}
		for _, h := range textHeaders {
			for _, v := range c.Request.Header.Values(h) {
				if why := badText(v); why != "" {
					WriteError(c, BadRequest(h, why+" (header)"))
					return
				}
			}
		}
		c.Next()
	}
}
