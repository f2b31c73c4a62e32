package dversum_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/connectors/dversum"
	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/plugins"
	"github.com/switchboardhq/switchboard/plugins/plugintest"
)

const secret = "dv-test-secret-0123456789"

// seedBody is the example payload of dVersum's documentation (seed 000).
const seedBody = `{
"event": "invoice.created",
"timestamp": "2024-01-15T10:30:00Z",
"data": {
"id": "inv_abc123",
"invoice_number": "RE-2024-0001",
"client_id": "cli_xyz789",
"total": 1190.00,
"currency": "EUR",
"status": "draft"
}
}`

func conn() plugins.Connection {
	return plugins.Connection{ID: "conn_1", ConsumerID: "acme", Credentials: map[string]string{plugins.CredentialSigningSecret: secret}}
}

func signed(body string, extra ...string) *plugins.InboundRequest {
	h := http.Header{}
	h.Set(dversum.HeaderSignature, dversum.Sign(secret, []byte(body)))
	for i := 0; i+1 < len(extra); i += 2 {
		h.Set(extra[i], extra[i+1])
	}
	return &plugins.InboundRequest{Method: http.MethodPost, Path: "/webhook/inbound/dversum/tok", Headers: h, Body: []byte(body), Connection: conn()}
}

func sha(body string) string {
	s := sha256.Sum256([]byte(body))
	return hex.EncodeToString(s[:])
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	c := plugintest.Connect(t, dversum.New())
	d, err := c.Describe(t.Context())
	require.NoError(t, err)
	require.NoError(t, d.Validate())

	assert.Equal(t, "dversum", d.ID)
	assert.Equal(t, "dVersum", d.Name)
	assert.Equal(t, []string{"accounting", "issue-tracking", "time-registration", "hris"}, d.UnifiedAPIs)
	assert.Equal(t, plugins.WebhookSupport{Mode: plugins.ModeNative, ManagedVia: plugins.ManagedManual}, d.Webhook)
	assert.True(t, d.ProviderSigns)
	assert.False(t, d.Poll, "dVersum pushes; the connector does not poll")

	// The 44 events of seed 000 plus the legacy quote.accepted.
	require.Len(t, d.SupportedEvents, 45)
	byNative := map[string]string{}
	for _, e := range d.SupportedEvents {
		byNative[e.DownstreamEventType] = e.EventType
		assert.True(t, event.ValidType(e.EventType), "unified type %q", e.EventType)
		api := event.UnifiedAPIOf(e.EventType)
		assert.True(t, slices.Contains(d.UnifiedAPIs, api) || api == "dversum", "%s: API %s not declared", e.EventType, api)
	}
	for native, unified := range map[string]string{
		"invoice.paid":       "accounting.invoice.paid",
		"reminder.sent":      "accounting.invoice.reminder_sent",
		"quote.signed":       "accounting.quote.accepted",
		"client.deleted":     "accounting.customer.deleted",
		"project.archived":   "issue-tracking.collection.archived",
		"subtask.completed":  "issue-tracking.ticket.completed",
		"task.moved":         "issue-tracking.ticket.moved",
		"comment.created":    "issue-tracking.comment.created",
		"time_entry.stopped": "time-registration.time_entry.stopped",
		"absence.updated":    "hris.time-off-request.updated",
		"page.deleted":       "dversum.page.deleted",
	} {
		assert.Equal(t, unified, byNative[native], native)
	}

	// The schemas compile and accept what the hub will send.
	compile := func(name string, doc []byte) *jsonschema.Schema {
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
		require.NoError(t, err, name)
		cmp := jsonschema.NewCompiler()
		require.NoError(t, cmp.AddResource(name, v))
		s, err := cmp.Compile(name)
		require.NoError(t, err, name)
		return s
	}
	settings := compile("settings.json", d.SettingsSchema)
	require.NoError(t, settings.Validate(map[string]any{}))
	require.Error(t, settings.Validate(map[string]any{"base_url": "x"}))
	creds := compile("credentials.json", d.CredentialsSchema)
	require.NoError(t, creds.Validate(map[string]any{"signing_secret": "s3cret"}))
	require.NoError(t, creds.Validate(map[string]any{}), "the hub generates the secret when omitted")
	require.Error(t, creds.Validate(map[string]any{"signing_secret": ""}))
}

func TestHandleInboundAccepts(t *testing.T) {
	t.Parallel()
	c := plugintest.Connect(t, dversum.New())

	tests := []struct {
		name     string
		req      *plugins.InboundRequest
		wantType string
		wantKey  string
		wantAt   time.Time
	}{
		{
			name:     "seed example",
			req:      signed(seedBody),
			wantType: "invoice.created",
			wantKey:  sha(seedBody),
			wantAt:   time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC),
		},
		{
			// The header is not signed: keying on it let a captured body
			// be resent as a new event under any other id.
			name:     "webhook id header is not the idempotency key",
			req:      signed(seedBody, "x-webhook-id", "wh_evt_42"),
			wantType: "invoice.created",
			wantKey:  sha(seedBody),
			wantAt:   time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC),
		},
		{
			name:     "request id is not an event id",
			req:      signed(seedBody, "X-Request-Id", "req_1"),
			wantType: "invoice.created",
			wantKey:  sha(seedBody),
			wantAt:   time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC),
		},
		{
			name:     "offset timestamp is normalised to UTC",
			req:      signed(`{"event":"invoice.paid","timestamp":"2024-01-15T11:30:00.5+01:00"}`),
			wantType: "invoice.paid",
			wantKey:  sha(`{"event":"invoice.paid","timestamp":"2024-01-15T11:30:00.5+01:00"}`),
			wantAt:   time.Date(2024, 1, 15, 10, 30, 0, 500_000_000, time.UTC),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := c.HandleInbound(t.Context(), tt.req)
			require.NoError(t, err)
			require.Nil(t, res.Response)
			require.Len(t, res.Events, 1)
			ev := res.Events[0]
			assert.Equal(t, tt.wantType, ev.Type)
			assert.Equal(t, string(tt.req.Body), string(ev.Payload), "the payload is the whole body, byte for byte")
			assert.Equal(t, tt.wantKey, ev.IdempotencyKey)
			assert.True(t, tt.wantAt.Equal(ev.OccurredAt), "occurred_at %v, want %v", ev.OccurredAt, tt.wantAt)
		})
	}
}

func TestHandleInboundSignatureVariants(t *testing.T) {
	t.Parallel()
	c := plugintest.Connect(t, dversum.New())
	good := dversum.Sign(secret, []byte(seedBody))
	other := dversum.Sign("another-secret", []byte(seedBody))
	for name, header := range map[string]string{
		"upper-case hex":           "sha256=" + strings.ToUpper(strings.TrimPrefix(good, "sha256=")),
		"upper-case prefix":        "SHA256=" + strings.TrimPrefix(good, "sha256="),
		"surrounding blanks":       "  " + good + " ",
		"second of two signatures": other + ", " + good,
	} {
		t.Run(name, func(t *testing.T) {
			req := signed(seedBody)
			req.Headers.Set(dversum.HeaderSignature, header)
			_, err := c.HandleInbound(t.Context(), req)
			require.NoError(t, err)
		})
	}
}

func TestHandleInboundRejectsSignature(t *testing.T) {
	t.Parallel()
	c := plugintest.Connect(t, dversum.New())
	tests := []struct {
		name    string
		mutate  func(*plugins.InboundRequest)
		wantMsg string
	}{
		{"missing header", func(r *plugins.InboundRequest) { r.Headers.Del(dversum.HeaderSignature) }, "missing X-Webhook-Signature header"},
		{"wrong secret", func(r *plugins.InboundRequest) {
			r.Headers.Set(dversum.HeaderSignature, dversum.Sign("wrong", r.Body))
		}, "does not match"},
		{"body changed after signing", func(r *plugins.InboundRequest) { r.Body = append(r.Body, ' ') }, "does not match"},
		{"no prefix", func(r *plugins.InboundRequest) {
			r.Headers.Set(dversum.HeaderSignature, strings.TrimPrefix(dversum.Sign(secret, r.Body), "sha256="))
		}, "must be sha256=<64 hex digits>"},
		{"not hex", func(r *plugins.InboundRequest) { r.Headers.Set(dversum.HeaderSignature, "sha256=zz") }, "must be sha256=<64 hex digits>"},
		{"truncated", func(r *plugins.InboundRequest) {
			r.Headers.Set(dversum.HeaderSignature, dversum.Sign(secret, r.Body)[:40])
		}, "must be sha256=<64 hex digits>"},
		{"connection without secret", func(r *plugins.InboundRequest) { r.Connection.Credentials = nil }, "no signing_secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := signed(seedBody)
			tt.mutate(req)
			_, err := c.HandleInbound(t.Context(), req)
			require.ErrorIs(t, err, plugins.ErrBadSignature)
			assert.NotErrorIs(t, err, plugins.ErrMalformed)
			assert.Contains(t, err.Error(), tt.wantMsg)
			assert.NotContains(t, err.Error(), secret, "errors never carry the secret")
		})
	}
}

func TestHandleInboundRejectsMalformed(t *testing.T) {
	t.Parallel()
	c := plugintest.Connect(t, dversum.New())
	tests := []struct {
		body, reason string
	}{
		{"", "body is empty"},
		{"  \n", "body is empty"},
		{`{"event":`, "body is not valid JSON: unexpected end of JSON input (at byte 9)"},
		{`event=invoice.paid`, "body is not valid JSON: invalid character 'e' looking for beginning of value (at byte 1)"},
		{`[{"event":"invoice.paid"}]`, "body must be a JSON object, got an array"},
		{`"invoice.paid"`, "body must be a JSON object, got a string"},
		{`{"timestamp":"2024-01-15T10:30:00Z","data":{}}`, `body field "event" is missing`},
		{`{"event":42}`, `body field "event" must be a string, got a number`},
		{`{"event":null}`, `body field "event" must be a string, got null`},
		{`{"event":""}`, `body field "event" is empty`},
		{`{"event":"invoice paid"}`, `body field "event" contains whitespace, control or invalid characters`},
		{`{"event":"` + strings.Repeat("a", 201) + `"}`, `body field "event" is longer than 200 bytes`},
		{`{"event":"invoice.paid","event":"page.created"}`, `body field "event" appears more than once`},
		// The signed timestamp is what the hub's replay window checks.
		{`{"event":"page.created","data":{"id":"pg_1"}}`, `body field "timestamp" is missing`},
		{`{"event":"task.moved","timestamp":"yesterday"}`, `body field "timestamp" must be an RFC 3339 time such as 2024-01-15T10:30:00Z`},
		{`{"event":"task.moved","timestamp":1705314600}`, `body field "timestamp" must be an RFC 3339 string`},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			_, err := c.HandleInbound(t.Context(), signed(tt.body))
			require.ErrorIs(t, err, plugins.ErrMalformed)
			var me *plugins.MalformedError
			require.True(t, errors.As(err, &me))
			assert.Equal(t, tt.reason, me.Reason)
		})
	}
}

func TestSubscribeIsManual(t *testing.T) {
	t.Parallel()
	c := plugintest.Connect(t, dversum.New())
	res, err := c.Subscribe(t.Context(), &plugins.SubscribeRequest{Connection: conn(), WebhookURL: "https://hub.example/webhook/inbound/dversum/tok"})
	require.NoError(t, err)
	assert.False(t, res.Registered)
	assert.Empty(t, res.State)
	assert.Contains(t, res.Message, "https://hub.example/webhook/inbound/dversum/tok")
	assert.Contains(t, res.Message, "Settings -> Webhooks")

	require.NoError(t, c.Unsubscribe(t.Context(), &plugins.UnsubscribeRequest{Connection: conn()}))

	_, err = c.Poll(t.Context(), &plugins.PollRequest{Connection: conn()})
	require.ErrorIs(t, err, plugins.ErrUnsupported)
}

func TestSign(t *testing.T) {
	t.Parallel()
	// RFC 4231 test case 2.
	assert.Equal(t, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
		dversum.Sign("Jefe", []byte("what do ya want for nothing?")))
}
