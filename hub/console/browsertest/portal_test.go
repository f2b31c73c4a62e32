//go:build browser

package browsertest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	switchboard "github.com/switchboardhq/switchboard"
)

// sendDVersum posts a dVersum invoice.paid webhook, signed as dVersum
// signs, to a connection's inbound URL.
func sendDVersum(t *testing.T, url, secret, invoiceID string) {
	t.Helper()
	sample, err := switchboard.Sample("dversum", "invoice.paid")
	require.NoError(t, err)
	var body map[string]any
	require.NoError(t, json.Unmarshal(sample, &body))
	body["timestamp"] = time.Now().UTC().Format(time.RFC3339)
	body["data"].(map[string]any)["id"] = invoiceID
	raw, err := json.Marshal(body)
	require.NoError(t, err)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(raw)
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(raw))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Webhook-Signature", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "dVersum webhook to %s", url)
}

// TestConsumerPortal: a consumer opens the application's session_uri,
// connects dVersum through the generated form, gets the exact webhook URL
// and signing secret with the steps, sees the event dVersum then sends,
// and disconnects. The session reaches neither another consumer's
// connection nor any operator page, in the UI or through the API.
func TestConsumerPortal(t *testing.T) {
	h := startHub(t)
	// Another consumer, globex, with a dVersum connection and an event.
	code, other := h.api(t, apiKey, "globex", "POST", "/vault/connections", map[string]any{"service_id": "dversum"})
	require.Equal(t, http.StatusCreated, code, "%v", other)
	otherConn := other["data"].(map[string]any)
	sendDVersum(t, otherConn["webhook_url"].(string), otherConn["signing_secret"].(string), "inv_globex_secret")

	code, sess := h.api(t, apiKey, "acme", "POST", "/vault/sessions", map[string]any{})
	require.Equal(t, http.StatusCreated, code, "%v", sess)
	sessionURI := sess["data"].(map[string]any)["session_uri"].(string)
	token := sess["data"].(map[string]any)["session_token"].(string)
	require.True(t, strings.HasPrefix(sessionURI, h.base+"/console/#session="), sessionURI)

	b := newBrowser(t)
	b.do(chromedp.Navigate(sessionURI))
	b.waitText("mode", "Consumer portal")
	b.waitText("portal-connections", "Nothing connected yet")
	assert.NotContains(t, b.eval(`location.href`), token, "the token leaves the address bar")
	assert.Equal(t, "0", b.eval(`String(document.querySelectorAll('[data-testid="nav-overview"], [data-testid="nav-studio"]').length)`), "no operator navigation")
	b.screenshot("portal")

	b.click("provider-dversum")
	b.waitText("connect-form", "Connect dVersum")
	b.screenshot("portal-connect")
	b.click("connect-submit")
	b.waitText("manual-steps", "Settings → Webhooks")
	webhookURL := b.text("webhook-url")
	secret := b.text("signing-secret")
	assert.True(t, strings.HasPrefix(webhookURL, h.base+"/webhook/inbound/dversum/"), "exact inbound URL: %s", webhookURL)
	assert.NotEmpty(t, secret)
	b.screenshot("portal-dversum-steps")

	// dVersum sends a webhook with what the portal showed: it is accepted.
	sendDVersum(t, webhookURL, secret, "inv_acme_1")

	b.click("connection-link")
	b.waitText("connection-status", "active")
	b.waitUntil(t, "the event in the connection's recent events", func() bool {
		b.goTo("#/portal")
		b.waitText("portal-connections", "dVersum")
		b.click("portal-connection")
		b.do(chromedp.WaitVisible(tid("connection-events")))
		return strings.Contains(b.text("connection-events"), "inv_acme_1")
	})
	assert.NotContains(t, b.text("connection-events"), "inv_globex_secret", "only the consumer's own events")
	connID := b.text("connection-id")
	b.screenshot("portal-connection")

	// Another consumer's connection: not found for this session.
	b.goTo("#/portal/connection/" + otherConn["id"].(string))
	b.waitText("connection-error", "404")
	// Operator pages: refused by the console...
	for _, page := range []string{"#/overview", "#/subscriptions", "#/studio", "#/keys", "#/events/" + connID} {
		b.goTo(page)
		b.waitText("forbidden", "Not available")
	}
	// ...and by the API, with the session's own credential from the page.
	calls := map[string]int{
		"/admin/api-keys": http.StatusForbidden,
		"/webhook/events?filter[consumer_id]=globex":     http.StatusForbidden,
		"/vault/connections/" + otherConn["id"].(string): http.StatusNotFound,
	}
	if code, _ := h.api(t, apiKey, "", "GET", "/admin/overview", nil); code == http.StatusOK {
		calls["/admin/overview"] = http.StatusForbidden
	}
	for path, want := range calls {
		got := b.eval(fmt.Sprintf(`fetch(%q, {headers: {Authorization: 'Bearer ' + sessionStorage.getItem('switchboard.session')}}).then(r => String(r.status))`, path))
		assert.Equalf(t, fmt.Sprint(want), got, "GET %s with the session", path)
	}
	listed := b.eval(`fetch('/webhook/events', {headers: {Authorization: 'Bearer ' + sessionStorage.getItem('switchboard.session')}}).then(r => r.text())`)
	assert.Contains(t, listed, "inv_acme_1")
	assert.NotContains(t, listed, "inv_globex_secret", "the session lists only its consumer's events")

	b.goTo("#/portal/connection/" + connID)
	b.click("disconnect")
	b.click("disconnect") // the second click confirms
	b.waitText("portal-connections", "Nothing connected yet")
	code, _ = h.api(t, apiKey, "acme", "GET", "/vault/connections/"+connID, nil)
	assert.Equal(t, http.StatusNotFound, code, "the portal deleted the connection")
	b.noProblems()
}

// TestPortalFormHidesOperatorOnlyFields: vPlan's form has its credentials
// and event types but not base_url (x-switchboard-operator-only).
func TestPortalFormHidesOperatorOnlyFields(t *testing.T) {
	h := startHub(t)
	_, sess := h.api(t, apiKey, "acme", "POST", "/vault/sessions", map[string]any{})
	b := newBrowser(t)
	b.do(chromedp.Navigate(sess["data"].(map[string]any)["session_uri"].(string)))
	b.waitText("mode", "Consumer portal")
	b.goTo("#/portal/connect/vplan")
	b.waitText("connect-form", "Connect vPlan")
	assert.Equal(t, "1", b.eval(`String(document.querySelectorAll('[data-testid="credentials-api_key"]').length)`))
	assert.Equal(t, "1", b.eval(`String(document.querySelectorAll('[data-testid="credentials-api_env"]').length)`))
	assert.Equal(t, "1", b.eval(`String(document.querySelectorAll('[data-testid="settings-event_types"]').length)`))
	assert.Equal(t, "0", b.eval(`String(document.querySelectorAll('[data-testid="settings-base_url"]').length)`), "base_url is operator-only")
	assert.Equal(t, "password", b.eval(`document.querySelector('[data-testid="credentials-api_key"]').type`), "tokens are typed into a password field")
	b.noProblems()
}

// TestPortalEmbedded: an application page on another origin frames the
// session_uri; with that origin in --console-frame-ancestors the portal
// works inside the frame (without it the frame stays empty: checked by
// hand, the header itself by hub/console's TestFrameAncestors).
func TestPortalEmbedded(t *testing.T) {
	var sessionURI atomic.Value
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>Acme app</title><h1>Acme settings</h1>
<iframe id="portal" src="%s" width="1200" height="700" referrerpolicy="no-referrer"></iframe>`, html.EscapeString(sessionURI.Load().(string)))
	}))
	t.Cleanup(app.Close)
	h := startHub(t, "--console-frame-ancestors", app.URL)
	_, sess := h.api(t, apiKey, "acme", "POST", "/vault/sessions", map[string]any{})
	sessionURI.Store(sess["data"].(map[string]any)["session_uri"].(string))

	b := newBrowser(t)
	b.do(chromedp.Navigate(app.URL))
	ctx, cancel := context.WithTimeout(b.ctx, 45*time.Second)
	defer cancel()
	nodes, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSS("#portal"), chromedp.Populate(-1, true)))
	require.NoError(t, err)
	require.Len(t, nodes, 1)
	providers, err := chromedp.Run(ctx, chromedp.Poll[string](
		`(document.querySelector('[data-testid="providers"]') || {}).textContent || null`,
		chromedp.WithPollingInFrame(nodes[0]), chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)))
	require.NoError(t, err, "the portal renders inside the application's frame")
	assert.Contains(t, providers, "dVersum")
}
