package mapping

import "github.com/tidwall/gjson"

type condOp int

const (
	opTruthy condOp = iota
	opEquals
	opNotEquals
	opIn
	opExists
	opAll
	opAny
)

// cond is a compiled when: a small, total predicate over one record. It
// never fails; a missing path simply makes equals, in and truthy false.
type cond struct {
	op     condOp
	path   string
	vals   []gjson.Result
	exists bool
	subs   []*cond
}

func (k *cond) eval(rec gjson.Result) bool {
	switch k.op {
	case opAll:
		for _, s := range k.subs {
			if !s.eval(rec) {
				return false
			}
		}
		return true
	case opAny:
		for _, s := range k.subs {
			if s.eval(rec) {
				return true
			}
		}
		return false
	}
	v := rec.Get(k.path)
	switch k.op {
	case opEquals:
		return sameValue(v, k.vals[0])
	case opNotEquals:
		return !sameValue(v, k.vals[0])
	case opIn:
		for _, want := range k.vals {
			if sameValue(v, want) {
				return true
			}
		}
		return false
	case opExists:
		return v.Exists() == k.exists
	default:
		return truthy(v)
	}
}

// truthy: exists and is not null, false, 0 or "". Objects and arrays,
// even empty ones, are truthy: they are there.
func truthy(v gjson.Result) bool {
	if !v.Exists() {
		return false
	}
	switch v.Type {
	case gjson.Null, gjson.False:
		return false
	case gjson.Number:
		return v.Float() != 0
	case gjson.String:
		return v.Str != ""
	}
	return true
}

// sameValue compares a record value with a scalar from the mapping file:
// strings exactly, numbers by value, booleans and null by kind. A number
// never equals a string, so "1" and 1 differ.
func sameValue(got, want gjson.Result) bool {
	if !got.Exists() {
		return false
	}
	switch want.Type {
	case gjson.String:
		return got.Type == gjson.String && got.Str == want.Str
	case gjson.Number:
		return got.Type == gjson.Number && got.Float() == want.Float()
	default: // true, false, null
		return got.Type == want.Type
	}
}
