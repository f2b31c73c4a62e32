package event_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/event"
)

// TestCatalogLoads: the embedded files are valid, every event type has a
// schema and a schema-valid example (LoadCatalog checks both), and the
// catalogue holds what catalog.md and the Apideck/operations issues list.
func TestCatalogLoads(t *testing.T) {
	t.Parallel()
	c, err := event.LoadCatalog(event.CatalogFS)
	require.NoError(t, err)
	byAPI := map[string]int{}
	for _, ty := range c.Types() {
		byAPI[ty.UnifiedAPI]++
		s, ok := c.Schema(ty.EntityType)
		require.True(t, ok, ty.Name)
		require.NoError(t, s.Validate(ty.Example.Entity), ty.Name)
	}
	require.Equal(t, map[string]int{
		"accounting": 30, "crm": 6, "issue-tracking": 14, "time-registration": 5,
		"hris": 3, "file-storage": 3, "vault": 5, "webhook": 4,
	}, byAPI)
	for _, name := range []string{
		"vault.connection.created", "vault.connection.updated", "vault.connection.deleted",
		"vault.connection.callable", "vault.connection.disabled",
		"webhook.subscription.failing", "webhook.subscription.disabled", "webhook.subscription.recovered",
		"webhook.delivery.exhausted", "accounting.invoice_item.updated",
	} {
		_, ok := c.Lookup(name)
		require.True(t, ok, name)
	}
	require.Equal(t, "accounting.invoice.updated", event.BaseOf("accounting.invoice.paid"))
	require.Equal(t, "", event.BaseOf("accounting.invoice.updated"))
	require.Equal(t, "", event.BaseOf("dversum.page.created"))
}

// TestCatalogRejectsBadFiles: the loader refuses an example that breaks its
// schema, an entity type without a schema, and a dangling base type.
func TestCatalogRejectsBadFiles(t *testing.T) {
	t.Parallel()
	meta, err := fs.ReadFile(event.CatalogFS, "catalog.schema.json")
	require.NoError(t, err)
	schema := []byte(`{"type":"object","additionalProperties":false,"required":["id"],"properties":{"id":{"type":"string"},"total":{"type":["number","null"]}}}`)
	build := func(types string) fstest.MapFS {
		return fstest.MapFS{
			"catalog.schema.json":  {Data: meta},
			"schemas/invoice.json": {Data: schema},
			"catalog.json":         {Data: []byte(`{"unified_apis":[{"name":"accounting","description":"x"}],"event_types":` + types + `}`)},
		}
	}
	ok := `{"name":"accounting.invoice.updated","unified_api":"accounting","entity_type":"invoice","description":"d","apideck":true,"example":{"entity_id":"i1","entity":{"id":"i1","total":1}}}`
	_, err = event.LoadCatalog(build(`[` + ok + `]`))
	require.NoError(t, err)
	for name, tc := range map[string]struct{ types, want string }{
		"example breaks schema": {`[{"name":"accounting.invoice.created","unified_api":"accounting","entity_type":"invoice","description":"d","apideck":true,"example":{"entity_id":"i1","entity":{"id":"i1","totl":1}}}]`, "totl"},
		"no schema":             {`[{"name":"accounting.bill.created","unified_api":"accounting","entity_type":"bill","description":"d","apideck":true,"example":{"entity_id":"i1","entity":{"id":"i1"}}}]`, "no schema"},
		"dangling base":         {`[{"name":"accounting.invoice.paid","unified_api":"accounting","entity_type":"invoice","base_event_type":"accounting.invoice.updatd","description":"d","apideck":true,"example":{"entity_id":"i1","entity":{"id":"i1"}}}]`, "base_event_type"},
		"meta-schema":           {`[{"name":"Accounting.Invoice","unified_api":"accounting","entity_type":"invoice","description":"d","apideck":true,"example":{"entity_id":"i1","entity":{"id":"i1"}}}]`, "/event_types/0/name"},
	} {
		_, err := event.LoadCatalog(build(tc.types))
		require.ErrorContains(t, err, tc.want, name)
	}
}

// TestVocabulary: the new-user typos are refused with the closest
// names; catalogue, registered, pass-through and "*" names pass.
func TestVocabulary(t *testing.T) {
	t.Parallel()
	v := event.Vocabulary{
		Catalog:    event.Default(),
		Registered: map[string]*event.Type{"billing.plan.upgraded": {Name: "billing.plan.upgraded", UnifiedAPI: "billing"}},
		Services:   []string{"dversum", "vplan"},
	}
	err := v.CheckType("acounting.invoice.payed", false)
	var un *event.UnknownNameError
	require.True(t, errors.As(err, &un))
	require.Equal(t, "accounting.invoice.paid", un.Suggestions[0])
	require.Contains(t, err.Error(), `did you mean accounting.invoice.paid`)
	for _, ok := range []string{"accounting.invoice.paid", "vault.connection.callable", "webhook.delivery.exhausted", "billing.plan.upgraded", "dversum.page.created", "vplan.collection.checklist.item.attached"} {
		require.NoError(t, v.CheckType(ok, false), ok)
	}
	require.NoError(t, v.CheckType("*", true))
	require.Error(t, v.CheckType("*", false))
	for _, bad := range []string{"vault.connection.exploded", "deskera.page.created", "accounting.invoice.payed", "webhook.subscription.failed"} {
		require.Error(t, v.CheckType(bad, true), bad)
	}
	err = v.CheckUnifiedAPI("acounting")
	require.ErrorContains(t, err, "did you mean accounting")
	for _, ok := range []string{"*", "accounting", "vault", "webhook", "billing", "dversum"} {
		require.NoError(t, v.CheckUnifiedAPI(ok), ok)
	}
}

func TestSchemaFieldAndLeaves(t *testing.T) {
	t.Parallel()
	s, ok := event.Default().Schema("invoice")
	require.True(t, ok)
	n, _, missing := s.Field([]string{"line_items", "0", "unit_price"})
	require.Empty(t, missing)
	require.True(t, n.Allows("number"))
	require.False(t, n.Allows("string"))
	_, known, missing := s.Field([]string{"customer", "nmae"})
	require.Equal(t, "nmae", missing)
	require.Equal(t, []string{"customer"}, known)
	require.Contains(t, s.Leaves(), "line_items[].tax_rate.rate")
	require.Contains(t, s.Leaves(), "customer.id")
	err := s.Validate(json.RawMessage(`{"id":"i1","totl":3}`))
	var se *event.SchemaError
	require.True(t, errors.As(err, &se))
	require.Equal(t, "/", se.Problems[0].Pointer)
	require.Contains(t, se.Problems[0].Reason, "totl")
}
