package mapping_test

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/mapping"
)

// testCatalog is the embedded catalogue plus a made-up "things" API whose
// "thing" entity is open (any field), so tests of the engine's mechanics
// (scales, maps, branches) are not tied to the unified model.
var testCatalog = sync.OnceValue(func() *event.Catalog {
	files := fstest.MapFS{}
	err := fs.WalkDir(event.CatalogFS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(event.CatalogFS, p)
		files[p] = &fstest.MapFile{Data: data}
		return err
	})
	if err != nil {
		panic(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(files["catalog.json"].Data, &doc); err != nil {
		panic(err)
	}
	doc["unified_apis"] = append(doc["unified_apis"].([]any), map[string]any{"name": "things", "description": "test"})
	doc["event_types"] = append(doc["event_types"].([]any), map[string]any{
		"name": "things.thing.changed", "unified_api": "things", "entity_type": "thing", "description": "test",
		"apideck": false, "example": map[string]any{"entity_id": "t1", "entity": map[string]any{"id": "t1"}},
	})
	files["catalog.json"].Data, _ = json.Marshal(doc)
	files["schemas/thing.json"] = &fstest.MapFile{Data: []byte(`{"type": "object", "properties": {"id": {}}}`)}
	cat, err := event.LoadCatalog(files)
	if err != nil {
		panic(err)
	}
	return cat
})

// TestGoldenFilesValidate: every golden entity of a mapped event is valid
// against its catalogue schema, and its event type is the catalogue's with
// the catalogue's entity type.
func TestGoldenFilesValidate(t *testing.T) {
	t.Parallel()
	goldens, err := filepath.Glob(filepath.Join("..", "..", "testdata", "*", "*.golden.json"))
	require.NoError(t, err)
	require.NotEmpty(t, goldens)
	mapped := 0
	for _, g := range goldens {
		raw, err := os.ReadFile(g)
		require.NoError(t, err)
		var res mapping.Result
		require.NoError(t, json.Unmarshal(raw, &res), g)
		if !res.Mapped {
			continue
		}
		mapped++
		ty, ok := event.Default().Lookup(res.EventType)
		require.True(t, ok, "%s: %s is not in the catalogue", g, res.EventType)
		require.Equal(t, ty.EntityType, res.EntityType, g)
		require.Equal(t, ty.BaseEventType, res.BaseEventType, g)
		s, ok := event.Default().Schema(res.EntityType)
		require.True(t, ok, g)
		require.NoError(t, s.Validate(res.Entity), g)
	}
	require.Greater(t, mapped, 80)
}

// TestEveryEmittedEntityTypeHasSchema: what the built-in mappings emit is
// covered by the catalogue (load refuses anything else; this pins it).
func TestEveryEmittedEntityTypeHasSchema(t *testing.T) {
	t.Parallel()
	for _, cov := range builtin(t).Coverage() {
		for _, e := range cov.Entities {
			_, ok := event.Default().Schema(e.EntityType)
			require.True(t, ok, "%s entity %s: type %s has no schema", cov.ServiceID, e.Name, e.EntityType)
		}
		for _, e := range cov.Events {
			if !e.PassThrough {
				_, ok := event.Default().Lookup(e.EventType)
				require.True(t, ok, e.EventType)
			}
		}
	}
}

// TestLintChecksTheCatalogue: the new-user mistakes fail lint with
// the closest names.
func TestLintChecksTheCatalogue(t *testing.T) {
	t.Parallel()
	entities := `{
	  "invoice": {"type": "invoice", "id": "id", "fields": {"id": "id", "totl": "total", "customer.nmae": "client", "invoice_sent": {"value": "yes"}, "total": {"path": "sum", "type": "string"}}},
	  "widget": {"type": "widget", "id": "id", "fields": {"id": "id"}},
	  "contact": {"type": "contact", "id": "id", "fields": {"id": "id"}}
	}`
	events := `{
	  "invoice.paid": {"event_type": "acounting.invoice.paid", "entity": "invoice"},
	  "invoice.payed": {"event_type": "accounting.invoice.payed", "entity": "invoice"},
	  "invoice.sent": {"event_type": "accounting.invoice.sent", "base_event_type": "accounting.invoice.created", "entity": "invoice"},
	  "contact.x": {"event_type": "accounting.invoice.updated", "entity": "contact"}
	}`
	err := mapping.Validate("acme.json", []byte(acmeFile(entities, events)))
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{
		`/events/invoice.paid/event_type: "acounting.invoice.paid" is not an event type of the catalogue (did you mean accounting.invoice.paid`,
		`/events/invoice.payed/event_type: "accounting.invoice.payed" is not an event type of the catalogue (did you mean accounting.invoice.paid`,
		`/events/invoice.sent/base_event_type: base_event_type "accounting.invoice.created": the catalogue's base type of accounting.invoice.sent is accounting.invoice.updated`,
		`/events/contact.x/entity: entity "contact" has type "contact", but accounting.invoice.updated carries entity type invoice`,
		`/entities/invoice/fields/totl: target "totl": invoice has no field "totl" (did you mean total`,
		`/entities/invoice/fields/customer.nmae: target "customer.nmae": invoice.customer has no field "nmae" (did you mean id, display_name?)`,
		`/entities/invoice/fields/invoice_sent: target "invoice_sent": the field gives string, but invoice.invoice_sent is boolean or null`,
		`/entities/invoice/fields/total: target "total": the field gives string, but invoice.total is number or null`,
		`/entities/widget/type: entity type "widget" has no schema in the event catalogue`,
	} {
		require.Contains(t, msg, want)
	}
	require.Equal(t, 9, strings.Count(msg, "acme.json:"), msg)
}
