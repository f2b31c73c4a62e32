package signature

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Apideck's delivery headers, lower-case as Apideck's OpenAPI documents
// write them (x-webhooks of every unified API).
const (
	// HeaderApideckSignature is the hex HMAC-SHA256 of the canonical body.
	HeaderApideckSignature = "x-apideck-signature"
	// HeaderApideckEventType is the event's type (accounting.invoice.created).
	HeaderApideckEventType = "x-apideck-event-type"
	// HeaderApideckIdempotencyKey identifies the event: the same on every
	// try, so a receiver can drop repeats.
	HeaderApideckIdempotencyKey = "x-apideck-idempotency-key"
)

// Errors ApideckVerify returns.
var (
	// ErrApideckMissingSignature: no x-apideck-signature header.
	ErrApideckMissingSignature = errors.New("missing x-apideck-signature header")
	// ErrApideckMismatch: the signature does not match the body and key.
	ErrApideckMismatch = errors.New("x-apideck-signature does not match")
	// ErrApideckNoKey: the signing key is empty.
	ErrApideckNoKey = errors.New("apideck signing key is empty")
)

// ApideckCanonical returns body the way Apideck's signature covers it:
// parsed, every object's keys sorted, and serialised again as JavaScript's
// JSON.stringify writes it (no spaces; numbers, escapes and the order of
// integer-like keys as a JavaScript engine has them). Apideck documents the
// signature as HMAC-SHA256 over that serialisation, so a receiver following
// its guide (JSON.parse, sort the keys recursively, JSON.stringify) gets
// these exact bytes. The hub sends this form as the body itself, so a
// receiver that signs the raw body gets the same bytes too.
func ApideckCanonical(body []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("canonicalising body: %w", err)
	}
	if dec.More() {
		return nil, errors.New("canonicalising body: more than one JSON value")
	}
	var b bytes.Buffer
	if err := writeJS(&b, v); err != nil {
		return nil, fmt.Errorf("canonicalising body: %w", err)
	}
	return b.Bytes(), nil
}

// ApideckSign returns the x-apideck-signature of body under key: the
// lower-case hex HMAC-SHA256, keyed with the key's UTF-8 bytes, of
// ApideckCanonical(body).
func ApideckSign(key string, body []byte) (string, error) {
	if key == "" {
		return "", ErrApideckNoKey
	}
	canon, err := ApideckCanonical(body)
	if err != nil {
		return "", err
	}
	return apideckMAC(key, canon), nil
}

// ApideckSignCanonical signs a body that is already canonical (what
// ApideckCanonical returned) without parsing it again.
func ApideckSignCanonical(key string, canonical []byte) (string, error) {
	if key == "" {
		return "", ErrApideckNoKey
	}
	return apideckMAC(key, canonical), nil
}

// ApideckVerify checks a received Apideck-format delivery as Apideck's guide
// does: the x-apideck-signature header against the signature of the
// canonicalised body, compared in constant time.
func ApideckVerify(key string, header http.Header, body []byte) error {
	got := strings.TrimSpace(header.Get(HeaderApideckSignature))
	if got == "" {
		return ErrApideckMissingSignature
	}
	want, err := ApideckSign(key, body)
	if err != nil {
		return err
	}
	if !hmac.Equal([]byte(strings.ToLower(got)), []byte(want)) {
		return ErrApideckMismatch
	}
	return nil
}

func apideckMAC(key string, canonical []byte) string {
	h := hmac.New(sha256.New, []byte(key))
	h.Write(canonical)
	return hex.EncodeToString(h.Sum(nil))
}

// writeJS writes v as JSON.stringify writes the value JSON.parse made of it,
// with object keys sorted.
func writeJS(b *bytes.Buffer, v any) error {
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case json.Number:
		s, err := jsNumber(string(v))
		if err != nil {
			return err
		}
		b.WriteString(s)
	case string:
		writeJSString(b, v)
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeJS(b, e); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case map[string]any:
		b.WriteByte('{')
		for i, k := range jsKeyOrder(v) {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSString(b, k)
			b.WriteByte(':')
			if err := writeJS(b, v[k]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	default:
		return fmt.Errorf("unexpected JSON value %T", v)
	}
	return nil
}

// jsKeyOrder is the order of an object's keys after Apideck's sort: the
// keys sorted by UTF-16 code units (Array.prototype.sort) and put into a new
// object, whose integer-like keys ("0", "42") a JavaScript engine then lists
// first, in numeric order.
func jsKeyOrder(m map[string]any) []string {
	var index, other []string
	for k := range m {
		if _, ok := arrayIndex(k); ok {
			index = append(index, k)
		} else {
			other = append(other, k)
		}
	}
	slices.SortFunc(index, func(a, b string) int {
		x, _ := arrayIndex(a)
		y, _ := arrayIndex(b)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	})
	slices.SortFunc(other, compareUTF16)
	return append(index, other...)
}

// arrayIndex reports whether k is a canonical array index (0 to 2^32-2
// without leading zeros), which JavaScript objects list first.
func arrayIndex(k string) (uint64, bool) {
	if k == "" || len(k) > 10 || (len(k) > 1 && k[0] == '0') {
		return 0, false
	}
	n, err := strconv.ParseUint(k, 10, 64)
	if err != nil || n > math.MaxUint32-1 {
		return 0, false
	}
	return n, true
}

// compareUTF16 orders strings as JavaScript compares them: by UTF-16 code
// units, which differs from Go's byte order above U+FFFF.
func compareUTF16(a, b string) int {
	ua, ub := utf16.Encode([]rune(a)), utf16.Encode([]rune(b))
	for i := 0; i < len(ua) && i < len(ub); i++ {
		if ua[i] != ub[i] {
			if ua[i] < ub[i] {
				return -1
			}
			return 1
		}
	}
	return len(ua) - len(ub)
}

// jsNumber formats a JSON number as JavaScript's Number.prototype.toString
// does after JSON.parse turned it into a double.
func jsNumber(lit string) (string, error) {
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return "", fmt.Errorf("number %s: %w", lit, err)
	}
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return "null", nil // JSON.stringify(Infinity) is null
	}
	if f == 0 {
		return "0", nil // -0 too
	}
	sign := ""
	if f < 0 {
		sign, f = "-", -f
	}
	// Shortest digits that round-trip, as ECMAScript requires.
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±x
	mant, expPart, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	exp, _ := strconv.Atoi(expPart)
	k, n := len(digits), exp+1
	var out string
	switch {
	case k <= n && n <= 21:
		out = digits + strings.Repeat("0", n-k)
	case 0 < n && n <= 21:
		out = digits[:n] + "." + digits[n:]
	case -6 < n && n <= 0:
		out = "0." + strings.Repeat("0", -n) + digits
	default:
		es := "+"
		if n-1 < 0 {
			es = "-"
		}
		m := digits[:1]
		if k > 1 {
			m += "." + digits[1:]
		}
		out = m + "e" + es + strconv.Itoa(abs(n-1))
	}
	return sign + out, nil
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// writeJSString quotes s as JSON.stringify does: only '"', '\\' and control
// characters are escaped (\b \t \n \f \r by name, the rest as \u00xx in
// lower case); '<', '>', '&', U+2028 and U+2029 and all other text are
// written as they are, unlike Go's encoding/json.
func writeJSString(b *bytes.Buffer, s string) {
	const hexDigits = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\f':
			b.WriteString(`\f`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte(hexDigits[r>>4])
			b.WriteByte(hexDigits[r&0xf])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	b.WriteByte('"')
}
