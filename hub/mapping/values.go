package mapping

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"
)

// jsonNumber matches a JSON number literal; numeric strings are accepted
// only in this form (no hex, no fractions like 1/3, no spaces inside).
var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// numberLiteral returns the literal text of a number, or of a string holding
// one ("1190.00"), and whether there is one.
func numberLiteral(v gjson.Result) (string, bool) {
	switch v.Type {
	case gjson.Number:
		return strings.TrimSpace(v.Raw), true
	case gjson.String:
		s := strings.TrimSpace(v.Str)
		return s, jsonNumber.MatchString(s)
	}
	return "", false
}

// isIntegerLiteral: written without fraction or exponent (119000, not
// 1190.00 or 1.19e3). This is what scale_when: integer keys on.
func isIntegerLiteral(lit string) bool { return !strings.ContainsAny(lit, ".eE") }

// maxExactDigits bounds exact decimal arithmetic. Longer literals, and any
// with an exponent (big.Rat would expand 1e999999999), go through float64.
const maxExactDigits = 40

// scaleNumber multiplies a number literal by factor, exactly for ordinary
// amounts (119000 * 0.01 = 1190, not 1190.0000000000002), and renders it as
// a JSON number.
func scaleNumber(lit string, factor *big.Rat) (json.RawMessage, error) {
	if len(lit) <= maxExactDigits && !strings.ContainsAny(lit, "eE") {
		r, ok := new(big.Rat).SetString(lit)
		if !ok {
			return nil, fmt.Errorf("%q is not a number", lit)
		}
		if factor != nil {
			r.Mul(r, factor)
		}
		return ratJSON(r), nil
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, fmt.Errorf("%q is not a representable number", lit)
	}
	if factor != nil {
		ff, _ := factor.Float64()
		f *= ff
	}
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, fmt.Errorf("%q scaled is out of range", lit)
	}
	return floatJSON(f), nil
}

func ratJSON(r *big.Rat) json.RawMessage {
	if r.IsInt() {
		return json.RawMessage(r.Num().String())
	}
	f, _ := r.Float64()
	return floatJSON(f)
}

func floatJSON(f float64) json.RawMessage {
	if f == math.Trunc(f) && math.Abs(f) < 1e21 {
		return json.RawMessage(strconv.FormatFloat(f, 'f', -1, 64))
	}
	b, err := json.Marshal(f)
	if err != nil { // only NaN and Inf, excluded by the callers
		return json.RawMessage("null")
	}
	return b
}

// coerce converts a value to one of the field types of the mapping format.
func coerce(v gjson.Result, typ string) (json.RawMessage, error) {
	switch typ {
	case "string":
		switch v.Type {
		case gjson.String:
			return json.RawMessage(v.Raw), nil
		case gjson.Number:
			return jsonString(strings.TrimSpace(v.Raw)), nil
		case gjson.True, gjson.False:
			return jsonString(v.String()), nil
		}
		return nil, fmt.Errorf("%s is not a string", kindOf(v))
	case "number", "integer":
		lit, ok := numberLiteral(v)
		if !ok {
			return nil, fmt.Errorf("%s is not a number", kindOf(v))
		}
		out, err := scaleNumber(lit, nil)
		if err != nil {
			return nil, err
		}
		if typ == "integer" && strings.ContainsAny(string(out), ".eE") {
			return nil, fmt.Errorf("%s is not an integer", lit)
		}
		return out, nil
	case "boolean":
		switch v.Type {
		case gjson.True, gjson.False:
			return json.RawMessage(v.Raw), nil
		case gjson.String:
			b, err := strconv.ParseBool(strings.TrimSpace(v.Str))
			if err != nil {
				return nil, fmt.Errorf("%q is not a boolean", v.Str)
			}
			return json.RawMessage(strconv.FormatBool(b)), nil
		case gjson.Number:
			switch v.Float() {
			case 0:
				return json.RawMessage("false"), nil
			case 1:
				return json.RawMessage("true"), nil
			}
			return nil, fmt.Errorf("%s is not a boolean", v.Raw)
		}
		return nil, fmt.Errorf("%s is not a boolean", kindOf(v))
	case "time":
		t, ok := parseTime(v)
		if !ok {
			return nil, fmt.Errorf("%s is not a time", describe(v))
		}
		return jsonString(t.UTC().Format(time.RFC3339Nano)), nil
	case "date":
		if v.Type == gjson.String {
			s := strings.TrimSpace(v.Str)
			if _, err := time.Parse(time.DateOnly, s); err == nil {
				return jsonString(s), nil
			}
			for _, layout := range timeLayouts {
				if t, err := time.Parse(layout, s); err == nil {
					return jsonString(t.Format(time.DateOnly)), nil // the date where it happened
				}
			}
		}
		t, ok := parseTime(v)
		if !ok {
			return nil, fmt.Errorf("%s is not a date", describe(v))
		}
		return jsonString(t.UTC().Format(time.DateOnly)), nil
	}
	return nil, fmt.Errorf("unknown type %q", typ)
}

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05.999999999Z07:00",
}

// Layouts without a zone are read as UTC.
var localLayouts = []string{
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
	time.DateOnly,
}

// parseTime reads an RFC 3339 / ISO 8601 string, a date, or unix seconds or
// milliseconds (a number or numeric string; 1e12 and above is taken as
// milliseconds, which is unambiguous for any date after 2001).
func parseTime(v gjson.Result) (time.Time, bool) {
	t, ok := parseAnyTime(v)
	if !ok || t.Year() < 1 || t.Year() > 9999 { // beyond what RFC 3339 can write
		return time.Time{}, false
	}
	return t, true
}

func parseAnyTime(v gjson.Result) (time.Time, bool) {
	if lit, ok := numberLiteral(v); ok {
		f, err := strconv.ParseFloat(lit, 64)
		if err != nil || math.IsNaN(f) || math.Abs(f) > 1e16 {
			return time.Time{}, false
		}
		if math.Abs(f) >= 1e12 {
			return time.UnixMilli(int64(f)).UTC(), true
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
	}
	if v.Type != gjson.String {
		return time.Time{}, false
	}
	s := strings.TrimSpace(v.Str)
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	for _, layout := range localLayouts {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

func kindOf(v gjson.Result) string {
	switch v.Type {
	case gjson.Null:
		return "null"
	case gjson.False, gjson.True:
		return "a boolean"
	case gjson.Number:
		return "a number"
	case gjson.String:
		return "a string"
	}
	if v.IsArray() {
		return "an array"
	}
	return "an object"
}

func describe(v gjson.Result) string {
	if v.Type == gjson.String || v.Type == gjson.Number {
		raw := v.Raw
		if len(raw) > 40 {
			raw = raw[:40] + "..."
		}
		return raw
	}
	return kindOf(v)
}
