package ingest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/connectors/dversum"
	"github.com/switchboardhq/switchboard/hub/api"
	"github.com/switchboardhq/switchboard/hub/api/apitest"
	"github.com/switchboardhq/switchboard/hub/ingest"
	"github.com/switchboardhq/switchboard/hub/mapping"
	"github.com/switchboardhq/switchboard/hub/metric"
	"github.com/switchboardhq/switchboard/hub/secret"
	"github.com/switchboardhq/switchboard/hub/store"
	"github.com/switchboardhq/switchboard/hub/store/postgres"
	"github.com/switchboardhq/switchboard/hub/store/postgres/pgtest"
	"github.com/switchboardhq/switchboard/hub/store/sqlite"
	"github.com/switchboardhq/switchboard/hub/store/storetest"
	"github.com/switchboardhq/switchboard/mappings"
	"github.com/switchboardhq/switchboard/plugins"
	"github.com/switchboardhq/switchboard/plugins/plugintest"
)

const apiKey = "ingest-test-key"

// connectors serves a real connector (dVersum unless a test picks another)
// over real gRPC in-process; down makes it answer as a crashed plugin would
// through the host.
type connectors struct {
	client plugins.Client
	down   bool
	others map[string]plugins.Client // more connectors, by service id
}

func (c *connectors) HandleInbound(ctx context.Context, serviceID string, req *plugins.InboundRequest) (*plugins.InboundResult, error) {
	if c, ok := c.others[serviceID]; ok {
		return c.HandleInbound(ctx, req)
	}
	if serviceID != "dversum" {
		return nil, &plugins.UnavailableError{ID: serviceID}
	}
	if c.down {
		return nil, &plugins.UnavailableError{ID: serviceID}
	}
	return c.client.HandleInbound(ctx, req)
}

type env struct {
	t       testing.TB
	st      store.Store
	conns   *connectors
	handler http.Handler
	conn    *store.Connection
	secret  string // the connection's dVersum signing secret
	sub     *store.Subscription
	metrics *metric.Metrics
}

// options change what newEnv builds.
type options struct {
	postgres     bool                                             // a fresh PostgreSQL database instead of a SQLite file
	connector    plugins.Connector                                // served as "dversum"; nil: the real dVersum connector
	replayWindow time.Duration                                    // ingest.Config.ReplayWindow
	now          func() time.Time                                 // ingest.Config.Now
	mappingsDir  string                                           // mappings from this directory (saveable); "": the built-in ones
	saveMapping  func(string, []byte) (mapping.FileStatus, error) // replaces the registry's Save
}

func newEnv(t testing.TB, opts ...func(*options)) *env {
	t.Helper()
	var o options
	for _, f := range opts {
		f(&o)
	}
	box, err := secret.NewBox(bytes.Repeat([]byte{1}, secret.KeySize))
	require.NoError(t, err)
	var st store.Store
	if o.postgres {
		st, err = postgres.Open(t.Context(), postgres.Config{URL: pgtest.NewDatabase(t), Sealer: box})
	} else {
		st, err = sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "hub.db"), Sealer: box})
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	require.NoError(t, st.StartQueue(t.Context(), store.QueueConfig{Workers: storetest.Workers()}))
	t.Cleanup(func() { _ = st.StopQueue(context.Background()) })

	reg, err := mapping.NewRegistry(mapping.RegistryConfig{Embedded: mappings.FS, Dir: o.mappingsDir})
	require.NoError(t, err)
	if o.saveMapping == nil {
		o.saveMapping = reg.Save
	}
	if o.connector == nil {
		o.connector = dversum.New()
	}
	conns := &connectors{client: plugintest.Connect(t, o.connector)}
	metrics := metric.New()
	ing := ingest.New(ingest.Config{
		Store: st, Connectors: conns, Mappings: reg.Current, MappingStatus: reg.Status, SaveMapping: o.saveMapping, ReadMapping: reg.Read,
		PublicURL: "https://hub.example.com", Metrics: metrics, ReplayWindow: o.replayWindow, Now: o.now,
	})
	handler, err := api.New(api.Config{Store: st, BootstrapKey: apiKey, Routes: ing.Routes(), MaxBodyBytes: 64 << 10})
	require.NoError(t, err)

	signing, err := secret.Token(32)
	require.NoError(t, err)
	token, err := secret.Token(32)
	require.NoError(t, err)
	sum := sha256.Sum256([]byte(token))
	conn := &store.Connection{ConsumerID: "acme", ServiceID: "dversum", Status: store.ConnectionActive,
		Credentials: map[string]string{plugins.CredentialSigningSecret: signing}, Token: token, TokenHash: sum[:]}
	require.NoError(t, st.CreateConnection(t.Context(), store.AllConsumers(), conn))

	whsec, err := secret.NewWebhookSecret()
	require.NoError(t, err)
	sub := &store.Subscription{UnifiedAPI: "accounting", Status: store.StatusEnabled, DeliveryURL: "https://example.com/hook",
		Events: []string{"accounting.invoice.updated"}, Secret: whsec}
	require.NoError(t, st.CreateSubscription(t.Context(), store.AllConsumers(), sub))
	return &env{t: t, st: st, conns: conns, handler: handler, conn: conn, secret: signing, sub: sub, metrics: metrics}
}

type response struct {
	status int
	header http.Header
	json   map[string]any
}

func (e *env) send(method, path string, body []byte, header http.Header) response {
	e.t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	for k, vs := range header {
		req.Header[k] = vs
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	apitest.Conforms(e.t, method, path, rec.Code, rec.Header(), rec.Body.Bytes())
	var out map[string]any
	require.NoError(e.t, json.Unmarshal(rec.Body.Bytes(), &out), "%s", rec.Body)
	return response{status: rec.Code, header: rec.Header(), json: out}
}

// inbound posts body to the connection's inbound URL signed with secret.
func (e *env) inbound(body []byte, signingSecret string) response {
	h := http.Header{"Content-Type": {"application/json"}}
	if signingSecret != "" {
		h.Set("X-Webhook-Signature", dversum.Sign(signingSecret, body))
	}
	return e.send(http.MethodPost, "/webhook/inbound/dversum/"+e.conn.Token, body, h)
}

func (e *env) events() []*eventRow {
	e.t.Helper()
	evs, err := e.st.ListEvents(e.t.Context(), store.AllConsumers(), store.EventFilter{}, store.Page{Limit: 200})
	require.NoError(e.t, err)
	out := make([]*eventRow, len(evs))
	for i, ev := range evs {
		out[i] = &eventRow{ID: ev.ID, Type: ev.EventType, Base: ev.BaseEventType, Consumer: ev.ConsumerID,
			Connection: ev.ConnectionID, EntityID: ev.EntityID, Entity: ev.Entity, Downstream: ev.DownstreamEventType,
			URL: ev.EntityURL}
	}
	return out
}

type eventRow struct {
	ID, Type, Base, Consumer, Connection, EntityID, Downstream, URL string
	Entity                                                          json.RawMessage
}

// sample is a golden dVersum input restamped to now: the hub refuses signed
// bodies older than its replay window, and the samples are from 2024.
func sample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "dversum", name+".input.json"))
	require.NoError(t, err)
	return withTimestamp(b, time.Now())
}

var timestampField = regexp.MustCompile(`"timestamp": *"[^"]*"`)

// withTimestamp sets a dVersum body's timestamp, keeping the rest byte for byte.
func withTimestamp(body []byte, at time.Time) []byte {
	return timestampField.ReplaceAll(body, []byte(`"timestamp": "`+at.UTC().Format(time.RFC3339)+`"`))
}

func TestSignedWebhookBecomesUnifiedEventWithDeliveries(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	body := sample(t, "invoice.paid")

	res := e.inbound(body, e.secret)
	require.Equal(t, http.StatusAccepted, res.status, res.json)
	stored := res.json["data"].(map[string]any)["events"].([]any)
	require.Len(t, stored, 1)
	first := stored[0].(map[string]any)
	assert.Equal(t, "accounting.invoice.paid", first["event_type"])
	assert.Equal(t, false, first["duplicate"])

	evs := e.events()
	require.Len(t, evs, 1)
	ev := evs[0]
	assert.Equal(t, "accounting.invoice.updated", ev.Base)
	assert.Equal(t, "acme", ev.Consumer)
	assert.Equal(t, e.conn.ID, ev.Connection)
	assert.Equal(t, "invoice.paid", ev.Downstream)
	assert.NotEmpty(t, ev.EntityID)
	assert.Equal(t, "https://hub.example.com/accounting/invoices/"+ev.EntityID, ev.URL)
	var entity map[string]any
	require.NoError(t, json.Unmarshal(ev.Entity, &entity))
	assert.Contains(t, entity, "total")
	assert.Contains(t, entity, "currency")

	// The base-type subscription got a delivery in the same transaction.
	ds, err := e.st.ListDeliveries(t.Context(), store.AllConsumers(), ev.ID)
	require.NoError(t, err)
	require.Len(t, ds, 1)
	assert.Equal(t, e.sub.ID, ds[0].SubscriptionID)
}

func TestRedeliveredWebhookIsStoredOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	body := sample(t, "invoice.created")
	first := e.inbound(body, e.secret)
	require.Equal(t, http.StatusAccepted, first.status)
	again := e.inbound(body, e.secret)
	require.Equal(t, http.StatusAccepted, again.status)
	dup := again.json["data"].(map[string]any)["events"].([]any)[0].(map[string]any)
	assert.Equal(t, true, dup["duplicate"])
	assert.Len(t, e.events(), 1)
}

func TestRejectedWebhooksStoreNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	body := sample(t, "invoice.created")
	for _, tc := range []struct {
		name     string
		do       func() response
		status   int
		typeName string
	}{
		{"no signature", func() response { return e.inbound(body, "") }, http.StatusUnauthorized, api.TypeUnauthorized},
		{"wrong secret", func() response { return e.inbound(body, "not-the-secret") }, http.StatusUnauthorized, api.TypeUnauthorized},
		{"signed but not JSON", func() response { return e.inbound([]byte(`{"event": `), e.secret) }, http.StatusBadRequest, api.TypeRequestValidation},
		{"signed without event", func() response { return e.inbound([]byte(`{"data":{}}`), e.secret) }, http.StatusBadRequest, api.TypeRequestValidation},
		{"unknown token", func() response {
			return e.send(http.MethodPost, "/webhook/inbound/dversum/not-a-token", body, http.Header{"X-Webhook-Signature": {dversum.Sign(e.secret, body)}})
		}, http.StatusNotFound, api.TypeEntityNotFound},
		{"token of another service", func() response {
			return e.send(http.MethodPost, "/webhook/inbound/deskera/"+e.conn.Token, body, nil)
		}, http.StatusNotFound, api.TypeEntityNotFound},
		{"too large", func() response {
			big := append([]byte(`{"event":"invoice.created","data":{"pad":"`), bytes.Repeat([]byte("x"), 70<<10)...)
			big = append(big, `"}}`...)
			return e.inbound(big, e.secret)
		}, http.StatusRequestEntityTooLarge, api.TypeRequestTooLarge},
	} {
		res := tc.do()
		assert.Equal(t, tc.status, res.status, "%s: %v", tc.name, res.json)
		assert.Equal(t, tc.typeName, res.json["type_name"], tc.name)
		assert.NotEmpty(t, res.json["message"], tc.name)
	}
	assert.Empty(t, e.events(), "nothing rejected is stored")

	malformed := e.inbound([]byte(`{"data":{}}`), e.secret)
	assert.Contains(t, malformed.json["message"], "event", "the 400 says what is wrong")
}

func TestConnectorDownAnswers503WithRetryAfter(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.conns.down = true
	res := e.inbound(sample(t, "invoice.created"), e.secret)
	require.Equal(t, http.StatusServiceUnavailable, res.status)
	secs, err := strconv.Atoi(res.header.Get("Retry-After"))
	require.NoError(t, err)
	assert.Positive(t, secs)
	assert.Empty(t, e.events())
}

func TestUnmappedEventPassesThrough(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.inbound(sample(t, "page.created"), e.secret)
	require.Equal(t, http.StatusAccepted, res.status, res.json)
	evs := e.events()
	require.Len(t, evs, 1)
	assert.Equal(t, "dversum.page.created", evs[0].Type)
	assert.Empty(t, evs[0].URL, "a pass-through entity has no unified resource to link to")
}

func TestDisabledConnectionRefusesWebhooks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.conn.Status = store.ConnectionDisabled
	require.NoError(t, e.st.UpdateConnection(t.Context(), store.AllConsumers(), e.conn))
	res := e.inbound(sample(t, "invoice.created"), e.secret)
	assert.Equal(t, http.StatusNotFound, res.status)
	assert.Empty(t, e.events())
}

func TestMappingPreviewStoresNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	auth := http.Header{"Authorization": {"Bearer " + apiKey}, "Content-Type": {"application/json"}}
	body, err := json.Marshal(map[string]any{"service_id": "dversum", "payload": json.RawMessage(sample(t, "invoice.created"))})
	require.NoError(t, err)
	res := e.send(http.MethodPost, "/mapping/preview", body, auth)
	require.Equal(t, http.StatusOK, res.status, res.json)
	data := res.json["data"].(map[string]any)
	assert.Equal(t, "accounting.invoice.created", data["event_type"])
	assert.Equal(t, true, data["mapped"])
	assert.Contains(t, data["entity"], "total")
	assert.Empty(t, e.events())

	bad := e.send(http.MethodPost, "/mapping/preview", []byte(`{"service_id":"dversum"}`), auth)
	assert.Equal(t, http.StatusUnprocessableEntity, bad.status)
	assert.Contains(t, bad.json["message"], "payload")

	noType := e.send(http.MethodPost, "/mapping/preview", []byte(`{"service_id":"dversum","payload":{"x":1}}`), auth)
	assert.Equal(t, http.StatusUnprocessableEntity, noType.status)
	assert.Contains(t, noType.json["message"], "event_type")

	// An unknown service id is blamed on service_id, with or without an
	// event_type, naming the known ones and the closest.
	for _, body := range []string{
		`{"service_id":"dversun","payload":{"x":1}}`,
		`{"service_id":"dversun","event_type":"invoice.created","payload":{"x":1}}`,
	} {
		unknown := e.send(http.MethodPost, "/mapping/preview", []byte(body), auth)
		require.Equal(t, http.StatusUnprocessableEntity, unknown.status, body)
		msg := fmt.Sprint(unknown.json["message"], unknown.json["detail"])
		assert.Contains(t, msg, "service_id", body)
		assert.Contains(t, msg, `unknown service id "dversun"`, body)
		assert.Contains(t, msg, `did you mean "dversum"?`, body)
		assert.NotContains(t, msg, "payload", body)
	}

	status := e.send(http.MethodGet, "/mapping/mappings", nil, auth)
	require.Equal(t, http.StatusOK, status.status)
	files := status.json["data"].([]any)
	require.NotEmpty(t, files)
	assert.Equal(t, true, files[0].(map[string]any)["ok"])
}

// TestInboundMetricsLabelOnlyKnownServices: the service id in an inbound URL
// is anyone's to make up, so it becomes a metric label only once a
// connection vouches for it; everything else counts as "unknown".
func TestInboundMetricsLabelOnlyKnownServices(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, service := range []string{"made-up", "another-made-up", "dversum"} {
		r := e.send(http.MethodPost, "/webhook/inbound/"+service+"/not-a-token", []byte(`{}`), nil)
		require.Equal(t, http.StatusNotFound, r.status)
	}
	body := []byte(`{"event":"invoice.updated","data":{"id":"inv_1"}}`)
	require.Equal(t, http.StatusUnauthorized, e.inbound(body, "wrong-secret").status)

	assert.Equal(t, 3.0, testutil.ToFloat64(e.metrics.InboundRequests.WithLabelValues("unknown", "unknown_token")))
	families, err := e.metrics.Registry.Gather()
	require.NoError(t, err)
	services := map[string]bool{}
	for _, f := range families {
		if f.GetName() != "switchboard_inbound_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "service" {
					services[l.GetValue()] = true
				}
			}
		}
	}
	assert.Equal(t, map[string]bool{"unknown": true, "dversum": true}, services,
		"made-up service ids get no series of their own; the vouched-for dversum does (its bad signature)")
}
