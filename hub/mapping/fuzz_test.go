package mapping_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/mapping"
	"github.com/switchboardhq/switchboard/mappings"
)

// FuzzLoad feeds arbitrary bytes to the loader as fuzz.json: it must reject
// or accept, never panic, and a mapping it accepts must apply to any body
// without panicking and produce valid JSON.
func FuzzLoad(f *testing.F) {
	dversum, err := mappings.FS.ReadFile("dversum.json")
	if err != nil {
		f.Fatal(err)
	}
	valid := []string{strings.Replace(string(dversum), `"service_id": "dversum"`, `"service_id": "fuzz"`, 1),
		strings.Replace(acmeFile(strings.Replace(acmeEntities, `"contact":`, `"ticket": {"type": "ticket", "id": "id", "fields": {"id": "id"}}, "contact":`, 1), `{
		"invoice.created": {"event_type": "accounting.invoice.created", "entity": "invoice",
			"branches": [{"when": {"any": ["x", {"path": "y", "in": [1, "a", null]}]}, "event_type": "accounting.invoice.paid", "set": {"total": 1}}]},
		"card.x": {"event_type": "issue-tracking.ticket.updated", "entity": "ticket",
			"change": {"relation": "tags", "action": "attached", "related_id": "l.id", "pivot": "p"}},
		"page.created": {"pass_through": true}
	}`), `"service_id": "acme"`, `"service_id": "fuzz"`, 1),
		`{"service_id": "fuzz", "version": "1", "native_event_type": {"header": "X-E"}, "events": {}}`,
	}
	for _, doc := range valid {
		if err := mapping.Validate("fuzz.json", []byte(doc)); err != nil {
			f.Fatalf("seed should be valid: %v", err)
		}
		f.Add(doc)
	}
	f.Add(`{"service_id": "fuzz", "version": "1", "native_event_type": {"path": "a..b"}, "events": {"a": {"a": 1}, "a": 2}}`)
	f.Add(`{"service_id": "fuzz"`)
	f.Add(`[]`)
	f.Add(``)
	bodies := []string{
		`{"event": "invoice.created", "type": "invoice.created", "timestamp": 1700000000, "at": "2024-01-01", "data": {"id": "x", "total": 119000, "items": [{"p": 1}]}}`,
		`{"event": "page.created", "data": []}`,
		`{"event": "unknown.thing"}`,
	}
	f.Fuzz(func(t *testing.T, doc string) {
		if mapping.Validate("fuzz.json", []byte(doc)) != nil {
			return
		}
		set, err := mapping.LoadDir(fstest.MapFS{"fuzz.json": {Data: []byte(doc)}})
		if err != nil {
			t.Fatalf("Validate accepted what LoadDir rejects: %v", err)
		}
		for _, body := range bodies {
			res, err := set.Apply("fuzz", mapping.Input{Body: []byte(body), NativeType: "invoice.created"})
			if err != nil {
				continue
			}
			checkResult(t, res)
		}
		_ = set.Coverage()
	})
}

// FuzzApply feeds arbitrary bodies to the dVersum mapping: an error for
// invalid input is fine, a panic or an unusable Result is not.
func FuzzApply(f *testing.F) {
	set, err := mapping.LoadDir(mappings.FS)
	if err != nil {
		f.Fatal(err)
	}
	inputs, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "dversum", "*.input.json"))
	for _, in := range inputs[:min(len(inputs), 8)] {
		b, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"event": "invoice.paid", "timestamp": "2024-01-15T10:30:00Z", "data": {"total": "1e999999999", "amount_due": 1e400, "line_items": {"a": 1}}}`))
	f.Add([]byte(`{"event": "time_entry.started", "timestamp": -99999999999999999, "data": {"started_at": 9e15, "duration_minutes": "12.5e3"}}`))
	f.Add([]byte(`{"event": "task.moved", "data": {"assignees": [1, "x", null, {"id": {"deep": true}}], "column": [], "previous_column": "x"}}`))
	f.Add([]byte(`{"event": "", "data": null}`))
	f.Add([]byte(`{"event": 12, "data": "string"}`))
	f.Add([]byte(`[1,2,3]`))
	f.Add([]byte(`{"event": "page.created", "data": {"id": ["a"]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := set.Apply("dversum", mapping.Input{Body: body})
		if err != nil {
			return
		}
		checkResult(t, res)
	})
}

func checkResult(t *testing.T, res mapping.Result) {
	t.Helper()
	if res.EventType == "" || res.UnifiedAPI == "" || res.DownstreamEventType == "" {
		t.Fatalf("incomplete result: %+v", res)
	}
	if res.Mapped && !event.ValidType(res.EventType) {
		t.Fatalf("mapped event type %q is invalid", res.EventType)
	}
	if !json.Valid(res.Entity) {
		t.Fatalf("entity is not valid JSON: %q", res.Entity)
	}
	if _, err := json.Marshal(res); err != nil {
		t.Fatalf("result does not encode: %v", err)
	}
}
