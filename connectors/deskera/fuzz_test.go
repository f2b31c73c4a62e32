package deskera

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"testing"

	"github.com/switchboardhq/switchboard/plugins"
)

// FuzzParseInbound feeds arbitrary bodies and ?e= values through the
// inbound parser. Whatever comes in, it must not panic, must fail only with
// ErrMalformed, and an accepted event must have a type, a key and a
// payload that is valid JSON of the body's length, equal to the body but
// for rewritten dates.
func FuzzParseInbound(f *testing.F) {
	for _, s := range []string{
		`{"eventType":"CREATE_INVOICE","timestamp":"2024-01-15T10:30:00Z","data":{"invoiceDate":"15-01-2024","totalAmount":1190}}`,
		`{"data":{"dueDate":"31-02-2024","items":[{"shipDate":"01-01-2024"}],"date":"02-03-2024"}}`,
		`{"eventType":"A","eventType":"B"}`,
		`{"eventType":42}`,
		`{"eventId":12345678901234567890,"timestamp":1705314600000}`,
		`{"k":"\u0000","xDate":"1\u0035-01-2024"}`,
		`[1,2,3]`,
		``,
		`{`,
	} {
		f.Add([]byte(s), "CREATE_INVOICE")
		f.Add([]byte(s), "")
	}
	f.Fuzz(func(t *testing.T, body []byte, e string) {
		q := url.Values{}
		if e != "" {
			q.Set(QueryEventType, e)
		}
		ev, _, err := parseInbound(q, body)
		if err != nil {
			if !errors.Is(err, plugins.ErrMalformed) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		if ev.Type == "" || ev.IdempotencyKey == "" {
			t.Fatalf("accepted an event without type or key: %+v", ev)
		}
		if !json.Valid(ev.Payload) || len(ev.Payload) != len(body) {
			t.Fatalf("payload %q is not a same-length JSON rewrite of %q", ev.Payload, body)
		}
		if !bytes.Equal(normalizeDates(body), ev.Payload) {
			t.Fatalf("payload is not the normalised body")
		}
		for i := range body {
			if body[i] != ev.Payload[i] && (!isDateByte(body[i]) || !isDateByte(ev.Payload[i])) {
				t.Fatalf("byte %d changed from %q to %q: only date digits and dashes may move", i, body[i], ev.Payload[i])
			}
		}
	})
}

func isDateByte(b byte) bool { return b == '-' || b >= '0' && b <= '9' }
