package deskera_test

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/connectors/deskera"
	"github.com/switchboardhq/switchboard/connectors/deskera/deskerafake"
	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/mapping"
	"github.com/switchboardhq/switchboard/mappings"
	"github.com/switchboardhq/switchboard/plugins/plugintest"
)

func builtinMappings(t *testing.T) *mapping.Set {
	t.Helper()
	set, err := mapping.LoadDir(mappings.FS)
	require.NoError(t, err)
	require.True(t, set.Has(deskera.ID))
	return set
}

// TestMappingMatchesDescribe keeps the catalogue (Events) and the mapping
// file in step: every event maps, explicitly, to the unified type Describe
// announces, with the catalogue's base type, and has a golden test input.
func TestMappingMatchesDescribe(t *testing.T) {
	t.Parallel()
	set := builtinMappings(t)
	var cov mapping.Coverage
	for _, c := range set.Coverage() {
		if c.ServiceID == deskera.ID {
			cov = c
		}
	}
	var listed []string
	for _, ev := range cov.Events {
		require.False(t, ev.PassThrough, "%s: every Deskera event has a unified model", ev.NativeType)
		listed = append(listed, ev.NativeType)
	}
	listed = slices.Compact(slices.Sorted(slices.Values(listed)))
	assert.Equal(t, slices.Sorted(slices.Values(seedEventTypes)), listed, "the mapping file lists exactly the 22 documented events")

	for _, e := range deskera.Events {
		res, err := set.Apply(deskera.ID, mapping.Input{
			NativeType: e.DownstreamEventType,
			Body:       []byte(`{"data":{"id":"x"}}`),
			OccurredAt: time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC),
		})
		require.NoError(t, err, e.DownstreamEventType)
		assert.True(t, res.Mapped, e.DownstreamEventType)
		assert.Equal(t, e.EventType, res.EventType, e.DownstreamEventType)
		assert.Equal(t, event.BaseOf(e.EventType), res.BaseEventType, e.DownstreamEventType)
		assert.Equal(t, event.UnifiedAPIOf(e.EventType), res.UnifiedAPI, e.DownstreamEventType)

		_, err = os.Stat(filepath.Join("..", "..", "testdata", "deskera", e.DownstreamEventType+".input.json"))
		assert.NoError(t, err, "every Deskera event needs a golden test input")
	}
}

func TestMappingBranchesBooksContacts(t *testing.T) {
	t.Parallel()
	set := builtinMappings(t)
	for contactType, want := range map[string][2]string{
		`"VENDOR"`:   {deskera.SupplierContactEvent, "supplier"},
		`"SUPPLIER"`: {deskera.SupplierContactEvent, "supplier"},
		`"CUSTOMER"`: {"accounting.customer.created", "customer"},
		`null`:       {"accounting.customer.created", "customer"},
	} {
		res, err := set.Apply(deskera.ID, mapping.Input{
			NativeType: "CREATE_CONTACT",
			Body:       []byte(`{"data":{"code":"C-1","name":"N","contactType":` + contactType + `}}`),
		})
		require.NoError(t, err)
		assert.Equal(t, want[0], res.EventType, contactType)
		assert.Equal(t, want[1], res.EntityType, contactType)
		assert.Equal(t, "C-1", res.EntityID)
	}
}

// TestMappingReadsTheTypeFromTheQuery: the mapping alone (the preview API,
// a plugin that names no type) finds the type in ?e= before the body.
func TestMappingReadsTheTypeFromTheQuery(t *testing.T) {
	t.Parallel()
	set := builtinMappings(t)
	res, err := set.Apply(deskera.ID, mapping.Input{
		Query: url.Values{"e": {"UPDATE_INVOICE"}},
		Body:  []byte(`{"eventType":"CREATE_INVOICE","data":{"salesInvoiceCode":"SI-9"}}`),
	})
	require.NoError(t, err)
	assert.Equal(t, "accounting.invoice.updated", res.EventType)
	assert.Equal(t, "UPDATE_INVOICE", res.DownstreamEventType)

	res, err = set.Apply(deskera.ID, mapping.Input{Body: []byte(`{"eventType":"CREATE_INVOICE","data":{"salesInvoiceCode":"SI-9"}}`)})
	require.NoError(t, err)
	assert.Equal(t, "accounting.invoice.created", res.EventType)
}

// TestConnectorThenMapping runs a webhook as Deskera's REST API would
// write it (dd-MM-yyyy dates) through the connector and the mapping, as the
// hub does, and checks the unified invoice.
func TestConnectorThenMapping(t *testing.T) {
	t.Parallel()
	set := builtinMappings(t)
	c := plugintest.Connect(t, deskera.New())
	body := deskerafake.InvoiceWebhook("SI-0000042")
	res, err := c.HandleInbound(t.Context(), inbound("e=CREATE_INVOICE", string(body)))
	require.NoError(t, err)
	nev := res.Events[0]
	out, err := set.Apply(deskera.ID, mapping.Input{NativeType: nev.Type, Body: nev.Payload, OccurredAt: nev.OccurredAt})
	require.NoError(t, err)
	require.Empty(t, out.Warnings)
	assert.Equal(t, "accounting.invoice.created", out.EventType)
	assert.Equal(t, "SI-0000042", out.EntityID)
	assert.Equal(t, time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC), out.OccurredAt)
	var entity map[string]any
	require.NoError(t, json.Unmarshal(out.Entity, &entity))
	assert.Equal(t, "INV-0000042", entity["number"])
	assert.Equal(t, map[string]any{"id": "C-0000001", "display_name": "Acme GmbH"}, entity["customer"])
	assert.Equal(t, "2024-01-15", entity["invoice_date"])
	assert.Equal(t, "2024-02-14", entity["due_date"])
	assert.Equal(t, 1190.0, entity["total"])
	assert.Equal(t, 1190.0, entity["balance"])
	assert.Equal(t, "EUR", entity["currency"])
	assert.Equal(t, "authorised", entity["status"])
	require.Len(t, entity["line_items"], 1)
}
