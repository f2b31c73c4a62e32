package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var opsEventTypes = []string{"webhook.subscription.failing", "webhook.subscription.disabled",
	"webhook.subscription.recovered", "webhook.delivery.exhausted"}

// opsReceiver records every payload it is sent, and answers 503 until it
// is switched up.
type opsReceiver struct {
	srv      *httptest.Server
	up       atomic.Bool
	mu       sync.Mutex
	payloads []map[string]any
}

func newOpsReceiver(t *testing.T) *opsReceiver {
	r := &opsReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var b struct {
			Payload map[string]any `json:"payload"`
		}
		_ = json.Unmarshal(body, &b)
		r.mu.Lock()
		r.payloads = append(r.payloads, b.Payload)
		r.mu.Unlock()
		if !r.up.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// notices returns the payloads of type typ received (one per try).
func (r *opsReceiver) notices(typ string) []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []map[string]any
	for _, p := range r.payloads {
		if p["event_type"] == typ {
			out = append(out, p)
		}
	}
	return out
}

// subjectOf is the subscription an operational payload is about.
func subjectOf(p map[string]any) string {
	entity, _ := p["entity"].(map[string]any)
	if p["event_type"] == "webhook.delivery.exhausted" {
		s, _ := entity["subscription_id"].(string)
		return s
	}
	s, _ := entity["id"].(string)
	return s
}

// TestOperationalEventsE2E runs the operational events through the real
// binary with receivers that fail: a subscription failing for half its
// failure window is reported failing once, then its delivery exhausted,
// then disabled with the reason, and after it is re-enabled and answers
// again, recovered. The events reach the watchers of its consumer and of
// the application, never another consumer's and never the subscription
// itself; two failing subscriptions that take each other's operational
// events do not feed each other.
func TestOperationalEventsE2E(t *testing.T) {
	t.Parallel()
	// Three tries at least 0.8 s apart (1 s, jitter ±20 %): the streak is
	// past half the 1 s window by the second, and past the whole window by
	// the third, so the exhausted delivery disables the subscription.
	p := startHub(t, t.TempDir(), freeAddr(t), "--failure-window", "1s", "--min-retry-delay", "0")
	create := func(consumer, api, url string, events []string) string {
		t.Helper()
		body := map[string]any{"unified_api": api, "status": "enabled", "events": events,
			"delivery_url": url, "retry_schedule": []int{1, 1}}
		if consumer != "" {
			body["consumer_id"] = consumer
		}
		code, res := p.do(t, "POST", "/webhook/webhooks", body)
		require.Equal(t, http.StatusCreated, code, "%v", res)
		return res["data"].(map[string]any)["id"].(string)
	}
	publish := func(consumer string) {
		t.Helper()
		code, res := p.do(t, "POST", "/webhook/events", map[string]any{"event_type": "accounting.invoice.created",
			"consumer_id": consumer, "entity_id": "inv_1"})
		require.Equal(t, http.StatusAccepted, code, "%v", res)
	}
	withOps := func(names ...string) []string { return append(append([]string{}, names...), opsEventTypes...) }

	// acme's failing subscription, which also names the operational events
	// (it must never get one about itself), and the watchers.
	bad := newOpsReceiver(t)
	badSub := create("acme", "*", bad.srv.URL, withOps("accounting.invoice.created"))
	acmeW, globexW, appW, starW := newOpsReceiver(t), newOpsReceiver(t), newOpsReceiver(t), newOpsReceiver(t)
	for _, w := range []*opsReceiver{acmeW, globexW, appW, starW} {
		w.up.Store(true)
	}
	create("acme", "webhook", acmeW.srv.URL, opsEventTypes)
	create("globex", "webhook", globexW.srv.URL, opsEventTypes)
	create("", "webhook", appW.srv.URL, opsEventTypes)
	create("", "*", starW.srv.URL, []string{"*"})

	// Two application subscriptions that fail and take each other's
	// operational events.
	x, y := newOpsReceiver(t), newOpsReceiver(t)
	xSub := create("", "*", x.srv.URL, withOps("accounting.invoice.updated"))
	ySub := create("", "*", y.srv.URL, withOps("accounting.invoice.updated"))

	publish("acme")
	code, res := p.do(t, "POST", "/webhook/events", map[string]any{"event_type": "accounting.invoice.updated",
		"consumer_id": "globex", "entity_id": "inv_2"})
	require.Equal(t, http.StatusAccepted, code, "%v", res)

	status := func(id string) map[string]any {
		code, res := p.do(t, "GET", "/webhook/webhooks/"+id, nil)
		require.Equal(t, http.StatusOK, code, "%v", res)
		return res["data"].(map[string]any)
	}
	require.Eventually(t, func() bool {
		return status(badSub)["status"] == "disabled" && status(xSub)["status"] == "disabled" && status(ySub)["status"] == "disabled"
	}, 60*time.Second, 100*time.Millisecond, "the failing subscriptions were not disabled")
	assert.Equal(t, "retry_limit", status(badSub)["disabled_reason"])

	// acme's watcher and the application's: failing once, exhausted,
	// disabled with the reason, in that order.
	for name, w := range map[string]*opsReceiver{"acme": acmeW, "application": appW} {
		// The exhausted and disabled notices are published together but
		// delivered by separate jobs, in either order: wait for both.
		about := func(typ string) int {
			n := 0
			for _, e := range w.notices(typ) {
				if subjectOf(e) == badSub {
					n++
				}
			}
			return n
		}
		require.Eventually(t, func() bool {
			return about("webhook.subscription.disabled") > 0 && about("webhook.delivery.exhausted") > 0
		}, 30*time.Second, 50*time.Millisecond, "%s watcher: no disabled or no exhausted event", name)
		var failing, exhausted, disabled []map[string]any
		for _, n := range w.notices("webhook.subscription.failing") {
			if subjectOf(n) == badSub {
				failing = append(failing, n)
			}
		}
		for _, n := range w.notices("webhook.delivery.exhausted") {
			if subjectOf(n) == badSub {
				exhausted = append(exhausted, n)
			}
		}
		for _, n := range w.notices("webhook.subscription.disabled") {
			if subjectOf(n) == badSub {
				disabled = append(disabled, n)
			}
		}
		require.Len(t, failing, 1, "%s watcher: failing exactly once", name)
		require.Len(t, exhausted, 1, "%s watcher: one exhausted delivery", name)
		require.Len(t, disabled, 1, "%s watcher: disabled once", name)
		assert.Equal(t, "acme", failing[0]["consumer_id"])
		assert.Equal(t, "hub", failing[0]["event_source"])
		fe := failing[0]["entity"].(map[string]any)
		assert.GreaterOrEqual(t, fe["fail_streak"], float64(2), "%s: failing only once the streak is half the window old", name)
		de := disabled[0]["entity"].(map[string]any)
		assert.Equal(t, "disabled", de["status"])
		assert.Equal(t, "retry_limit", de["disabled_reason"])
		assert.Contains(t, de["reason"], "retry_limit")
		ee := exhausted[0]["entity"].(map[string]any)
		assert.EqualValues(t, 3, ee["attempts"])
		assert.EqualValues(t, 503, ee["last_status_code"])
	}
	// Never another consumer's, never through "*", never about itself.
	for _, typ := range opsEventTypes {
		for _, n := range globexW.notices(typ) {
			assert.NotEqual(t, badSub, subjectOf(n), "globex's watcher got %s about acme's subscription", typ)
		}
		assert.Empty(t, starW.notices(typ), `a "*" subscription got %s`, typ)
		for _, r := range []struct {
			rcv *opsReceiver
			id  string
		}{{bad, badSub}, {x, xSub}, {y, ySub}} {
			for _, n := range r.rcv.notices(typ) {
				assert.NotEqual(t, r.id, subjectOf(n), "a subscription got %s about itself", typ)
			}
		}
	}
	assert.Empty(t, globexW.notices("webhook.subscription.failing"), "globex has no failing subscription")

	// x and y: each failing, exhausted and disabled once, about the
	// accounting event only; their failed deliveries of each other's
	// operational events made none. Wait until nothing is pending.
	require.Eventually(t, func() bool {
		code, res := p.do(t, "GET", "/webhook/events?filter%5Bevent_type%5D=webhook.subscription.disabled", nil)
		return code == http.StatusOK && len(res["data"].([]any)) == 3
	}, 30*time.Second, 100*time.Millisecond)
	time.Sleep(2 * time.Second) // a loop would keep adding events; give it room to show
	for _, typ := range []string{"webhook.subscription.failing", "webhook.delivery.exhausted", "webhook.subscription.disabled"} {
		code, res := p.do(t, "GET", "/webhook/events?filter%5Bevent_type%5D="+typ, nil)
		require.Equal(t, http.StatusOK, code, "%v", res)
		assert.Len(t, res["data"].([]any), 3, "%s: one each about bad, x and y, nothing about delivering them", typ)
	}

	// Re-enabled and answering: recovered, once, to acme's and the
	// application's watchers.
	bad.up.Store(true)
	code, res = p.do(t, "PATCH", "/webhook/webhooks/"+badSub, map[string]any{"status": "enabled"})
	require.Equal(t, http.StatusOK, code, "%v", res)
	publish("acme")
	publish("acme")
	for name, w := range map[string]*opsReceiver{"acme": acmeW, "application": appW} {
		require.Eventually(t, func() bool { return len(w.notices("webhook.subscription.recovered")) > 0 },
			30*time.Second, 50*time.Millisecond, "%s watcher: no recovered event", name)
		assert.Equal(t, badSub, subjectOf(w.notices("webhook.subscription.recovered")[0]))
	}
	time.Sleep(500 * time.Millisecond)
	code, res = p.do(t, "GET", "/webhook/events?filter%5Bevent_type%5D=webhook.subscription.recovered", nil)
	require.Equal(t, http.StatusOK, code, "%v", res)
	assert.Len(t, res["data"].([]any), 1, "recovered once")
	assert.Empty(t, globexW.notices("webhook.subscription.recovered"))
	assert.Contains(t, p.output.String(), "operational event published", "published events are logged")
}
