package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/connectors/vplan/vplanfake"
	"github.com/switchboardhq/switchboard/hub/store/postgres/pgtest"
	"github.com/switchboardhq/switchboard/mappings"
)

// The tenancy matrix: every authenticated route of the running binary,
// called with four credentials (an unbound admin key, an unbound read-only
// key, a key bound to consumer A, a session of A) on A's data and on B's.
// It proves on both stores that A's credentials never see or change B's
// data (nor the application's), that read-only keys never see inbound
// tokens, and that admin routes refuse bound callers; the unbound admin's
// successes show every refusal is the boundary at work, not a broken route.

const (
	consumerA = "acme"
	consumerB = "globex"
)

func TestTenancyMatrixSQLite(t *testing.T) {
	t.Parallel()
	runTenancyMatrix(t, startHub(t, t.TempDir(), freeAddr(t)))
}

func TestTenancyMatrixPostgreSQL(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	raw := make([]byte, 32)
	_, err := rand.Read(raw)
	require.NoError(t, err)
	runTenancyMatrix(t, startHubEnv(t, t.TempDir(), freeAddr(t),
		[]string{"SWITCHBOARD_MASTER_KEY=" + hex.EncodeToString(raw)}, "--database-url", db))
}

// tenant is one consumer's data in the matrix.
type tenant struct {
	consumer           string
	sub, ev, conn      string // ids
	sess               string // a session id
	token              string // the connection's inbound URL token
	subSecret          string
	pollConn           string // a connection whose connector polls (vPlan)
	connWebhookURLPath string
}

// credential is one caller of the matrix.
type credential struct {
	name    string
	key     string
	bound   bool     // acts for consumer A only
	scopes  []string // what it holds (admin: everything)
	session bool
}

func (c credential) holds(scope string) bool {
	return slices.Contains(c.scopes, "admin") || slices.Contains(c.scopes, scope)
}

// matrixCase is one route: how to call it on an owner's data, and what it
// needs.
type matrixCase struct {
	method, route string // route as in openapi.json
	scope         string
	application   bool // unbound callers only
	// shared: not consumer data; owner is ignored.
	shared bool
	// unparameterised: the call names no consumer (a list of the caller's
	// own): a bound caller gets 200 with its own rows.
	unparameterised bool
	// noSession: sessions are refused even with the scope (a session
	// cannot mint sessions).
	noSession bool
	// refusedByHub: an allowed caller may also get 409, the hub's own
	// refusal whatever the caller (saving a mapping on built-in mappings
	// or on PostgreSQL): past the boundary, but not a success.
	refusedByHub bool
	// call builds the request on owner's data. Calls that change or delete
	// take a fresh object unless real is set (a bound credential attacking
	// B's real data, which must survive), so the matrix can go on.
	call func(t *testing.T, owner *tenant, real bool) matrixRequest
}

type matrixRequest struct {
	path     string
	body     any
	consumer string // x-consumer-id
}

// MarshalJSON is what the request sends, for telling an echo of it from a
// leak.
func (r matrixRequest) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{"path": r.path, "body": r.body, "consumer": r.consumer})
}

func runTenancyMatrix(t *testing.T, p *hubProcess) {
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(rcv.Close)
	admin := credential{name: "unbound admin", key: p.key, scopes: []string{"admin"}}

	api := p.request
	data := func(t *testing.T, raw []byte) map[string]any {
		t.Helper()
		var env struct {
			Data map[string]any `json:"data"`
		}
		require.NoError(t, json.Unmarshal(raw, &env), "%s", raw)
		return env.Data
	}
	create := func(t *testing.T, consumer, method, path string, body any) map[string]any {
		t.Helper()
		code, raw := api(t, admin.key, consumer, method, path, body)
		require.Less(t, code, 300, "%s %s: %s", method, path, raw)
		return data(t, raw)
	}
	newSub := func(t *testing.T, consumer string) map[string]any {
		body := map[string]any{"unified_api": "accounting", "status": "enabled", "events": []string{"*"},
			"delivery_url": rcv.URL + "/" + consumer}
		if consumer != "" {
			body["consumer_id"] = consumer
		}
		return create(t, "", "POST", "/webhook/webhooks", body)
	}
	newConn := func(t *testing.T, consumer string) map[string]any {
		return create(t, consumer, "POST", "/vault/connections", map[string]any{"service_id": "dversum"})
	}
	// A vPlan connection (its connector polls) against a fake vPlan, for
	// POST /vault/connections/{id}/poll; polling off, so only the matrix
	// polls it.
	vp := vplanfake.New("matrix-vp-key", "matrix-vp-env")
	t.Cleanup(vp.Close)
	newPollConn := func(t *testing.T, consumer string) map[string]any {
		return create(t, consumer, "POST", "/vault/connections", map[string]any{"service_id": "vplan",
			"settings":    map[string]any{"base_url": vp.URL, "event_types": []string{"card.created"}, "polling": false},
			"credentials": map[string]any{"api_key": "matrix-vp-key", "api_env": "matrix-vp-env"}})
	}
	newSession := func(t *testing.T, consumer string) map[string]any {
		return create(t, consumer, "POST", "/vault/sessions", map[string]any{})
	}
	newKey := func(t *testing.T, name string, scopes []string, consumer string) map[string]any {
		body := map[string]any{"name": name, "scopes": scopes}
		if consumer != "" {
			body["consumer_id"] = consumer
		}
		return create(t, "", "POST", "/admin/api-keys", body)
	}
	publish := func(t *testing.T, consumer string) string {
		return create(t, "", "POST", "/webhook/events", map[string]any{"event_type": "accounting.invoice.paid",
			"consumer_id": consumer, "entity_id": "inv_" + consumer, "entity": map[string]any{"total": 10}})["id"].(string)
	}

	// The two tenants' data, and an application-wide subscription that
	// receives both tenants' events.
	appSub := newSub(t, "")["id"].(string)
	tenants := map[string]*tenant{}
	for _, c := range []string{consumerA, consumerB} {
		sub := newSub(t, c)
		conn := newConn(t, c)
		u, err := url.Parse(conn["webhook_url"].(string))
		require.NoError(t, err)
		tenants[c] = &tenant{consumer: c, sub: sub["id"].(string), subSecret: sub["secret"].(string),
			conn: conn["id"].(string), token: u.Path[strings.LastIndex(u.Path, "/")+1:], connWebhookURLPath: u.Path,
			ev: publish(t, c), sess: newSession(t, c)["id"].(string), pollConn: newPollConn(t, c)["id"].(string)}
	}
	a, b := tenants[consumerA], tenants[consumerB]
	// Every delivery tried, so the logs hold A's, B's and the
	// application's tries.
	require.Eventually(t, func() bool {
		_, raw := api(t, admin.key, "", "GET", "/webhook/logs?limit=200", nil)
		var env struct {
			Data []any `json:"data"`
		}
		return json.Unmarshal(raw, &env) == nil && len(env.Data) >= 4 // A's and B's event, each to its own and the application's subscription
	}, 30*time.Second, 50*time.Millisecond, "deliveries were not logged")

	creds := []credential{
		admin,
		{name: "unbound read-only", key: newKey(t, "read-only", []string{"webhooks:read"}, "")["key"].(string), scopes: []string{"webhooks:read"}},
		{name: "bound to A", key: newKey(t, "bound-a", []string{"webhooks:read", "webhooks:write", "events:write", "connections:write"}, consumerA)["key"].(string),
			bound: true, scopes: []string{"webhooks:read", "webhooks:write", "events:write", "connections:write"}},
	}
	// A session of A, minted with the bound key, as an application would
	// for its customer's browser.
	code, raw := api(t, creds[2].key, "", "POST", "/vault/sessions", map[string]any{})
	require.Equal(t, http.StatusCreated, code, "%s", raw)
	creds = append(creds, credential{name: "session of A", key: data(t, raw)["session_token"].(string), bound: true, session: true,
		scopes: []string{"connections:write", "webhooks:read"}})

	subBody := func(owner *tenant) map[string]any {
		return map[string]any{"unified_api": "accounting", "status": "enabled", "events": []string{"*"},
			"delivery_url": rcv.URL + "/new", "consumer_id": owner.consumer}
	}
	recoveries := map[string]string{} // a recovery of each consumer's, made on first use
	cases := []matrixCase{
		{method: "POST", route: "/webhook/webhooks", scope: "webhooks:write", call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			return matrixRequest{path: "/webhook/webhooks", body: subBody(o)}
		}},
		{method: "GET", route: "/webhook/webhooks", scope: "webhooks:read", unparameterised: true, call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			return matrixRequest{path: "/webhook/webhooks?limit=200"}
		}},
		{method: "GET", route: "/webhook/webhooks/{id}", scope: "webhooks:read", call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			return matrixRequest{path: "/webhook/webhooks/" + o.sub}
		}},
		{method: "PATCH", route: "/webhook/webhooks/{id}", scope: "webhooks:write", call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			id := o.sub
			if !real {
				id = newSub(t, o.consumer)["id"].(string)
			}
			return matrixRequest{path: "/webhook/webhooks/" + id, body: map[string]any{"description": "changed"}}
		}},
		{method: "DELETE", route: "/webhook/webhooks/{id}", scope: "webhooks:write", call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			if real {
				return matrixRequest{path: "/webhook/webhooks/" + o.sub}
			}
			return matrixRequest{path: "/webhook/webhooks/" + newSub(t, o.consumer)["id"].(string)}
		}},
		{method: "POST", route: "/webhook/webhooks/{id}/rotate-secret", scope: "webhooks:write", call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			if real {
				return matrixRequest{path: "/webhook/webhooks/" + o.sub + "/rotate-secret"}
			}
			return matrixRequest{path: "/webhook/webhooks/" + newSub(t, o.consumer)["id"].(string) + "/rotate-secret"}
		}},
		{method: "POST", route: "/webhook/webhooks/{id}/test", scope: "webhooks:write", call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			// A fresh subscription unless attacking B's real one: each
			// test send stores an event of the owner's.
			if real {
				return matrixRequest{path: "/webhook/webhooks/" + o.sub + "/test"}
			}
			return matrixRequest{path: "/webhook/webhooks/" + newSub(t, o.consumer)["id"].(string) + "/test"}
		}},
		{method: "POST", route: "/webhook/webhooks/{id}/recover", scope: "webhooks:write", call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			// A fresh subscription unless attacking B's real one: one
			// recovery per subscription runs at a time.
			body := map[string]any{"since": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)}
			if real {
				return matrixRequest{path: "/webhook/webhooks/" + o.sub + "/recover", body: body}
			}
			return matrixRequest{path: "/webhook/webhooks/" + newSub(t, o.consumer)["id"].(string) + "/recover", body: body}
		}},
		{method: "GET", route: "/webhook/recoveries/{id}", scope: "webhooks:read", call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			if recoveries[o.consumer] == "" {
				recoveries[o.consumer] = create(t, "", "POST", "/webhook/webhooks/"+newSub(t, o.consumer)["id"].(string)+"/recover",
					map[string]any{"since": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)})["id"].(string)
			}
			return matrixRequest{path: "/webhook/recoveries/" + recoveries[o.consumer]}
		}},
		{method: "POST", route: "/webhook/events", scope: "events:write", call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			return matrixRequest{path: "/webhook/events", body: map[string]any{"event_type": "accounting.invoice.created",
				"consumer_id": o.consumer, "entity_id": "inv_new"}}
		}},
		{method: "GET", route: "/webhook/events", scope: "webhooks:read", call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			return matrixRequest{path: "/webhook/events?filter[consumer_id]=" + o.consumer}
		}},
		{method: "GET", route: "/webhook/events/{id}", scope: "webhooks:read", call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			return matrixRequest{path: "/webhook/events/" + o.ev}
		}},
		{method: "POST", route: "/webhook/events/{id}/replay", scope: "events:write", call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			if !real && o == b {
				// The application's replays of B's event go to a new
				// subscription of B's, so B's count below stays exact.
				return matrixRequest{path: "/webhook/events/" + o.ev + "/replay", body: map[string]any{"subscription_id": newSub(t, o.consumer)["id"].(string)}}
			}
			return matrixRequest{path: "/webhook/events/" + o.ev + "/replay", body: map[string]any{"subscription_id": o.sub}}
		}},
		{method: "GET", route: "/webhook/logs", scope: "webhooks:read", call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			return matrixRequest{path: "/webhook/logs?limit=200&filter[consumer_id]=" + o.consumer}
		}},
		{method: "GET", route: "/{unified_api}/{entity_plural}/{id}", scope: "webhooks:read", call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			return matrixRequest{path: "/accounting/invoices/inv_" + o.consumer, consumer: o.consumer}
		}},
		{method: "GET", route: "/connector/connectors", scope: "webhooks:read", shared: true, call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			return matrixRequest{path: "/connector/connectors"}
		}},
		{method: "GET", route: "/connector/connectors/{id}", scope: "webhooks:read", shared: true, call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			return matrixRequest{path: "/connector/connectors/dversum"}
		}},
		{method: "POST", route: "/mapping/preview", scope: "webhooks:read", shared: true, call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			return matrixRequest{path: "/mapping/preview", body: map[string]any{"service_id": "dversum",
				"payload": map[string]any{"event": "invoice.paid", "timestamp": "2024-01-15T10:30:00Z", "data": map[string]any{"id": "inv_1"}}}}
		}},
		{method: "GET", route: "/mapping/mappings", scope: "webhooks:read", shared: true, call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			return matrixRequest{path: "/mapping/mappings"}
		}},
		{method: "POST", route: "/mapping/validate", scope: "webhooks:read", shared: true, call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			return matrixRequest{path: "/mapping/validate", body: map[string]any{"mapping": map[string]any{"service_id": "dversum"}}}
		}},
		{method: "GET", route: "/mapping/mappings/{service_id}", scope: "webhooks:read", shared: true, call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			return matrixRequest{path: "/mapping/mappings/dversum"}
		}},
		{method: "GET", route: "/mapping/samples/{service_id}", scope: "webhooks:read", shared: true, call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			return matrixRequest{path: "/mapping/samples/dversum"}
		}},
		{method: "PUT", route: "/mapping/mappings/{service_id}", scope: "admin", application: true, refusedByHub: true, call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			return matrixRequest{path: "/mapping/mappings/dversum", body: map[string]any{"mapping": builtinMapping(t, "dversum")}}
		}},
		{method: "GET", route: "/admin/overview", scope: "admin", application: true, call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			return matrixRequest{path: "/admin/overview"}
		}},
		{method: "GET", route: "/webhook/event-types", scope: "webhooks:read", shared: true, call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			return matrixRequest{path: "/webhook/event-types"}
		}},
		{method: "GET", route: "/webhook/event-types/{event_type}", scope: "webhooks:read", shared: true, call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			return matrixRequest{path: "/webhook/event-types/accounting.invoice.paid"}
		}},
		{method: "POST", route: "/vault/connections", scope: "connections:write", call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			return matrixRequest{path: "/vault/connections", consumer: o.consumer, body: map[string]any{"service_id": "dversum"}}
		}},
		{method: "GET", route: "/vault/connections", scope: "webhooks:read", call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			return matrixRequest{path: "/vault/connections", consumer: o.consumer}
		}},
		{method: "GET", route: "/vault/connections/{id}", scope: "webhooks:read", call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			return matrixRequest{path: "/vault/connections/" + o.conn, consumer: o.consumer}
		}},
		{method: "PATCH", route: "/vault/connections/{id}", scope: "connections:write", call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			id := o.conn
			if !real {
				id = newConn(t, o.consumer)["id"].(string)
			}
			return matrixRequest{path: "/vault/connections/" + id, consumer: o.consumer,
				body: map[string]any{"credentials": map[string]any{"signing_secret": "attacker-chosen-" + o.consumer}}}
		}},
		{method: "DELETE", route: "/vault/connections/{id}", scope: "connections:write", call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			if real {
				return matrixRequest{path: "/vault/connections/" + o.conn, consumer: o.consumer}
			}
			return matrixRequest{path: "/vault/connections/" + newConn(t, o.consumer)["id"].(string), consumer: o.consumer}
		}},
		{method: "POST", route: "/vault/connections/{id}/rotate-token", scope: "connections:write", call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			if real {
				return matrixRequest{path: "/vault/connections/" + o.conn + "/rotate-token", consumer: o.consumer}
			}
			return matrixRequest{path: "/vault/connections/" + newConn(t, o.consumer)["id"].(string) + "/rotate-token", consumer: o.consumer}
		}},
		{method: "POST", route: "/vault/connections/{id}/poll", scope: "connections:write", call: func(t *testing.T, o *tenant, _ bool) matrixRequest {
			return matrixRequest{path: "/vault/connections/" + o.pollConn + "/poll", consumer: o.consumer}
		}},
		{method: "POST", route: "/vault/sessions", scope: "connections:write", noSession: true, call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			return matrixRequest{path: "/vault/sessions", consumer: o.consumer, body: map[string]any{"scopes": []string{"webhooks:read"}}}
		}},
		{method: "GET", route: "/vault/sessions", scope: "webhooks:read", call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			return matrixRequest{path: "/vault/sessions", consumer: o.consumer}
		}},
		{method: "DELETE", route: "/vault/sessions/{id}", scope: "connections:write", call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			if real {
				return matrixRequest{path: "/vault/sessions/" + o.sess, consumer: o.consumer}
			}
			return matrixRequest{path: "/vault/sessions/" + newSession(t, o.consumer)["id"].(string), consumer: o.consumer}
		}},
		{method: "GET", route: "/vault/consumers", scope: "webhooks:read", unparameterised: true, call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			return matrixRequest{path: "/vault/consumers?limit=200"}
		}},
		{method: "POST", route: "/admin/api-keys", scope: "admin", application: true, call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			return matrixRequest{path: "/admin/api-keys", body: map[string]any{"name": "made-in-matrix", "scopes": []string{"webhooks:read"}, "consumer_id": o.consumer}}
		}},
		{method: "POST", route: "/webhook/event-types", scope: "admin", application: true, call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			return matrixRequest{path: "/webhook/event-types", body: map[string]any{"name": "matrix.thing.done",
				"schema": map[string]any{"type": "object", "properties": map[string]any{"id": map[string]any{"type": "string"}}}}}
		}},
		{method: "GET", route: "/admin/api-keys", scope: "admin", application: true, call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			return matrixRequest{path: "/admin/api-keys"}
		}},
		{method: "DELETE", route: "/admin/api-keys/{id}", scope: "admin", application: true, call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			return matrixRequest{path: "/admin/api-keys/" + newKey(t, "doomed", []string{"webhooks:read"}, o.consumer)["id"].(string)}
		}},
		{method: "DELETE", route: "/webhook/consumers/{consumer_id}/data", scope: "admin", application: true, call: func(t *testing.T, o *tenant, real bool) matrixRequest {
			if real {
				return matrixRequest{path: "/webhook/consumers/" + o.consumer + "/data?connections=true&subscriptions=true"}
			}
			// The admin, which may, erases a consumer of its own so the
			// tenants' data stays for the other cases.
			return matrixRequest{path: "/webhook/consumers/erasable-" + o.consumer + "/data?connections=true&subscriptions=true"}
		}},
	}

	// Every authenticated route of the running hub has a case: a route
	// added without one fails here.
	code, raw = api(t, admin.key, "", "GET", "/openapi.json", nil)
	require.Equal(t, http.StatusOK, code)
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(raw, &doc))
	var want, have []string
	for path, ops := range doc.Paths {
		for method, rawOp := range ops {
			if !slices.Contains([]string{"get", "post", "patch", "put", "delete"}, method) {
				continue
			}
			var op struct {
				Security *[]any `json:"security"`
			}
			require.NoError(t, json.Unmarshal(rawOp, &op))
			if op.Security != nil && len(*op.Security) == 0 {
				continue // public: no credential
			}
			want = append(want, strings.ToUpper(method)+" "+path)
		}
	}
	for _, c := range cases {
		have = append(have, c.method+" "+c.route)
	}
	slices.Sort(want)
	slices.Sort(have)
	require.Equal(t, want, have, "every authenticated route needs a case in the tenancy matrix")

	// What B owns, as text that must never reach A's credentials.
	secretsOfB := []string{b.sub, b.ev, b.conn, b.sess, b.token, b.subSecret, consumerB}
	tokenPattern := regexp.MustCompile(`/webhook/inbound/[a-z0-9_-]+/[A-Za-z0-9_-]{20,}`)

	calls := 0
	run := func(creds []credential) {
		for _, cred := range creds {
			for _, c := range cases {
				for _, owner := range []*tenant{a, b} {
					name := fmt.Sprintf("%s %s as %s on %s's data", c.method, c.route, cred.name, owner.consumer)
					r := c.call(t, owner, cred.bound && owner == b)
					code, raw := api(t, cred.key, r.consumer, c.method, r.path, r.body)
					calls++
					allowed := cred.holds(c.scope) && !(c.application && cred.bound) && !(c.noSession && cred.session)
					foreign := cred.bound && owner == b && !c.shared
					switch {
					case !allowed:
						assert.Equal(t, http.StatusForbidden, code, "%s: %s", name, raw)
					case foreign && c.unparameterised:
						assert.Equal(t, http.StatusOK, code, "%s (lists its own): %s", name, raw)
					case foreign:
						assert.Contains(t, []int{http.StatusForbidden, http.StatusNotFound}, code, "%s must be refused: %s", name, raw)
					case c.refusedByHub && code == http.StatusConflict:
					default:
						assert.Less(t, code, 300, "%s must work: %s", name, raw)
					}
					if cred.bound {
						sent, _ := json.Marshal(r)
						for _, s := range secretsOfB {
							// A refusal may quote what the caller itself sent
							// (the id or consumer it named), never B's data.
							echoed := code >= 400 && (strings.Contains(r.path, s) || r.consumer == s || bytes.Contains(sent, []byte(s)))
							if bytes.Contains(raw, []byte(s)) && !echoed {
								assert.Failf(t, "B's data reached A's credential", "%s: the answer holds %q: %s", name, s, raw)
							}
						}
						assert.NotContains(t, string(raw), appSub, "%s: the application's subscription is invisible to consumers", name)
					}
					if !cred.holds("connections:write") {
						assert.Falsef(t, tokenPattern.Match(raw), "%s: a read-only credential saw an inbound token: %s", name, raw)
					}
				}
			}
		}
	}
	// The unbound admin goes last: first every other credential tries B's
	// real data, which must then be as it was.
	run(creds[1:])

	// B's data is as it was: nothing A's credentials sent changed it.
	code, raw = api(t, admin.key, "", "GET", "/webhook/webhooks/"+b.sub, nil)
	require.Equal(t, http.StatusOK, code, "B's subscription survived: %s", raw)
	assert.Nil(t, data(t, raw)["description"], "B's subscription unchanged")
	code, raw = api(t, admin.key, consumerB, "GET", "/vault/connections/"+b.conn, nil)
	require.Equal(t, http.StatusOK, code, "B's connection survived: %s", raw)
	assert.Contains(t, data(t, raw)["webhook_url"], b.connWebhookURLPath, "B's inbound token not rotated")
	code, raw = api(t, admin.key, consumerB, "GET", "/vault/sessions", nil)
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, string(raw), b.sess, "B's session still active")
	code, raw = api(t, admin.key, "", "GET", "/webhook/events/"+b.ev, nil)
	require.Equal(t, http.StatusOK, code)
	var ev struct {
		Data struct {
			Deliveries []any `json:"deliveries"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(raw, &ev))
	// B's event went to B's and the application's subscription once, and
	// was never replayed by A's credentials.
	assert.Len(t, ev.Data.Deliveries, 2, "B's event was not replayed: %s", raw)

	run(creds[:1])
	t.Logf("tenancy matrix: %d routes x %d credentials x 2 owners = %d calls", len(cases), len(creds), calls)
}

// builtinMapping is the text of a built-in mapping file.
func builtinMapping(t *testing.T, serviceID string) string {
	t.Helper()
	data, err := mappings.FS.ReadFile(serviceID + ".json")
	require.NoError(t, err)
	return string(data)
}
