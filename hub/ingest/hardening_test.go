package ingest_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/connectors/dversum"
	"github.com/switchboardhq/switchboard/hub/api"
	"github.com/switchboardhq/switchboard/hub/store"
	"github.com/switchboardhq/switchboard/plugins"
)

// inboundWithID posts a signed body with dVersum's (unsigned) X-Webhook-Id.
func (e *env) inboundWithID(body []byte, webhookID string) response {
	h := http.Header{"Content-Type": {"application/json"}, "X-Webhook-Signature": {dversum.Sign(e.secret, body)}}
	if webhookID != "" {
		h.Set(dversum.HeaderWebhookID, webhookID)
	}
	return e.send(http.MethodPost, "/webhook/inbound/dversum/"+e.conn.Token, body, h)
}

func storedEvents(t *testing.T, res response) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, ev := range res.json["data"].(map[string]any)["events"].([]any) {
		out = append(out, ev.(map[string]any))
	}
	return out
}

// TestCapturedBodyResentWithAnotherWebhookIDIsADuplicate: the signature
// covers only the body, so a body resent with a new X-Webhook-Id used to be
// a new event each time.
func TestCapturedBodyResentWithAnotherWebhookIDIsADuplicate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	body := sample(t, "invoice.paid")
	first := e.inboundWithID(body, "wh_1")
	require.Equal(t, http.StatusAccepted, first.status, first.json)
	for _, id := range []string{"wh_2", "wh_3", ""} {
		again := e.inboundWithID(body, id)
		require.Equal(t, http.StatusAccepted, again.status, again.json)
		ev := storedEvents(t, again)[0]
		assert.Equal(t, true, ev["duplicate"], "X-Webhook-Id %q", id)
		assert.Equal(t, storedEvents(t, first)[0]["id"], ev["id"], "answered with the first event")
	}
	assert.Len(t, e.events(), 1, "one signed body is one event")
}

// TestGuessedWebhookIDDoesNotBlockTheRealEvent: a captured body sent ahead
// with the id the next real event will carry used to take its key, and the
// real event then got 409 (and was never stored).
func TestGuessedWebhookIDDoesNotBlockTheRealEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	captured := sample(t, "invoice.created")
	require.Equal(t, http.StatusAccepted, e.inboundWithID(captured, "wh_next").status)

	real := sample(t, "invoice.paid")
	res := e.inboundWithID(real, "wh_next")
	require.Equal(t, http.StatusAccepted, res.status, res.json)
	assert.Equal(t, false, storedEvents(t, res)[0]["duplicate"])
	assert.Len(t, e.events(), 2)
}

// TestSignedTimestampOutsideTheReplayWindowIsRefused: once events are
// purged (after --retention), dedupe forgets them; a captured body older
// than that must not become new again. Far-future bodies are refused too,
// or they would outlive the window.
func TestSignedTimestampOutsideTheReplayWindowIsRefused(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e := newEnv(t, func(o *options) {
		o.replayWindow = 48 * time.Hour
		o.now = func() time.Time { return now }
	})
	base := sample(t, "invoice.created")
	for _, tc := range []struct {
		name   string
		at     time.Time
		reason string // metric reason; "" accepted
		msg    string
	}{
		{"inside the window", now.Add(-47 * time.Hour), "", ""},
		{"a little ahead (clock skew)", now.Add(4 * time.Minute), "", ""},
		{"older than the window", now.Add(-49 * time.Hour), "stale_timestamp", "older than the hub's replay window (48h0m0s"},
		{"within the skew of the window's end", now.Add(-48*time.Hour + time.Minute), "stale_timestamp", "older than the hub's replay window"},
		{"far ahead", now.Add(time.Hour), "future_timestamp", "more than 5m0s ahead of the hub's clock"},
	} {
		res := e.inbound(withTimestamp(base, tc.at), e.secret)
		if tc.reason == "" {
			assert.Equal(t, http.StatusAccepted, res.status, "%s: %v", tc.name, res.json)
			continue
		}
		assert.Equal(t, http.StatusBadRequest, res.status, "%s: %v", tc.name, res.json)
		assert.Equal(t, api.TypeRequestValidation, res.json["type_name"], tc.name)
		assert.Contains(t, res.json["message"], tc.msg, tc.name)
		assert.Equal(t, "timestamp", res.json["detail"].(map[string]any)["field"], tc.name)
	}
	assert.Len(t, e.events(), 2, "only the two inside the window are stored")
	assert.Equal(t, 2.0, testutil.ToFloat64(e.metrics.InboundRequests.WithLabelValues("dversum", "stale_timestamp")))
	assert.Equal(t, 1.0, testutil.ToFloat64(e.metrics.InboundRequests.WithLabelValues("dversum", "future_timestamp")))
}

// keyedDVersum is dVersum as a provider that keys its events on an event id
// of its own (as Deskera and vPlan do) would behave: the real connector,
// with the X-Event-Id header as the idempotency key.
type keyedDVersum struct{ *dversum.Connector }

func (k keyedDVersum) HandleInbound(ctx context.Context, req *plugins.InboundRequest) (*plugins.InboundResult, error) {
	res, err := k.Connector.HandleInbound(ctx, req)
	if err != nil {
		return nil, err
	}
	res.Events[0].IdempotencyKey = req.Headers.Get("X-Event-Id")
	return res, nil
}

// TestProviderReusingAKeyIsAcknowledged: a provider cannot resolve a 409, it
// retries it forever; a changed payload under a key it used before is
// acknowledged with the first event, which stands.
func TestProviderReusingAKeyIsAcknowledged(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *options) { o.connector = keyedDVersum{dversum.New()} })
	send := func(body []byte) response {
		h := http.Header{"X-Webhook-Signature": {dversum.Sign(e.secret, body)}, "X-Event-Id": {"evt_1"}}
		return e.send(http.MethodPost, "/webhook/inbound/dversum/"+e.conn.Token, body, h)
	}
	first := send(sample(t, "invoice.created"))
	require.Equal(t, http.StatusAccepted, first.status, first.json)
	changed := send(sample(t, "invoice.paid"))
	require.Equal(t, http.StatusAccepted, changed.status, changed.json)
	ev := storedEvents(t, changed)[0]
	assert.Equal(t, true, ev["duplicate"])
	assert.Equal(t, storedEvents(t, first)[0]["id"], ev["id"])
	assert.Equal(t, "accounting.invoice.created", ev["event_type"], "the first version stands")
	assert.Len(t, e.events(), 1)
}

// TestInboundTextIsRepairedOnBothStores: NUL (raw or \u0000) and invalid
// UTF-8 in a provider payload used to be a 500 on PostgreSQL (retried
// forever by the provider) and invalid JSON delivered from SQLite. The
// provider cannot fix its payload, so both stores store the same repaired
// text: bad bytes become U+FFFD, NULs are dropped.
func TestInboundTextIsRepairedOnBothStores(t *testing.T) {
	t.Parallel()
	for name, pg := range map[string]bool{"sqlite": false, "postgres": true} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(o *options) { o.postgres = pg })
			body := []byte(`{"event":"invoice.created","timestamp":"` + time.Now().UTC().Format(time.RFC3339) + `",` +
				`"data":{"id":"inv_\u00001","invoice_number":"RE-\u0000` + "\xff\xfe" + `-1","client_id":"cli_\ud800x",` +
				`"currency":"EUR","total":10.5,"status":"draft","notes":"a \\u0000 stays text, \ud83d\ude00 stays a pair"}}`)
			res := e.inbound(body, e.secret)
			require.Equal(t, http.StatusAccepted, res.status, res.json)

			evs := e.events()
			require.Len(t, evs, 1)
			ev := evs[0]
			assert.Equal(t, "inv_1", ev.EntityID, "the NUL is dropped")
			assert.True(t, json.Valid(ev.Entity), "%s", ev.Entity)
			assert.True(t, utf8.Valid(ev.Entity), "%q", ev.Entity)
			var entity map[string]any
			require.NoError(t, json.Unmarshal(ev.Entity, &entity))
			assert.Equal(t, "RE-\uFFFD-1", entity["number"], "NUL dropped, invalid bytes become U+FFFD")
			assert.Equal(t, "cli_\uFFFDx", entity["customer"].(map[string]any)["id"], "a lone surrogate becomes U+FFFD")
			assert.Equal(t, "a \\u0000 stays text, \U0001F600 stays a pair", entity["customer_memo"],
				"an escaped backslash before u0000 is text, not a NUL")

			// What the API and the deliveries read back is the same text.
			stored, err := e.st.GetEvent(t.Context(), store.AllConsumers(), ev.ID)
			require.NoError(t, err)
			assert.False(t, strings.ContainsRune(stored.EntityID, 0))
			ds, err := e.st.ListDeliveries(t.Context(), store.AllConsumers(), ev.ID)
			require.NoError(t, err)
			assert.Len(t, ds, 0, "invoice.created does not match the test's invoice.updated subscription")
		})
	}
}

// TestHugeProviderKeyIsHashed: an idempotency key of any length used to go
// into the dedupe index as is (PostgreSQL refuses btree entries over about
// 2.7 kB: a 500 the provider retries forever).
func TestHugeProviderKeyIsHashed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *options) {
		o.postgres = true
		o.connector = keyedDVersum{dversum.New()}
	})
	raw := make([]byte, 5_000)
	_, err := rand.Read(raw)
	require.NoError(t, err)
	key := hex.EncodeToString(raw) // incompressible, so PostgreSQL cannot shrink it below its index limit
	body := sample(t, "invoice.created")
	h := http.Header{"X-Webhook-Signature": {dversum.Sign(e.secret, body)}, "X-Event-Id": {key}}
	for range 2 {
		res := e.send(http.MethodPost, "/webhook/inbound/dversum/"+e.conn.Token, body, h)
		require.Equal(t, http.StatusAccepted, res.status, res.json)
	}
	assert.Len(t, e.events(), 1, "the hashed key still dedupes")
}
