package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/api"
	"github.com/switchboardhq/switchboard/hub/mapping"
	"github.com/switchboardhq/switchboard/hub/store"
	"github.com/switchboardhq/switchboard/mappings"
)

// withMappings gives the API the built-in mappings: dversum/deskera/vplan
// pass-throughs become valid names and coverage is reported.
func withMappings(t *testing.T) func(*api.Config) {
	set, err := mapping.LoadDir(mappings.FS)
	require.NoError(t, err)
	return func(c *api.Config) { c.Mappings = func() *mapping.Set { return set } }
}

// TestPublishRefusesUnknownNames: the new-user typo is a 422 naming
// the closest type, and nothing is stored; an entity field no schema has is
// refused at its pointer; pass-throughs of known services pass.
func TestPublishRefusesUnknownNames(t *testing.T) {
	t.Parallel()
	h := newHub(t, withMappings(t))
	h.subscribe(nil)

	res := h.post("/webhook/events", map[string]any{"event_type": "acounting.invoice.payed", "consumer_id": "acme", "entity_id": "inv_1"})
	requireFieldErrors(t, res, "event_type")
	require.Contains(t, string(res.Body), `unknown event type \"acounting.invoice.payed\" (did you mean accounting.invoice.paid`)
	_, events := h.counts()
	require.Zero(t, events)

	res = h.post("/webhook/events", map[string]any{
		"event_type": "accounting.invoice.paid", "consumer_id": "acme", "entity_id": "inv_1",
		"entity": map[string]any{"total": "lots", "customer": map[string]any{"nmae": "x"}, "totl": 3},
	})
	requireFieldErrors(t, res, "entity", "entity/customer", "entity/total")
	require.Contains(t, string(res.Body), "totl")

	// A valid entity (id may be left to entity_id) is accepted and gets the
	// catalogue's base type.
	res = h.post("/webhook/events", map[string]any{
		"event_type": "accounting.invoice.paid", "consumer_id": "acme", "entity_id": "inv_1",
		"entity": map[string]any{"total": 1190, "status": "paid"},
	})
	require.Equal(t, http.StatusAccepted, res.Status, "%s", res.Body)

	for _, ok := range []string{"dversum.page.created", "vault.connection.callable"} {
		res = h.post("/webhook/events", map[string]any{"event_type": ok, "consumer_id": "acme", "entity_id": "x_1"})
		require.Equal(t, http.StatusAccepted, res.Status, "%s: %s", ok, res.Body)
	}
	// Operational events are valid names, but only the hub sends them: an
	// application cannot forge a subscription's failing or disabled notice.
	res = h.post("/webhook/events", map[string]any{"event_type": "webhook.delivery.exhausted", "consumer_id": "acme", "entity_id": "x_1"})
	requireFieldErrors(t, res, "event_type")
	require.Contains(t, string(res.Body), "operational event the hub sends itself")
	for _, bad := range []string{"nosuchservice.page.created", "vault.connection.exploded"} {
		res = h.post("/webhook/events", map[string]any{"event_type": bad, "consumer_id": "acme", "entity_id": "x_1"})
		requireFieldErrors(t, res, "event_type")
	}
}

// TestSubscriptionsRefuseUnknownNames: create and update refuse unknown
// unified APIs and event types with suggestions; a stored subscription
// whose names the catalogue does not know keeps working and is flagged.
func TestSubscriptionsRefuseUnknownNames(t *testing.T) {
	t.Parallel()
	h := newHub(t, withMappings(t))
	base := map[string]any{"status": "enabled", "delivery_url": "https://example.com/hook"}
	with := func(kv ...any) map[string]any {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	res := h.post("/webhook/webhooks", with("unified_api", "acounting", "events", []string{"*"}))
	requireFieldErrors(t, res, "unified_api")
	require.Contains(t, string(res.Body), "did you mean accounting")

	res = h.post("/webhook/webhooks", with("unified_api", "accounting", "events", []string{"accounting.invoice.paid", "accounting.invoice.payed"}))
	requireFieldErrors(t, res, "events[1]")
	require.Contains(t, string(res.Body), "did you mean accounting.invoice.paid")

	id := h.subscribe(map[string]any{"events": []string{"accounting.invoice.paid", "dversum.page.created", "vault.connection.created"}})
	res = h.patch("/webhook/webhooks/"+id, map[string]any{"events": []string{"crm.contact.craeted"}})
	requireFieldErrors(t, res, "events[0]")
	require.Contains(t, string(res.Body), "did you mean crm.contact.created")
	require.Nil(t, h.get("/webhook/webhooks/" + id).Data()["unknown_events"])

	// A subscription stored before names were checked.
	ctx := context.Background()
	sub, err := h.store.GetSubscription(ctx, store.AllConsumers(), id)
	require.NoError(t, err)
	sub.Events = []string{"accounting.invoice.payed", "accounting.invoice.paid"}
	require.NoError(t, h.store.UpdateSubscription(ctx, store.AllConsumers(), sub))
	got := h.get("/webhook/webhooks/" + id).Data()
	require.Equal(t, []any{"accounting.invoice.payed"}, got["unknown_events"])
	// It still receives what it names.
	res = h.post("/webhook/events", map[string]any{"event_type": "accounting.invoice.paid", "consumer_id": "acme", "entity_id": "inv_1"})
	require.Equal(t, 1.0, res.Data()["deliveries"], "%s", res.Body)
	// Other fields can still be patched without touching events.
	res = h.patch("/webhook/webhooks/"+id, map[string]any{"description": "legacy"})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
}

func TestEventTypesEndpoints(t *testing.T) {
	t.Parallel()
	h := newHub(t, withMappings(t))

	var names []string
	path := "/webhook/event-types?limit=25"
	for pages := 0; path != ""; pages++ {
		require.Less(t, pages, 10)
		res := h.get(path)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		for _, it := range res.List() {
			names = append(names, it["name"].(string))
		}
		path = ""
		if next, ok := res.JSON["links"].(map[string]any)["next"].(string); ok && next != "" {
			path = strings.TrimPrefix(next, "https://hub.example.com")
		}
	}
	require.Len(t, names, 70)
	require.Contains(t, names, "webhook.delivery.exhausted")

	res := h.get("/webhook/event-types?filter[unified_api]=vault")
	require.Len(t, res.List(), 5)

	res = h.get("/webhook/event-types/accounting.invoice.paid")
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	d := res.Data()
	require.Equal(t, "invoice", d["entity_type"])
	require.Equal(t, "accounting.invoice.updated", d["base_event_type"])
	require.Equal(t, "accounting.invoice.paid", d["example"].(map[string]any)["payload"].(map[string]any)["event_type"])
	conns := d["connectors"].([]any)
	require.Len(t, conns, 1)
	dv := conns[0].(map[string]any)
	require.Equal(t, "dversum", dv["service_id"])
	require.Equal(t, []any{"invoice.paid"}, dv["downstream_event_types"])
	cov := dv["coverage"].(map[string]any)
	require.Equal(t, true, cov["paid_at"])
	require.Equal(t, true, cov["line_items[].unit_price"])
	require.Equal(t, false, cov["currency_rate"], "Deskera fills it, dVersum does not")

	res = h.get("/webhook/event-types/accounting.invoice.created")
	require.Len(t, res.Data()["connectors"], 2)

	requireError(t, h.get("/webhook/event-types/acounting.invoice.payed"), 404, "EntityNotFoundError", "did you mean accounting.invoice.paid")
}

// TestAsyncAPIDocumentIsValid checks GET /asyncapi.json against the
// AsyncAPI 3.0.0 JSON Schema of @asyncapi/specs (testdata/asyncapi).
func TestAsyncAPIDocumentIsValid(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	res := h.do(req{Method: "GET", Path: "/asyncapi.json"})
	require.Equal(t, http.StatusOK, res.Status)

	raw, err := os.ReadFile(filepath.Join("testdata", "asyncapi", "3.0.0.schema.json"))
	require.NoError(t, err)
	schemaDoc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	require.NoError(t, c.AddResource("http://asyncapi.com/definitions/3.0.0/asyncapi.json", schemaDoc))
	sch, err := c.Compile("http://asyncapi.com/definitions/3.0.0/asyncapi.json")
	require.NoError(t, err)
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(res.Body))
	require.NoError(t, err)
	require.NoError(t, sch.Validate(inst))

	var doc struct {
		Channels   map[string]any `json:"channels"`
		Operations map[string]any `json:"operations"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(res.Body, &doc))
	require.Len(t, doc.Channels, 70)
	require.Len(t, doc.Operations, 70)
	require.Contains(t, doc.Components.Schemas, "entity_time_off_request")
}

// TestRegisterEventType: an application registers its own type with a
// schema; publishing it is then allowed and validated; the same schema again
// is a no-op, another one is 409 unless replace; bound keys get 403.
func TestRegisterEventType(t *testing.T) {
	t.Parallel()
	h := newHub(t, withMappings(t))
	schema := map[string]any{"type": "object", "additionalProperties": false, "required": []string{"id"},
		"properties": map[string]any{"id": map[string]any{"type": "string"}, "plan": map[string]any{"type": "string"}}}
	body := map[string]any{"name": "billing.subscription.renewed", "description": "A plan renewed.", "schema": schema,
		"example": map[string]any{"entity_id": "sub_1", "entity": map[string]any{"id": "sub_1", "plan": "pro"}}}

	// Before registering, the name is unknown.
	res := h.post("/webhook/events", map[string]any{"event_type": "billing.subscription.renewed", "consumer_id": "acme", "entity_id": "sub_1"})
	requireFieldErrors(t, res, "event_type")

	res = h.post("/webhook/event-types", body)
	require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
	require.Equal(t, "application", res.Data()["source"])
	require.Equal(t, "subscription", res.Data()["entity_type"])
	require.Equal(t, "sub_1", res.Data()["example"].(map[string]any)["payload"].(map[string]any)["entity_id"])

	res = h.post("/webhook/event-types", body)
	require.Equal(t, http.StatusOK, res.Status, "the same registration again: %s", res.Body)

	changed := map[string]any{"name": "billing.subscription.renewed", "schema": map[string]any{"type": "object", "properties": map[string]any{"id": map[string]any{}}}}
	requireError(t, h.post("/webhook/event-types", changed), http.StatusConflict, "ConflictError", `send "replace": true`)

	// Registered: subscribe and publish work, entities are validated.
	subID := h.subscribe(map[string]any{"unified_api": "billing", "events": []string{"billing.subscription.renewed"}})
	require.Nil(t, h.get("/webhook/webhooks/" + subID).Data()["unknown_events"], "a registered name is known")
	res = h.post("/webhook/events", map[string]any{"event_type": "billing.subscription.renewed", "consumer_id": "acme", "entity_id": "sub_1",
		"entity": map[string]any{"plan": "pro"}})
	require.Equal(t, http.StatusAccepted, res.Status, "%s", res.Body)
	require.Equal(t, 1.0, res.Data()["deliveries"])
	res = h.post("/webhook/events", map[string]any{"event_type": "billing.subscription.renewed", "consumer_id": "acme", "entity_id": "sub_1",
		"entity": map[string]any{"plan": 3}})
	requireFieldErrors(t, res, "entity/plan")
	res = h.get("/webhook/event-types?filter[unified_api]=billing")
	require.Len(t, res.List(), 1)
	require.Equal(t, http.StatusOK, h.get("/webhook/event-types/billing.subscription.renewed").Status)

	// Replace takes the new schema.
	changed["replace"] = true
	res = h.post("/webhook/event-types", changed)
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	res = h.post("/webhook/events", map[string]any{"event_type": "billing.subscription.renewed", "consumer_id": "acme", "entity_id": "sub_1",
		"entity": map[string]any{"plan": 3}})
	require.Equal(t, http.StatusAccepted, res.Status, "%s", res.Body)

	for name, bad := range map[string]map[string]any{
		"catalogue name": {"name": "accounting.invoice.paid", "schema": schema},
		"hub namespace":  {"name": "vault.connection.exploded", "schema": schema},
		"pass-through":   {"name": "dversum.page.archived", "schema": schema},
		"bad schema":     {"name": "billing.plan.changed", "schema": map[string]any{"type": 7}},
		"bad example":    {"name": "billing.plan.changed", "schema": schema, "example": map[string]any{"entity_id": "p", "entity": map[string]any{"id": "p", "plan": 1}}},
	} {
		res := h.post("/webhook/event-types", bad)
		require.Equal(t, http.StatusUnprocessableEntity, res.Status, "%s: %s", name, res.Body)
	}

	// Registering is for admin keys only.
	writer := h.createKey("webhooks:write", "events:write")
	res = h.do(req{Method: "POST", Path: "/webhook/event-types", Body: body, Key: writer})
	require.Equal(t, http.StatusForbidden, res.Status, "%s", res.Body)
}
