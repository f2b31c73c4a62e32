package vplan_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/connectors/vplan"
	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/mapping"
	"github.com/switchboardhq/switchboard/mappings"
	"github.com/switchboardhq/switchboard/plugins"
	"github.com/switchboardhq/switchboard/plugins/plugintest"
)

func sample(t *testing.T, event string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "vplan", event+".input.json"))
	require.NoError(t, err)
	return b
}

func inbound(body string) *plugins.InboundRequest {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	return &plugins.InboundRequest{Method: http.MethodPost, Path: "/webhook/inbound/vplan/tok", Headers: h,
		Body: []byte(body), Connection: plugins.Connection{ID: "conn_1", ConsumerID: "acme",
			Credentials: map[string]string{vplan.CredentialAPIKey: "k", vplan.CredentialAPIEnv: "e"}}}
}

func sha(body string) string {
	s := sha256.Sum256([]byte(body))
	return hex.EncodeToString(s[:])
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	c := plugintest.Connect(t, vplan.New())
	d, err := c.Describe(t.Context())
	require.NoError(t, err)
	require.NoError(t, d.Validate())

	assert.Equal(t, "vplan", d.ID)
	assert.Equal(t, "vPlan", d.Name)
	assert.Equal(t, []string{"issue-tracking", "time-registration", "file-storage"}, d.UnifiedAPIs)
	assert.Equal(t, plugins.WebhookSupport{Mode: plugins.ModeNative, ManagedVia: plugins.ManagedAPI,
		VirtualWebhooks: &plugins.VirtualWebhooks{RequestRate: plugins.RequestRate{Rate: 60, Size: 1, Unit: "minute"},
			Resources: []string{"card", "collection"}}}, d.Webhook, "native, and reconciled by polling")
	assert.Equal(t, vplan.PollIntervalMin, d.PollIntervalMin)
	assert.False(t, d.ProviderSigns, "vPlan signs nothing: the URL token is the authentication")
	assert.True(t, d.Poll, "vPlan is reconciled through its list endpoints")

	// The 36 event types of seed 004: 16 normal, 8 nested, 12 nested with pivot.
	require.Len(t, d.SupportedEvents, 36)
	kinds := map[vplan.PayloadKind]int{}
	for _, e := range vplan.EventTypes {
		kinds[e.Kind]++
	}
	assert.Equal(t, map[vplan.PayloadKind]int{vplan.KindNormal: 16, vplan.KindNested: 8, vplan.KindNestedPivot: 12}, kinds)
	byNative := map[string]string{}
	for _, e := range d.SupportedEvents {
		byNative[e.DownstreamEventType] = e.EventType
		assert.True(t, event.ValidType(e.EventType), "unified type %q", e.EventType)
		api := event.UnifiedAPIOf(e.EventType)
		assert.True(t, slices.Contains(d.UnifiedAPIs, api) || api == "vplan", "%s: API %s not declared", e.EventType, api)
	}
	for native, unified := range map[string]string{
		"card.created":                       "issue-tracking.ticket.created",
		"card.updated.merged":                "issue-tracking.ticket.merged",
		"card.label.attached":                "issue-tracking.ticket.updated",
		"card.resource.detached":             "issue-tracking.ticket.updated",
		"card.activity.updated":              "issue-tracking.ticket.updated",
		"collection.follower.attached":       "issue-tracking.collection.updated",
		"collection.activity.detached":       "issue-tracking.collection.updated",
		"collection.deleted":                 "issue-tracking.collection.deleted",
		"comment.updated":                    "issue-tracking.comment.updated",
		"time_tracking.deleted":              "time-registration.time_entry.deleted",
		"attachment.created":                 "file-storage.file.created",
		"collection.checklist.created":       "vplan.collection.checklist.created",
		"collection.checklist.item.attached": "vplan.collection.checklist.item.attached",
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
	require.NoError(t, settings.Validate(map[string]any{}))
	require.NoError(t, settings.Validate(map[string]any{"base_url": "http://127.0.0.1:9/v1", "event_types": []any{"card.created", "collection.checklist.item.updated"}}))
	require.Error(t, settings.Validate(map[string]any{"base_url": "not a url"}))
	require.Error(t, settings.Validate(map[string]any{"base_url": "ftp://example.com"}))
	require.Error(t, settings.Validate(map[string]any{"event_types": []any{"card.exploded"}}))
	require.Error(t, settings.Validate(map[string]any{"event_types": []any{}}))
	require.Error(t, settings.Validate(map[string]any{"event_types": []any{"card.created", "card.created"}}))
	require.Error(t, settings.Validate(map[string]any{"signing_secret": "x"}))
	var doc struct {
		Properties struct {
			BaseURL    struct{ Default string }   `json:"base_url"`
			EventTypes struct{ Default []string } `json:"event_types"`
		}
	}
	require.NoError(t, json.Unmarshal(d.SettingsSchema, &doc))
	assert.Equal(t, "https://api.vplan.com/v1", doc.Properties.BaseURL.Default)
	assert.Equal(t, vplan.AllEventTypes(), doc.Properties.EventTypes.Default)

	creds := compile("credentials.json", d.CredentialsSchema)
	require.NoError(t, creds.Validate(map[string]any{"api_key": "k", "api_env": "e"}))
	require.Error(t, creds.Validate(map[string]any{"api_key": "k"}))
	require.Error(t, creds.Validate(map[string]any{"api_env": "e"}))
	require.Error(t, creds.Validate(map[string]any{"api_key": "", "api_env": "e"}))
}

// TestHandleInboundEverySample: every sample of testdata/vplan (all 36
// event types, all three payload kinds) parses into one native event.
func TestHandleInboundEverySample(t *testing.T) {
	t.Parallel()
	c := plugintest.Connect(t, vplan.New())
	for _, e := range vplan.EventTypes {
		t.Run(e.Native, func(t *testing.T) {
			body := sample(t, e.Native)
			var env struct {
				MessageID string    `json:"message_id"`
				CreatedAt time.Time `json:"created_at"`
				Data      struct {
					ID        string    `json:"id"`
					UpdatedAt time.Time `json:"updated_at"`
				} `json:"data"`
			}
			require.NoError(t, json.Unmarshal(body, &env))
			res, err := c.HandleInbound(t.Context(), inbound(string(body)))
			require.NoError(t, err)
			require.Nil(t, res.Response)
			require.Len(t, res.Events, 1)
			ev := res.Events[0]
			assert.Equal(t, e.Native, ev.Type)
			assert.Equal(t, string(body), string(ev.Payload), "the payload is the whole body, byte for byte")
			// A card or collection version has the key its polled copy
			// gets (reconciliation); any other event its message id.
			want := env.MessageID
			if resource, _, _ := strings.Cut(e.Native, "."); (resource == "card" || resource == "collection") &&
				!strings.HasSuffix(e.Native, ".deleted") && env.Data.ID != "" && !env.Data.UpdatedAt.IsZero() {
				want = plugins.EntityVersionKey(resource, env.Data.ID, env.Data.UpdatedAt)
			}
			assert.Equal(t, want, ev.IdempotencyKey)
			assert.True(t, env.CreatedAt.Equal(ev.OccurredAt), "occurred_at %v, want %v", ev.OccurredAt, env.CreatedAt)
			assert.Equal(t, time.UTC, ev.OccurredAt.Location())
		})
	}
}

func TestHandleInboundEnvelope(t *testing.T) {
	t.Parallel()
	c := plugintest.Connect(t, vplan.New())
	long := strings.Repeat("m", 256)
	tests := []struct {
		name, body string
		wantType   string
		wantKey    string
		wantAt     time.Time
	}{
		{
			name:     "normal",
			body:     `{"message_id":"msg-1","event":"card.created","created_at":"2024-03-04T10:15:01+01:00","data":{"id":"c1","name":"Weld"}}`,
			wantType: "card.created", wantKey: "msg-1", wantAt: time.Date(2024, 3, 4, 9, 15, 1, 0, time.UTC),
		},
		{
			name:     "nested",
			body:     `{"message_id":"msg-2","event":"card.label.attached","created_at":"2024-03-05T08:00:00Z","data":{"id":"c1","label":{"id":"l1"}}}`,
			wantType: "card.label.attached", wantKey: "msg-2", wantAt: time.Date(2024, 3, 5, 8, 0, 0, 0, time.UTC),
		},
		{
			name:     "nested with pivot",
			body:     `{"message_id":"msg-3","event":"card.activity.updated","created_at":"2024-03-05T08:00:00.25Z","data":{"id":"c1","activity":{"id":"a1","pivot":{"estimate":90}}}}`,
			wantType: "card.activity.updated", wantKey: "msg-3", wantAt: time.Date(2024, 3, 5, 8, 0, 0, 250_000_000, time.UTC),
		},
		{
			name:     "no message id: the body's hash is the key",
			body:     `{"event":"card.created","data":{"id":"c1"}}`,
			wantType: "card.created", wantKey: sha(`{"event":"card.created","data":{"id":"c1"}}`),
		},
		{
			name:     "numeric message id",
			body:     `{"message_id":12345,"event":"card.deleted"}`,
			wantType: "card.deleted", wantKey: "12345",
		},
		{
			name:     "empty message id",
			body:     `{"message_id":"  ","event":"card.deleted"}`,
			wantType: "card.deleted", wantKey: sha(`{"message_id":"  ","event":"card.deleted"}`),
		},
		{
			name:     "overlong message id",
			body:     `{"message_id":"` + long + `","event":"card.deleted"}`,
			wantType: "card.deleted", wantKey: sha(`{"message_id":"` + long + `","event":"card.deleted"}`),
		},
		{
			name:     "a top-level id is not a message id",
			body:     `{"id":"card-1","event":"card.updated"}`,
			wantType: "card.updated", wantKey: sha(`{"id":"card-1","event":"card.updated"}`),
		},
		{
			name:     "type instead of event",
			body:     `{"type":"comment.created","data":{}}`,
			wantType: "comment.created", wantKey: sha(`{"type":"comment.created","data":{}}`),
		},
		{
			name:     "unknown event types are kept (passed through by the hub)",
			body:     `{"event":"card.exploded","message_id":"m9"}`,
			wantType: "card.exploded", wantKey: "m9",
		},
		{
			name:     "unreadable created_at is not fatal",
			body:     `{"event":"card.created","created_at":"yesterday"}`,
			wantType: "card.created", wantKey: sha(`{"event":"card.created","created_at":"yesterday"}`),
		},
		{
			name:     "no data is not fatal",
			body:     `{"event":"card.created","created_at":12}`,
			wantType: "card.created", wantKey: sha(`{"event":"card.created","created_at":12}`),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := c.HandleInbound(t.Context(), inbound(tt.body))
			require.NoError(t, err)
			require.Len(t, res.Events, 1)
			ev := res.Events[0]
			assert.Equal(t, tt.wantType, ev.Type)
			assert.Equal(t, tt.body, string(ev.Payload))
			assert.Equal(t, tt.wantKey, ev.IdempotencyKey)
			assert.True(t, tt.wantAt.Equal(ev.OccurredAt), "occurred_at %v, want %v", ev.OccurredAt, tt.wantAt)
		})
	}
}

func TestHandleInboundRedeliveryHasTheSameKey(t *testing.T) {
	t.Parallel()
	c := plugintest.Connect(t, vplan.New())
	body := string(sample(t, "card.activity.updated"))
	a, err := c.HandleInbound(t.Context(), inbound(body))
	require.NoError(t, err)
	b, err := c.HandleInbound(t.Context(), inbound(body))
	require.NoError(t, err)
	require.Equal(t, a.Events[0].IdempotencyKey, b.Events[0].IdempotencyKey)

	// Without a message id, a different body is a different event.
	x, err := c.HandleInbound(t.Context(), inbound(`{"event":"card.updated","data":{"id":"c1","name":"a"}}`))
	require.NoError(t, err)
	y, err := c.HandleInbound(t.Context(), inbound(`{"event":"card.updated","data":{"id":"c1","name":"b"}}`))
	require.NoError(t, err)
	require.NotEqual(t, x.Events[0].IdempotencyKey, y.Events[0].IdempotencyKey)
}

func TestHandleInboundRejectsMalformed(t *testing.T) {
	t.Parallel()
	c := plugintest.Connect(t, vplan.New())
	tests := []struct{ body, reason string }{
		{"", "body is empty"},
		{" \n\t", "body is empty"},
		{`{"event":`, "body is not valid JSON: unexpected end of JSON input (at byte 9)"},
		{`event=card.created`, "body is not valid JSON: invalid character 'e' looking for beginning of value (at byte 1)"},
		{`[{"event":"card.created"}]`, "body must be a JSON object, got an array"},
		{`"card.created"`, "body must be a JSON object, got a string"},
		{`42`, "body must be a JSON object, got a number"},
		{`null`, "body must be a JSON object, got null"},
		{`{"data":{"id":"c1"}}`, `body field "event" is missing`},
		{`{"event":7}`, `body field "event" must be a string, got a number`},
		{`{"event":null,"type":"card.created"}`, `body field "event" must be a string, got null`},
		{`{"type":["card.created"]}`, `body field "type" must be a string, got an array`},
		{`{"event":""}`, `body field "event" is empty`},
		{`{"event":"card created"}`, `body field "event" contains whitespace, control or invalid characters`},
		{`{"event":"card.created\n"}`, `body field "event" contains whitespace, control or invalid characters`},
		{`{"event":"` + strings.Repeat("a", 201) + `"}`, `body field "event" is longer than 200 bytes`},
		{`{"event":"card.created","event":"card.deleted"}`, `body field "event" appears more than once`},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			_, err := c.HandleInbound(t.Context(), inbound(tt.body))
			require.ErrorIs(t, err, plugins.ErrMalformed)
			assert.NotErrorIs(t, err, plugins.ErrBadSignature)
			assert.Equal(t, "malformed request: "+tt.reason, err.Error())
		})
	}
}

// TestMappingAgreesWithDescribe: mappings/vplan.json maps every event type
// the connector describes to the same unified type, each sample maps
// without warnings, and the mapping lists nothing else.
func TestMappingAgreesWithDescribe(t *testing.T) {
	t.Parallel()
	set, err := mapping.LoadDir(mappings.FS)
	require.NoError(t, err)
	var cov mapping.Coverage
	for _, c := range set.Coverage() {
		if c.ServiceID == vplan.ID {
			cov = c
		}
	}
	require.Equal(t, vplan.ID, cov.ServiceID, "mappings/vplan.json is built in")
	var listed []string
	for _, ev := range cov.Events {
		listed = append(listed, ev.NativeType)
	}
	want := vplan.AllEventTypes()
	slices.Sort(want)
	require.Equal(t, want, slices.Compact(listed))

	for _, e := range vplan.EventTypes {
		body := sample(t, e.Native)
		res, err := set.Apply(vplan.ID, mapping.Input{Body: body})
		require.NoError(t, err, e.Native)
		assert.Equal(t, e.Native, res.DownstreamEventType)
		assert.Equal(t, e.Unified, res.EventType, e.Native)
		assert.Empty(t, res.Warnings, e.Native)
		passThrough := strings.HasPrefix(e.Unified, "vplan.")
		assert.Equal(t, !passThrough, res.Mapped, e.Native)
		if e.Native == "card.updated.merged" {
			assert.Equal(t, "issue-tracking.ticket.updated", res.BaseEventType)
		}
		var ent struct {
			Change *struct {
				Relation  string          `json:"relation"`
				Action    string          `json:"action"`
				RelatedID string          `json:"related_id"`
				Pivot     json.RawMessage `json:"pivot"`
			} `json:"change"`
		}
		require.NoError(t, json.Unmarshal(res.Entity, &ent))
		switch {
		case passThrough:
			assert.Equal(t, "collection", res.EntityType)
		case e.Kind == vplan.KindNormal:
			assert.Nil(t, ent.Change, e.Native)
		default:
			require.NotNil(t, ent.Change, e.Native)
			action := e.Native[strings.LastIndexByte(e.Native, '.')+1:]
			assert.Equal(t, action, ent.Change.Action, e.Native)
			assert.NotEmpty(t, ent.Change.RelatedID, e.Native)
			assert.Contains(t, []string{"tags", "assignees", "followers", "activities"}, ent.Change.Relation)
			assert.Equal(t, e.Kind == vplan.KindNestedPivot, len(ent.Change.Pivot) > 0, "%s: pivot only for pivot events", e.Native)
		}
	}
}

// TestSamplesNameTheirEvent: testdata/vplan has exactly one sample per
// documented event type, each naming its own event.
func TestSamplesNameTheirEvent(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "vplan", "*.input.json"))
	require.NoError(t, err)
	var have []string
	for _, f := range files {
		native := strings.TrimSuffix(filepath.Base(f), ".input.json")
		have = append(have, native)
		var env struct{ Event string }
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, &env))
		assert.Equal(t, native, env.Event)
	}
	want := vplan.AllEventTypes()
	slices.Sort(want)
	require.Equal(t, want, have)
}
