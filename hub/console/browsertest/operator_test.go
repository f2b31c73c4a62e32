//go:build browser

package browsertest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/signature"
)

// receiver is a subscriber endpoint that verifies each delivery with the
// secret the console showed.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	ids    []string // webhook-id of each verified delivery
	bad    int
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if err := signature.Verify(r.secret, req.Header, body, 5*time.Minute, time.Now()); err != nil {
			r.bad++
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		r.ids = append(r.ids, req.Header.Get("webhook-id"))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"received":"` + req.Header.Get("webhook-id") + `"}`))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) delivered() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ids...)
}

// signIn opens the console and signs in with the test key.
func signIn(b *browser, h *hub) {
	b.t.Helper()
	b.do(chromedp.Navigate(h.base + "/console/"))
	b.fill("api-key", apiKey)
	b.click("signin-submit")
	b.waitText("mode", "Operator console")
}

// TestOperatorSubscribePublishReplay: sign in, create a subscription to a
// local receiver, publish an event, see its delivery (and the try's
// request and response), replay it, and see the second delivery.
func TestOperatorSubscribePublishReplay(t *testing.T) {
	h := startHub(t)
	rcv := newReceiver(t)
	b := newBrowser(t)

	// A wrong key is refused in place.
	b.do(chromedp.Navigate(h.base + "/console/"))
	b.fill("api-key", "not-a-key-of-this-hub-0000000000000000")
	b.click("signin-submit")
	b.waitText("signin-error", "does not accept")

	signIn(b, h)
	overview, _ := h.api(t, apiKey, "", "GET", "/admin/overview", nil)
	if overview == http.StatusOK {
		b.waitText("total-events", "0")
	}

	b.goTo("#/subscriptions")
	b.waitText("subscriptions", "No subscriptions yet")
	b.fill("sub-url", rcv.srv.URL+"/hooks")
	b.fill("sub-description", "billing receiver")
	b.fill("sub-events", "accounting.invoice.paid")
	b.fill("sub-unified-api", "accounting")
	b.click("sub-submit")
	b.waitText("sub-created", "Created")
	secret := b.text("new-secret")
	require.True(t, strings.HasPrefix(secret, "whsec_"), "the console shows the new secret: %q", secret)
	rcv.mu.Lock()
	rcv.secret = secret
	rcv.mu.Unlock()
	b.waitText("subscriptions", "billing receiver")

	// A bad URL is refused with the API's reason, next to the form.
	b.fill("sub-url", "ftp://example.com/x")
	b.eval(`(document.querySelector('[data-testid="sub-url"]').type = 'text', "")`)
	b.click("sub-submit")
	b.waitText("sub-create-error", "delivery_url")

	b.goTo("#/events")
	b.fill("pub-event-type", "accounting.invoice.paid")
	b.fill("pub-consumer", "acme")
	b.fill("pub-entity-id", "inv_browser_1")
	b.fill("pub-entity", `{"id": "inv_browser_1", "status": "paid", "total": 1190}`)
	b.click("pub-submit")
	b.waitText("pub-done", "to 1 subscription")
	eventID := b.text("pub-link")
	b.waitUntil(t, "the first delivery", func() bool { return len(rcv.delivered()) == 1 })
	assert.Equal(t, []string{eventID}, rcv.delivered(), "the receiver got the published event, signed with the console's secret")

	b.click("pub-link")
	b.waitText("event-id", eventID)
	b.waitText("event-payload", "inv_browser_1")
	b.waitText("event-deliveries", "delivered")
	b.waitText("event-tries", "delivered")
	b.screenshot("event")

	b.click("replay")
	b.waitText("replay-done", "Replayed to 1 subscription")
	b.waitUntil(t, "the replayed delivery", func() bool { return len(rcv.delivered()) == 2 })
	assert.Equal(t, []string{eventID, eventID}, rcv.delivered())

	// The delivery logs, filtered to the event: both tries, and one try's
	// request and response.
	b.goTo("#/logs?event=" + eventID)
	b.waitUntil(t, "two logged tries", func() bool {
		return b.eval(`String(document.querySelectorAll('[data-testid="log-open"]').length)`) == "2"
	})
	b.click("log-open")
	b.waitText("log-status", "HTTP 200")
	b.waitText("log-response-body", `"received":"`+eventID+`"`)
	b.waitText("log-request-body", "inv_browser_1")
	b.screenshot("logs")

	// The subscription's page: its success rate over the tries.
	b.goTo("#/subscriptions")
	b.click("sub-link")
	b.waitText("success-rate", "100.0 %")
	b.click("sub-toggle")
	b.waitText("sub-toggle", "Enable")
	_, sub := h.api(t, apiKey, "", "GET", "/webhook/webhooks/"+b.text("sub-id"), nil)
	assert.Equal(t, "disabled", sub["data"].(map[string]any)["status"], "the console disabled the subscription through the API")
	b.click("sub-toggle")
	b.waitText("sub-toggle", "Disable")
	b.screenshot("subscription")

	// Edit and rotate the secret (the second click confirms).
	subID := b.text("sub-id")
	b.fill("edit-description", "billing receiver v2")
	b.click("sub-save")
	b.waitText("edit-description", "billing receiver v2")
	b.waitUntil(t, "the edit to reach the API", func() bool {
		_, sub := h.api(t, apiKey, "", "GET", "/webhook/webhooks/"+subID, nil)
		return sub["data"].(map[string]any)["description"] == "billing receiver v2"
	})
	b.click("sub-rotate")
	b.click("sub-rotate")
	rotated := b.waitText("rotated-secret", "whsec_")
	assert.NotEqual(t, secret, rotated, "a new secret")

	if overview == http.StatusOK {
		b.goTo("#/overview")
		b.waitText("total-deliveries", "2")
		b.waitText("connectors", "dversum")
		b.screenshot("overview")
	}
	b.noProblems()
}

func TestKeysPage(t *testing.T) {
	h := startHub(t)
	b := newBrowser(t)
	signIn(b, h)
	b.goTo("#/keys")
	b.fill("key-name", "reporting")
	b.click("key-submit")
	b.waitText("key-created", "reporting")
	key := b.text("new-key")
	code, _ := h.api(t, key, "", "GET", "/webhook/webhooks", nil)
	assert.Equal(t, http.StatusOK, code, "the key the console created works")
	code, _ = h.api(t, key, "", "POST", "/webhook/webhooks", map[string]any{})
	assert.Equal(t, http.StatusForbidden, code, "with only the scope the console ticked (webhooks:read)")
	b.waitText("keys", "reporting")

	b.fill("sessions-consumer", "acme")
	b.click("session-create")
	uri := b.waitText("session-uri", "/console/#session=sbs_")
	var sessions map[string]any
	_, sessions = h.api(t, apiKey, "acme", "GET", "/vault/sessions", nil)
	raw, _ := json.Marshal(sessions["data"])
	assert.Contains(t, string(raw), `"consumer_id":"acme"`, "the session the console created: %s", uri)
	b.noProblems()
}

// TestConnectionsPage: an operator sees a consumer's connections and opens
// a portal link for that consumer.
func TestConnectionsPage(t *testing.T) {
	h := startHub(t)
	code, conn := h.api(t, apiKey, "acme", "POST", "/vault/connections", map[string]any{"service_id": "dversum"})
	require.Equal(t, http.StatusCreated, code, "%v", conn)
	b := newBrowser(t)
	signIn(b, h)
	b.goTo("#/connections")
	b.fill("conn-consumer", "acme")
	b.click("conn-show")
	b.waitText("consumer-connections", conn["data"].(map[string]any)["id"].(string))
	b.waitText("consumer-connections", "dversum")
	b.click("conn-session")
	uri := b.waitText("session-uri", "/console/#session=sbs_")
	_, sessions := h.api(t, apiKey, "acme", "GET", "/vault/sessions", nil)
	assert.Len(t, sessions["data"], 1, "the console created one session for acme: %s", uri)
	b.noProblems()
}
