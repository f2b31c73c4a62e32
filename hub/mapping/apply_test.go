package mapping_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/mapping"
)

func loadAcme(t *testing.T, entities, events string) *mapping.Set {
	t.Helper()
	set, err := mapping.LoadDirCatalog(fstest.MapFS{"acme.json": {Data: []byte(acmeFile(entities, events))}}, testCatalog())
	require.NoError(t, err)
	return set
}

func entityOf(t *testing.T, res mapping.Result) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(res.Entity, &m))
	return m
}

func TestApplyUnmappedEventPassesThrough(t *testing.T) {
	t.Parallel()
	set := builtin(t)
	body := `{"event": "wiki.moved", "timestamp": "2024-05-01T12:00:00Z", "data": {"id": "w_1", "title": "Hello"}}`
	res, err := set.Apply("dversum", mapping.Input{Body: []byte(body)})
	require.NoError(t, err)
	require.Equal(t, mapping.Result{
		EventType:           "dversum.wiki.moved",
		UnifiedAPI:          "dversum",
		EntityType:          "wiki",
		EntityID:            "w_1",
		DownstreamEventType: "wiki.moved",
		OccurredAt:          time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC),
		Entity:              json.RawMessage(`{"id":"w_1","title":"Hello"}`),
		Mapped:              false,
	}, res)
	// A subscription to "*" receives it (event.Subscriber rule for pass-through).
	ev := &event.Event{EventType: res.EventType, UnifiedAPI: res.UnifiedAPI, ServiceID: "dversum"}
	require.True(t, event.Subscriber{UnifiedAPI: "accounting", Events: []string{"*"}}.Matches(ev))
	require.True(t, event.ValidType(res.EventType))
}

func TestApplyPassThroughNames(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"page.created":        "acme.page.created",
		"CREATE_WIDGET":       "acme.create_widget",
		"Card Updated!":       "acme.card_updated_",
		"..x..y":              "acme.x.y",
		"_private.thing":      "acme.x_private.thing",
		"ünïcode.ok":          "acme.x_n_code.ok",
		"card.label.attached": "acme.card.label.attached",
	}
	set := loadAcme(t, acmeEntities, `{}`)
	for native, want := range tests {
		res, err := set.Apply("acme", mapping.Input{NativeType: native, Body: []byte(`{"data": {"id": 7}}`)})
		require.NoError(t, err)
		require.Equal(t, want, res.EventType, native)
		require.Equal(t, "7", res.EntityID)
		require.Equal(t, native, res.DownstreamEventType)
	}
}

func TestApplyServiceWithoutMapping(t *testing.T) {
	t.Parallel()
	set := builtin(t)
	res, err := set.Apply("thirdparty", mapping.Input{NativeType: "order.shipped", Body: []byte(`{"id": "o1", "n": 2}`)})
	require.NoError(t, err)
	require.Equal(t, "thirdparty.order.shipped", res.EventType)
	require.Equal(t, "o1", res.EntityID)
	require.JSONEq(t, `{"id": "o1", "n": 2}`, string(res.Entity))

	_, err = set.Apply("thirdparty", mapping.Input{Body: []byte(`{}`)})
	require.ErrorIs(t, err, mapping.ErrNoEventType)

	var nilSet *mapping.Set
	res, err = nilSet.Apply("x", mapping.Input{NativeType: "a.b", Body: []byte(`{}`)})
	require.NoError(t, err)
	require.Equal(t, "x.a.b", res.EventType)
}

func TestApplyRejectsBadInput(t *testing.T) {
	t.Parallel()
	set := builtin(t)
	_, err := set.Apply("dversum", mapping.Input{Body: []byte(`{"event": "invoice.created", "data": {`)})
	require.ErrorIs(t, err, mapping.ErrInvalidBody)
	_, err = set.Apply("dversum", mapping.Input{Body: nil})
	require.ErrorIs(t, err, mapping.ErrInvalidBody)
	_, err = set.Apply("dversum", mapping.Input{Body: []byte(`{"data": {}}`)})
	require.ErrorIs(t, err, mapping.ErrNoEventType)
	_, err = set.Apply("Bad Service", mapping.Input{NativeType: "a", Body: []byte(`{}`)})
	require.ErrorIs(t, err, mapping.ErrInvalidService)
}

func TestApplyEventTypeSources(t *testing.T) {
	t.Parallel()
	set := loadAcme(t, acmeEntities, `{
		"invoice.created": {"event_type": "accounting.invoice.created", "entity": "invoice"},
		"invoice.deleted": {"event_type": "accounting.invoice.deleted", "entity": "invoice"},
		"invoice.updated": {"event_type": "accounting.invoice.updated", "entity": "invoice"},
		"contact.created": {"event_type": "crm.contact.created", "entity": "contact"}
	}`)
	body := []byte(`{"type": "invoice.updated", "data": {"id": "i1"}}`)
	tests := []struct {
		name   string
		in     mapping.Input
		native string
	}{
		{"body path", mapping.Input{Body: body}, "invoice.updated"},
		{"header before path", mapping.Input{Body: body, Header: http.Header{"X-Acme-Event": {"invoice.deleted"}}}, "invoice.deleted"},
		{"query first", mapping.Input{Body: body, Query: url.Values{"e": {"invoice.created"}}, Header: http.Header{"X-Acme-Event": {"invoice.deleted"}}}, "invoice.created"},
		{"empty query falls through", mapping.Input{Body: body, Query: url.Values{"e": {""}}}, "invoice.updated"},
		{"plugin wins", mapping.Input{NativeType: "contact.created", Body: body, Query: url.Values{"e": {"invoice.created"}}}, "contact.created"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := set.Apply("acme", tt.in)
			require.NoError(t, err)
			require.Equal(t, tt.native, res.DownstreamEventType)
			require.True(t, res.Mapped)
		})
	}
}

func TestApplyBranches(t *testing.T) {
	t.Parallel()
	set := loadAcme(t, `{
		"contact": {"type": "contact", "id": "id", "fields": {"id": "id", "name": "name"}},
		"customer": {"type": "customer", "id": "id", "fields": {"id": "id", "display_name": "name"}},
		"supplier": {"type": "supplier", "id": "id", "fields": {"id": "id", "company_name": "name"}}
	}`, `{
		"CREATE_CONTACT": {
			"entity": "customer",
			"branches": [
				{"when": {"path": "type", "equals": "SUPPLIER"}, "event_type": "accounting.supplier.created", "entity": "supplier"},
				{"when": {"any": [{"path": "type", "equals": "CUSTOMER"}, {"path": "type", "exists": false}]}, "event_type": "accounting.customer.created"}
			]
		},
		"UPDATE_CONTACT": {
			"event_type": "crm.contact.updated", "entity": "contact",
			"branches": [{"when": "is_customer", "event_type": "accounting.customer.updated", "entity": "customer", "set": {"status": "active"}}]
		}
	}`)
	apply := func(native, data string) mapping.Result {
		res, err := set.Apply("acme", mapping.Input{NativeType: native, Body: []byte(`{"data": ` + data + `}`)})
		require.NoError(t, err)
		return res
	}

	res := apply("CREATE_CONTACT", `{"id": "c1", "type": "SUPPLIER", "name": "Bolt AG"}`)
	require.Equal(t, "accounting.supplier.created", res.EventType)
	require.Equal(t, "supplier", res.EntityType)
	require.JSONEq(t, `{"id": "c1", "company_name": "Bolt AG"}`, string(res.Entity))

	res = apply("CREATE_CONTACT", `{"id": "c2", "type": "CUSTOMER", "name": "Nut GmbH"}`)
	require.Equal(t, "accounting.customer.created", res.EventType)
	require.Equal(t, "customer", res.EntityType, "entity inherited from the event")
	require.JSONEq(t, `{"id": "c2", "display_name": "Nut GmbH"}`, string(res.Entity))

	res = apply("CREATE_CONTACT", `{"id": "c3", "name": "No Type"}`)
	require.Equal(t, "accounting.customer.created", res.EventType)

	res = apply("CREATE_CONTACT", `{"id": "c4", "type": "EMPLOYEE"}`)
	require.Equal(t, "acme.create_contact", res.EventType, "no branch and no event_type: passed through")
	require.False(t, res.Mapped)
	require.NotEmpty(t, res.Warnings)

	res = apply("UPDATE_CONTACT", `{"id": "c5", "is_customer": true}`)
	require.Equal(t, "accounting.customer.updated", res.EventType)
	require.Equal(t, "active", entityOf(t, res)["status"])

	res = apply("UPDATE_CONTACT", `{"id": "c6", "is_customer": false}`)
	require.Equal(t, "crm.contact.updated", res.EventType, "no branch matched: the event's own type")
	require.NotContains(t, entityOf(t, res), "status")
}

func TestApplyFieldPipeline(t *testing.T) {
	t.Parallel()
	set := loadAcme(t, `{
		"thing": {"type": "thing", "id": "id", "occurred_at": ["changed_at", "created_at"], "fields": {
			"cents":   {"path": "amount", "scale": 0.01, "scale_when": "integer"},
			"always":  {"path": "amount", "scale": 0.01},
			"minutes": {"path": "seconds", "scale": 0.0166666666666666666666666666666667, "type": "number"},
			"status":  {"path": "status", "map": {"open": "active", "1": "one", "true": "yes", "*": "other"}},
			"keep":    {"path": "status", "map": {"open": "active"}},
			"flag":    {"path": "flag", "type": "boolean"},
			"count":   {"path": "count", "type": "integer"},
			"label":   {"path": "count", "type": "string"},
			"when":    {"path": "ts", "type": "time"},
			"day":     {"path": "ts", "type": "date"},
			"fallback": {"path": "missing", "default": "n/a"},
			"nulled":  {"path": "gone", "default": 0},
			"null":    "gone",
			"absent":  "not.there",
			"const":   {"value": {"a": [1, 2]}},
			"cond":    {"value": "vip", "when": {"path": "tier", "in": ["gold", "platinum"]}},
			"nocond":  {"value": "x", "when": {"path": "tier", "not_equals": "gold"}},
			"items":   {"path": "items", "each": {"name": "n", "price": {"path": "p", "scale": 0.01, "scale_when": "integer"}}},
			"raw":     "nested",
			"list.0.v": "a",
			"list.1.v": "b",
			"bad":     {"path": "status", "scale": 2}
		}}
	}`, `{"t.x": {"event_type": "things.thing.changed", "entity": "thing"}}`)
	tests := []struct {
		name string
		data string
		want string // expected entity
		warn int
	}{
		{
			name: "integer amount is cents, decimals stay, maps, types, defaults",
			data: `{"id": "t1", "amount": 119000, "seconds": 90, "status": "open", "flag": "true", "count": 3.0,
				"ts": "2024-03-10T23:30:00-02:00", "gone": null, "tier": "gold",
				"items": [{"n": "a", "p": 995}, {"n": "b", "p": 9.95}], "nested": {"k": [1, 2]}, "a": 1, "b": "2"}`,
			want: `{"cents": 1190, "always": 1190, "minutes": 1.5, "status": "active", "keep": "active", "flag": true,
				"count": 3, "label": "3.0", "when": "2024-03-11T01:30:00Z", "day": "2024-03-10", "fallback": "n/a",
				"nulled": 0, "null": null, "const": {"a": [1, 2]}, "cond": "vip",
				"items": [{"name": "a", "price": 9.95}, {"name": "b", "price": 9.95}], "raw": {"k": [1, 2]},
				"list": [{"v": 1}, {"v": "2"}]}`,
			warn: 1, // bad: "open" cannot be scaled
		},
		{
			name: "decimal amount is not scaled by scale_when integer; fallback; numeric strings",
			data: `{"id": "t2", "amount": 1190.00, "status": "weird", "flag": 0, "count": "12", "ts": 1705050000000, "tier": "silver"}`,
			want: `{"cents": 1190, "always": 11.9, "status": "other", "keep": "weird", "flag": false, "count": 12, "label": "12",
				"when": "2024-01-12T09:00:00Z", "day": "2024-01-12", "fallback": "n/a", "nulled": 0, "const": {"a": [1, 2]}, "nocond": "x"}`,
			warn: 1,
		},
		{
			name: "map keys for numbers and booleans; coercion failures are warnings",
			data: `{"id": 42, "amount": "12500", "status": 1, "flag": "maybe", "count": 2.5, "ts": "yesterday", "items": "none"}`,
			want: `{"cents": 125, "always": 125, "status": "one", "keep": 1, "label": "2.5", "fallback": "n/a", "nulled": 0, "const": {"a": [1, 2]}, "nocond": "x", "bad": 2}`,
			warn: 5, // flag, count, when, day, items
		},
		{
			name: "boolean map key",
			data: `{"id": "t4", "status": true}`,
			want: `{"status": "yes", "keep": true, "fallback": "n/a", "nulled": 0, "const": {"a": [1, 2]}, "nocond": "x"}`,
			warn: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := set.Apply("acme", mapping.Input{NativeType: "t.x", Body: []byte(`{"data": ` + tt.data + `}`)})
			require.NoError(t, err)
			require.JSONEq(t, tt.want, string(res.Entity))
			require.Len(t, res.Warnings, tt.warn, "%v", res.Warnings)
			require.True(t, res.Mapped)
			require.Equal(t, "things.thing.changed", res.EventType)
			require.Empty(t, res.BaseEventType, "changed is no catalogue extension")
		})
	}
}

func TestApplyOccurredAt(t *testing.T) {
	t.Parallel()
	set := loadAcme(t, `{"thing": {"type": "thing", "id": "id", "occurred_at": "changed_at", "fields": {}}}`,
		`{"t.x": {"event_type": "things.thing.changed", "entity": "thing"}}`)
	fallback := time.Date(2020, 2, 2, 2, 2, 2, 0, time.FixedZone("x", 3600))
	tests := []struct {
		body string
		want time.Time
	}{
		{`{"at": "2024-01-01T00:00:00Z", "data": {"changed_at": 1700000000}}`, time.Unix(1700000000, 0).UTC()},
		{`{"at": "2024-01-01T00:00:00+01:00", "data": {}}`, time.Date(2023, 12, 31, 23, 0, 0, 0, time.UTC)},
		{`{"at": "2024-01-01", "data": {}}`, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)},
		{`{"at": "1700000000123", "data": {}}`, time.UnixMilli(1700000000123).UTC()},
		{`{"at": "garbage", "data": {}}`, fallback.UTC()},
		{`{"at": 1e300, "data": {}}`, fallback.UTC()},
	}
	for _, tt := range tests {
		res, err := set.Apply("acme", mapping.Input{NativeType: "t.x", Body: []byte(tt.body), OccurredAt: fallback})
		require.NoError(t, err)
		require.True(t, tt.want.Equal(res.OccurredAt), "%s: got %v", tt.body, res.OccurredAt)
		require.Equal(t, time.UTC, res.OccurredAt.Location())
	}
	before := time.Now()
	res, err := set.Apply("acme", mapping.Input{NativeType: "t.x", Body: []byte(`{"data": {}}`)})
	require.NoError(t, err)
	require.False(t, res.OccurredAt.Before(before.Add(-time.Second)), "no time anywhere: now")
}

func TestApplyChange(t *testing.T) {
	t.Parallel()
	set := loadAcme(t, `{"card": {"type": "ticket", "id": "card.id", "fields": {"id": "card.id", "subject": "card.name"}}}`, `{
		"card.label.attached": {"event_type": "issue-tracking.ticket.updated", "entity": "card",
			"change": {"relation": "tags", "action": "attached", "related_id": "label.id", "pivot": "pivot"}},
		"card.label.detached": {"event_type": "issue-tracking.ticket.updated", "entity": "card",
			"change": {"relation": "tags", "action": "detached", "related_id": "label.id", "pivot": "pivot"}}
	}`)
	res, err := set.Apply("acme", mapping.Input{NativeType: "card.label.attached",
		Body: []byte(`{"data": {"card": {"id": "c1", "name": "Fix"}, "label": {"id": 9}, "pivot": {"estimate": 30}}}`)})
	require.NoError(t, err)
	require.Equal(t, "c1", res.EntityID)
	require.JSONEq(t, `{"id": "c1", "subject": "Fix", "change": {"relation": "tags", "action": "attached", "related_id": "9", "pivot": {"estimate": 30}}}`, string(res.Entity))

	res, err = set.Apply("acme", mapping.Input{NativeType: "card.label.detached",
		Body: []byte(`{"data": {"card": {"id": "c1"}, "label": {"id": "l2"}}}`)})
	require.NoError(t, err)
	require.JSONEq(t, `{"id": "c1", "change": {"relation": "tags", "action": "detached", "related_id": "l2"}}`, string(res.Entity))
}

func TestApplyWarnsOnMissingRecordAndID(t *testing.T) {
	t.Parallel()
	set := builtin(t)
	res, err := set.Apply("dversum", mapping.Input{Body: []byte(`{"event": "invoice.created", "timestamp": "2024-01-15T10:30:00Z"}`)})
	require.NoError(t, err)
	require.Equal(t, "accounting.invoice.created", res.EventType)
	require.Empty(t, res.EntityID)
	require.Len(t, res.Warnings, 2)
	require.JSONEq(t, `{}`, string(res.Entity))
}

func TestCoverage(t *testing.T) {
	t.Parallel()
	set := builtin(t)
	cov := set.Coverage()
	// One entry per mapping file, by service; this test looks at dVersum's.
	i := slices.IndexFunc(cov, func(c mapping.Coverage) bool { return c.ServiceID == "dversum" })
	require.GreaterOrEqual(t, i, 0)
	cov = cov[i : i+1]
	require.Equal(t, "dversum", cov[0].ServiceID)
	require.Equal(t, "dversum.json", cov[0].File)
	var invoice mapping.EntityCoverage
	for _, e := range cov[0].Entities {
		if e.Name == "invoice" {
			invoice = e
		}
	}
	require.Equal(t, "invoice", invoice.EntityType)
	require.Contains(t, invoice.Fields, "customer.id")
	require.Contains(t, invoice.Fields, "total")
	for _, ev := range cov[0].Events {
		if ev.NativeType == "invoice.paid" {
			require.Equal(t, "accounting.invoice.paid", ev.EventType)
			require.Equal(t, "accounting.invoice.updated", ev.BaseEventType)
			require.Contains(t, ev.Fields, "status")
		}
	}
	// Coverage hands out copies.
	cov[0].Entities[0].Fields[0] = "mutated"
	require.NotEqual(t, "mutated", set.Coverage()[0].Entities[0].Fields[0])

	file, data, ok := set.Source("dversum")
	require.True(t, ok)
	require.Equal(t, "dversum.json", file)
	require.True(t, json.Valid(data))
}
