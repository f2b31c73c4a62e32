package deskera_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/connectors/deskera"
	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/plugins"
	"github.com/switchboardhq/switchboard/plugins/plugintest"
)

// seedEventTypes is the eventTypes enum of seed 001, in its order.
var seedEventTypes = []string{
	"CREATE_PRODUCTS", "CREATE_CONTACT", "CREATE_BILL", "UPDATE_BILL", "DELETE_BILL",
	"CREATE_INVOICE", "UPDATE_INVOICE", "DELETE_INVOICE",
	"CREATE_DEBITNOTE", "UPDATE_DEBITNOTE", "DELETE_DEBITNOTE",
	"CREATE_CREDITNOTE", "UPDATE_CREDITNOTE", "DELETE_CREDITNOTE",
	"CREATE_CRM_CONTACT", "UPDATE_CRM_CONTACT", "DELETE_CRM_CONTACT",
	"CREATE_CRM_DEAL", "UPDATE_CRM_DEAL", "DELETE_CRM_DEAL",
	"STOCK_IN", "STOCK_OUT",
}

// logBuffer collects log output written from several goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLogger() (*slog.Logger, *logBuffer) {
	buf := &logBuffer{}
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

func inbound(query string, body string) *plugins.InboundRequest {
	q, _ := url.ParseQuery(query)
	return &plugins.InboundRequest{
		Method: http.MethodPost, Path: "/webhook/inbound/deskera/tok", Query: q,
		Headers: http.Header{"Content-Type": {"application/json"}}, Body: []byte(body),
		Connection: plugins.Connection{ID: "conn_1", ConsumerID: "acme"},
	}
}

func hashKey(eventType, body string) string {
	s := sha256.Sum256([]byte(eventType + "\n" + body))
	return hex.EncodeToString(s[:])
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	c := plugintest.Connect(t, deskera.New())
	d, err := c.Describe(t.Context())
	require.NoError(t, err)
	require.NoError(t, d.Validate())

	assert.Equal(t, "deskera", d.ID)
	assert.Equal(t, "Deskera", d.Name)
	assert.Equal(t, []string{"accounting", "crm"}, d.UnifiedAPIs)
	assert.Equal(t, plugins.WebhookSupport{Mode: plugins.ModeNative, ManagedVia: plugins.ManagedAPI}, d.Webhook)
	assert.False(t, d.ProviderSigns, "Deskera publishes no signature")
	assert.False(t, d.Poll)

	var natives []string
	byNative := map[string]string{}
	for _, e := range d.SupportedEvents {
		natives = append(natives, e.DownstreamEventType)
		byNative[e.DownstreamEventType] = e.EventType
		assert.True(t, event.ValidType(e.EventType), e.EventType)
		assert.Contains(t, d.UnifiedAPIs, event.UnifiedAPIOf(e.EventType), e.EventType)
	}
	assert.Equal(t, seedEventTypes, natives, "all 22 event types of seed 001, in its order")
	for native, unified := range map[string]string{
		"CREATE_CONTACT":     "accounting.customer.created",
		"CREATE_PRODUCTS":    "accounting.invoice_item.created",
		"STOCK_OUT":          "accounting.invoice_item.stock_out",
		"CREATE_DEBITNOTE":   "accounting.credit_note.created",
		"DELETE_CREDITNOTE":  "accounting.credit_note.deleted",
		"UPDATE_CRM_DEAL":    "crm.opportunity.updated",
		"DELETE_CRM_CONTACT": "crm.contact.deleted",
	} {
		assert.Equal(t, unified, byNative[native], native)
	}

	compile := func(name string, doc []byte) *jsonschema.Schema {
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
		require.NoError(t, err, name)
		cmp := jsonschema.NewCompiler()
		cmp.AssertFormat()
		require.NoError(t, cmp.AddResource(name, v))
		s, err := cmp.Compile(name)
		require.NoError(t, err, name)
		return s
	}
	settings := compile("settings.json", d.SettingsSchema)
	for _, ok := range []map[string]any{
		{},
		{"base_url": "http://127.0.0.1:8123", "event_types": []any{"CREATE_INVOICE", "STOCK_IN"}},
		{"base_url": "https://bifrost.deskera.com/"},
	} {
		assert.NoError(t, settings.Validate(ok), "%v", ok)
	}
	for _, bad := range []map[string]any{
		{"base_url": "not a url"},
		{"base_url": "ftp://bifrost.deskera.com"},
		{"base_url": "https://bifrost.deskera.com?x=1"},
		{"event_types": []any{}},
		{"event_types": []any{"CREATE_INVOICE", "CREATE_INVOICE"}},
		{"event_types": []any{"CREATE_QUOTE"}},
		{"webhook_url": "https://x"},
	} {
		assert.Error(t, settings.Validate(bad), "%v", bad)
	}
	creds := compile("credentials.json", d.CredentialsSchema)
	full := map[string]any{"client_id": "cl_pub", "client_secret": "cl_priv", "access_token": "at", "refresh_token": "rt"}
	require.NoError(t, creds.Validate(full))
	for _, k := range []string{"client_id", "client_secret", "access_token", "refresh_token"} {
		partial := map[string]any{}
		for kk, v := range full {
			if kk != k {
				partial[kk] = v
			}
		}
		assert.Error(t, creds.Validate(partial), "without %s", k)
	}
}

func TestHandleInboundAccepts(t *testing.T) {
	t.Parallel()
	c := plugintest.Connect(t, deskera.New())
	const invoice = `{"tenantId":81234,"timestamp":"2024-01-15T10:30:00Z","data":{"salesInvoiceCode":"SI-0000001","totalAmount":1190}}`
	tests := []struct {
		name, query, body string
		wantType, wantKey string
		wantAt            time.Time
	}{
		{
			name: "type from the query", query: "e=CREATE_INVOICE", body: invoice,
			wantType: "CREATE_INVOICE", wantKey: hashKey("CREATE_INVOICE", invoice),
			wantAt: time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC),
		},
		{
			name: "type from the body", body: `{"eventType":"UPDATE_BILL","data":{"purchaseInvoiceCode":"PI-1"}}`,
			wantType: "UPDATE_BILL", wantKey: hashKey("UPDATE_BILL", `{"eventType":"UPDATE_BILL","data":{"purchaseInvoiceCode":"PI-1"}}`),
		},
		{
			name: "query and body agree", query: "e=STOCK_IN", body: `{"eventType":"STOCK_IN","data":{}}`,
			wantType: "STOCK_IN", wantKey: hashKey("STOCK_IN", `{"eventType":"STOCK_IN","data":{}}`),
		},
		{
			name: "empty query value falls back to the body", query: "e=", body: `{"eventType":"STOCK_OUT"}`,
			wantType: "STOCK_OUT", wantKey: hashKey("STOCK_OUT", `{"eventType":"STOCK_OUT"}`),
		},
		{
			name: "null eventType is absent", query: "e=DELETE_CRM_DEAL", body: `{"eventType":null,"data":{"id":"d1"}}`,
			wantType: "DELETE_CRM_DEAL", wantKey: hashKey("DELETE_CRM_DEAL", `{"eventType":null,"data":{"id":"d1"}}`),
		},
		{
			name: "eventId is the idempotency key", query: "e=CREATE_INVOICE", body: `{"eventId":"evt_42","data":{}}`,
			wantType: "CREATE_INVOICE", wantKey: "evt_42",
		},
		{
			name: "numeric eventId", query: "e=CREATE_INVOICE", body: `{"eventId":9007199254740993,"data":{}}`,
			wantType: "CREATE_INVOICE", wantKey: "9007199254740993",
		},
		{
			name: "blank eventId is not an id", query: "e=CREATE_INVOICE", body: `{"eventId":"  ","data":{}}`,
			wantType: "CREATE_INVOICE", wantKey: hashKey("CREATE_INVOICE", `{"eventId":"  ","data":{}}`),
		},
		{
			name: "unix milliseconds", query: "e=CREATE_CRM_CONTACT", body: `{"timestamp":1705314600000,"data":{"id":"c1"}}`,
			wantType: "CREATE_CRM_CONTACT", wantKey: hashKey("CREATE_CRM_CONTACT", `{"timestamp":1705314600000,"data":{"id":"c1"}}`),
			wantAt: time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC),
		},
		{
			name: "unix seconds", query: "e=CREATE_CRM_CONTACT", body: `{"timestamp":1705314600,"data":{"id":"c1"}}`,
			wantType: "CREATE_CRM_CONTACT", wantKey: hashKey("CREATE_CRM_CONTACT", `{"timestamp":1705314600,"data":{"id":"c1"}}`),
			wantAt: time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC),
		},
		{
			name: "offset timestamp is normalised to UTC", query: "e=CREATE_INVOICE", body: `{"timestamp":"2024-01-15T11:30:00+01:00"}`,
			wantType: "CREATE_INVOICE", wantKey: hashKey("CREATE_INVOICE", `{"timestamp":"2024-01-15T11:30:00+01:00"}`),
			wantAt: time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC),
		},
		{
			name: "unreadable timestamp leaves occurred_at unknown", query: "e=CREATE_INVOICE", body: `{"timestamp":"yesterday"}`,
			wantType: "CREATE_INVOICE", wantKey: hashKey("CREATE_INVOICE", `{"timestamp":"yesterday"}`),
		},
		{
			name: "undocumented type passes", query: "e=CREATE_QUOTE", body: `{"data":{"id":"q1"}}`,
			wantType: "CREATE_QUOTE", wantKey: hashKey("CREATE_QUOTE", `{"data":{"id":"q1"}}`),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := c.HandleInbound(t.Context(), inbound(tt.query, tt.body))
			require.NoError(t, err)
			require.Nil(t, res.Response)
			require.Len(t, res.Events, 1)
			ev := res.Events[0]
			assert.Equal(t, tt.wantType, ev.Type)
			assert.Equal(t, tt.body, string(ev.Payload), "no dates to rewrite: the payload is the body")
			assert.Equal(t, tt.wantKey, ev.IdempotencyKey)
			assert.True(t, tt.wantAt.Equal(ev.OccurredAt), "occurred_at %v, want %v", ev.OccurredAt, tt.wantAt)
		})
	}
}

func TestHandleInboundIdempotencyKey(t *testing.T) {
	t.Parallel()
	c := plugintest.Connect(t, deskera.New())
	key := func(query, body string) string {
		res, err := c.HandleInbound(t.Context(), inbound(query, body))
		require.NoError(t, err)
		return res.Events[0].IdempotencyKey
	}
	body := `{"data":{"salesInvoiceCode":"SI-0000001","totalAmount":1190}}`
	assert.Equal(t, key("e=CREATE_INVOICE", body), key("e=CREATE_INVOICE", body), "a redelivery has the same key")
	assert.NotEqual(t, key("e=CREATE_INVOICE", body), key("e=UPDATE_INVOICE", body), "same data, other event type: another event")
	assert.NotEqual(t, key("e=UPDATE_INVOICE", body), key("e=UPDATE_INVOICE", strings.Replace(body, "1190", "1191", 1)))
}

func TestHandleInboundQueryWinsOverBody(t *testing.T) {
	t.Parallel()
	log, buf := newLogger()
	c := plugintest.Connect(t, deskera.NewWithConfig(deskera.Config{Logger: log}))
	res, err := c.HandleInbound(t.Context(), inbound("e=UPDATE_INVOICE", `{"eventType":"CREATE_INVOICE","data":{}}`))
	require.NoError(t, err)
	assert.Equal(t, "UPDATE_INVOICE", res.Events[0].Type, "the URL was registered for exactly this type")
	out := buf.String()
	assert.Contains(t, out, "disagree")
	assert.Contains(t, out, `"query_event_type":"UPDATE_INVOICE"`)
	assert.Contains(t, out, `"body_event_type":"CREATE_INVOICE"`)
}

func TestHandleInboundNormalizesDates(t *testing.T) {
	t.Parallel()
	c := plugintest.Connect(t, deskera.New())
	body := `{"timestamp":"2024-01-15T10:30:00Z","data":{"invoiceDate":"15-01-2024", "dueDate" : "29-02-2024",` +
		`"memo":"due 14-02-2024","code":"12-34-5678","shipDate":"31-02-2024","closeDate":"2024-03-31",` +
		`"items":[{"deliveryDate":"01-03-2024","n":"01-03-2024"}],"nested":{"date":"05-06-2024"},"startDate":"15\u002d01-2024"}}`
	res, err := c.HandleInbound(t.Context(), inbound("e=CREATE_INVOICE", body))
	require.NoError(t, err)
	want := `{"timestamp":"2024-01-15T10:30:00Z","data":{"invoiceDate":"2024-01-15", "dueDate" : "2024-02-29",` +
		`"memo":"due 14-02-2024","code":"12-34-5678","shipDate":"31-02-2024","closeDate":"2024-03-31",` +
		`"items":[{"deliveryDate":"2024-03-01","n":"01-03-2024"}],"nested":{"date":"2024-06-05"},"startDate":"15\u002d01-2024"}}`
	assert.Equal(t, want, string(res.Events[0].Payload),
		"only valid dd-MM-yyyy values of *Date members are rewritten; escaped strings, other keys and invalid dates stay")
	assert.Equal(t, hashKey("CREATE_INVOICE", body), res.Events[0].IdempotencyKey, "the key is over the raw body")
}

func TestHandleInboundRejectsMalformed(t *testing.T) {
	t.Parallel()
	c := plugintest.Connect(t, deskera.New())
	tests := []struct {
		query, body, reason string
	}{
		{"e=CREATE_INVOICE", "", "body is empty"},
		{"e=CREATE_INVOICE", " \n", "body is empty"},
		{"e=CREATE_INVOICE", `{"data":`, "body is not valid JSON: unexpected end of JSON input (at byte 8)"},
		{"e=CREATE_INVOICE", `eventType=CREATE_INVOICE`, "body is not valid JSON: invalid character 'e' looking for beginning of value (at byte 1)"},
		{"e=CREATE_INVOICE", `[{"eventType":"CREATE_INVOICE"}]`, "body must be a JSON object, got an array"},
		{"e=CREATE_INVOICE", `"CREATE_INVOICE"`, "body must be a JSON object, got a string"},
		{"e=CREATE_INVOICE", `null`, "body must be a JSON object, got null"},
		{"", `{"data":{}}`, `no event type: the URL has no ?e= and the body no "eventType" field`},
		{"e=", `{"eventType":""}`, `no event type: the URL has no ?e= and the body no "eventType" field`},
		{"", `{"eventType":42}`, `body field "eventType" must be a string, got a number`},
		{"e=CREATE_INVOICE", `{"eventType":{"x":1}}`, `body field "eventType" must be a string, got an object`},
		{"", `{"eventType":"CREATE INVOICE"}`, `body field "eventType" must be an event type such as CREATE_INVOICE (letters, digits, '_', '.', '-', at most 100)`},
		{"e=CREATE%0AINVOICE", `{}`, `query parameter "e" must be an event type such as CREATE_INVOICE (letters, digits, '_', '.', '-', at most 100)`},
		{"e=" + strings.Repeat("A", 101), `{}`, `query parameter "e" must be an event type such as CREATE_INVOICE (letters, digits, '_', '.', '-', at most 100)`},
		{"e=CREATE_INVOICE&e=UPDATE_INVOICE", `{}`, `query parameter "e" is given 2 times`},
		{"", `{"eventType":"CREATE_INVOICE","eventType":"DELETE_INVOICE"}`, `body field "eventType" appears more than once`},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			_, err := c.HandleInbound(t.Context(), inbound(tt.query, tt.body))
			require.ErrorIs(t, err, plugins.ErrMalformed)
			var me *plugins.MalformedError
			require.True(t, errors.As(err, &me))
			assert.Equal(t, tt.reason, me.Reason)
		})
	}
}

func TestEventTypes(t *testing.T) {
	t.Parallel()
	assert.Equal(t, seedEventTypes, deskera.EventTypes())
	assert.False(t, slices.Contains(deskera.EventTypes(), "CREATE_QUOTE"))
}
