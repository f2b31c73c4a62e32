package vplan

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/switchboardhq/switchboard/plugins"
)

// FuzzHandleInbound feeds arbitrary bodies through the inbound parser.
// Whatever comes in, HandleInbound must not panic, must fail only with
// ErrMalformed, and must never accept a body that is not a JSON object or
// has no event type; an accepted event always has an idempotency key and
// carries the body unchanged.
func FuzzHandleInbound(f *testing.F) {
	for _, s := range []string{
		`{"message_id":"m1","event":"card.created","created_at":"2024-03-04T10:15:01+01:00","data":{"id":"c1"}}`,
		`{"event":"card.label.attached","data":{"id":"c1","label":{"id":"l1"}}}`,
		`{"event":"card.activity.updated","data":{"id":"c1","activity":{"id":"a1","pivot":{"estimate":90}}}}`,
		`{"type":"comment.created"}`,
		`{"event":null,"type":"x"}`,
		`{"event":"a","event":"b"}`,
		`{"message_id":12.5e3,"event":"x"}`,
		`{"message_id":{"id":1},"event":"x"}`,
		`{"event":"\u0000"}`,
		`{"event":"\ud800"}`,
		"{\"event\":\"card.created\"}\n{}",
		`[1,2,3]`,
		``,
		`{`,
	} {
		f.Add([]byte(s))
	}
	c := New()
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := c.HandleInbound(t.Context(), &plugins.InboundRequest{Method: http.MethodPost, Body: body})
		if err != nil {
			if !errors.Is(err, plugins.ErrMalformed) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		if !json.Valid(body) || plugins.JSONKind(body) != "an object" {
			t.Fatalf("accepted a body that is not a JSON object: %q", body)
		}
		if len(res.Events) != 1 {
			t.Fatalf("got %d events, want 1", len(res.Events))
		}
		ev := res.Events[0]
		if ev.Type == "" || ev.IdempotencyKey == "" {
			t.Fatalf("accepted event without type or idempotency key: %+v", ev)
		}
		if string(ev.Payload) != string(body) {
			t.Fatalf("payload differs from the body")
		}
		if !ev.OccurredAt.IsZero() && ev.OccurredAt.Location().String() != "UTC" {
			t.Fatalf("occurred_at not in UTC: %v", ev.OccurredAt)
		}
	})
}
