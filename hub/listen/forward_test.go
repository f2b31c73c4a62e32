package listen_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/listen"
	"github.com/switchboardhq/switchboard/hub/signature"
)

// app is the developer's application behind --forward-to: it records what
// reached it and answers with status.
type app struct {
	mu     sync.Mutex
	got    []*http.Request
	bodies []string
	status int
}

func newApp(t *testing.T, status int) (*app, *httptest.Server) {
	a := &app{status: status}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		a.got = append(a.got, r)
		a.bodies = append(a.bodies, string(b))
		a.mu.Unlock()
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, "app says hi")
	}))
	t.Cleanup(srv.Close)
	return a, srv
}

func (a *app) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.got)
}

// startReceiver runs listen.Run on a free loopback port and returns its URL
// once OnListen has fired.
func startReceiver(t *testing.T, cfg listen.Config) string {
	t.Helper()
	ready := make(chan net.Addr, 1)
	cfg.Addr = "127.0.0.1:0"
	cfg.OnListen = func(a net.Addr) { ready <- a }
	done := make(chan error, 1)
	go func() { done <- listen.Run(t.Context(), cfg) }()
	select {
	case a := <-ready:
		return "http://" + a.String() + "/hook"
	case err := <-done:
		t.Fatalf("receiver stopped: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("OnListen not called")
	}
	return ""
}

func send(t *testing.T, url, eventType string) *http.Response {
	t.Helper()
	payload := strings.Replace(body, "accounting.invoice.paid", eventType, 1)
	r := delivery(t, secret, time.Now(), payload)
	r.Header.Set("X-Event-Type", eventType)
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(payload))
	require.NoError(t, err)
	req.Header = r.Header
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestForwardRelaysVerifiedDeliveries(t *testing.T) {
	t.Parallel()
	a, appSrv := newApp(t, http.StatusAccepted)
	var out syncBuffer
	url := startReceiver(t, listen.Config{Secret: secret, Out: &out, ForwardTo: appSrv.URL + "/webhooks"})

	resp := send(t, url, "accounting.invoice.paid")
	got, _ := io.ReadAll(resp.Body)
	assert.Equal(t, http.StatusAccepted, resp.StatusCode, "the hub is answered with the application's status")
	assert.Equal(t, "app says hi", string(got))
	require.Equal(t, 1, a.count())
	fwd := a.got[0]
	assert.Equal(t, "/webhooks", fwd.URL.Path)
	assert.Equal(t, body, a.bodies[0], "same body")
	assert.Equal(t, "evt_1", fwd.Header.Get(signature.HeaderID))
	assert.NotEmpty(t, fwd.Header.Get(signature.HeaderTimestamp))
	assert.NotEmpty(t, fwd.Header.Get(signature.HeaderSignature))
	// The application can verify the forwarded delivery itself.
	require.NoError(t, signature.Verify(secret, fwd.Header, []byte(a.bodies[0]), time.Minute, time.Now()))
	assert.Contains(t, out.String(), "forwarded:  "+appSrv.URL+"/webhooks -> 202 Accepted")
	assert.Contains(t, out.String(), "answer:     app says hi\n", "the application's answer is printed")

	// A bad signature is refused and not forwarded.
	r := delivery(t, "whsec_"+strings.Repeat("QUFB", 8), time.Now(), body)
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header = r.Header
	bad, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	bad.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, bad.StatusCode)
	assert.Equal(t, 1, a.count(), "a delivery failing verification is not forwarded")
}

func TestForwardAppDown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close())

	var out syncBuffer
	url := startReceiver(t, listen.Config{Secret: secret, Out: &out, ForwardTo: dead})
	resp := send(t, url, "accounting.invoice.paid")
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
	assert.Contains(t, out.String(), "forwarded:  "+dead+" -> failed:")
}

func TestEventsFilterAndJSON(t *testing.T) {
	t.Parallel()
	a, appSrv := newApp(t, http.StatusOK)
	var out syncBuffer
	url := startReceiver(t, listen.Config{
		Secret: secret, Out: &out, ForwardTo: appSrv.URL, JSON: true,
		Events: []string{"crm.contact.created", " accounting.invoice.paid"},
	})

	skipped := send(t, url, "accounting.invoice.created")
	assert.Equal(t, http.StatusNoContent, skipped.StatusCode)
	assert.Zero(t, a.count(), "an event type not in --events is not forwarded")
	assert.Empty(t, out.String(), "nor printed")

	ok := send(t, url, "accounting.invoice.paid")
	assert.Equal(t, http.StatusOK, ok.StatusCode)
	assert.Equal(t, 1, a.count())

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 1, "one JSON line per delivery")
	var line map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &line))
	assert.Equal(t, "evt_1", line["webhook_id"])
	assert.Equal(t, "accounting.invoice.paid", line["event_type"])
	assert.Equal(t, true, line["verified"])
	assert.Equal(t, appSrv.URL, line["forwarded_to"])
	assert.EqualValues(t, 200, line["forward_status"])
	assert.Equal(t, "app says hi", line["forward_answer"])
	assert.EqualValues(t, 2, line["attempt"])
	payload, _ := line["payload"].(map[string]any)
	require.NotNil(t, payload, "payload embedded as JSON")
	assert.Contains(t, payload, "payload")
}

func TestValidate(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		cfg  listen.Config
		err  string
	}{
		{"secret without whsec_", listen.Config{Secret: "sk_live_abc"}, `--secret: a subscription secret starts with "whsec_"`},
		{"bare base64 secret", listen.Config{Secret: strings.TrimPrefix(secret, "whsec_")}, `--secret: a subscription secret starts with "whsec_"`},
		{"whsec_ but not base64", listen.Config{Secret: "whsec_!!!"}, "--secret: secret must be base64"},
		{"forward-to not a URL", listen.Config{ForwardTo: "localhost:3000"}, "--forward-to"},
		{"forward-to ftp", listen.Config{ForwardTo: "ftp://127.0.0.1/x"}, "--forward-to"},
		{"empty event", listen.Config{Events: []string{"a.b.c", ""}}, "--events"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.err)
			assert.NotContains(t, err.Error(), "sk_live_abc", "the secret is not echoed")
		})
	}
	ok := listen.Config{Secret: secret, ForwardTo: "http://127.0.0.1:3000/hooks", Events: []string{"a.b.c"}}
	assert.NoError(t, ok.Validate())
}

// Run refuses a bad secret before binding anything.
func TestRunValidatesFirst(t *testing.T) {
	t.Parallel()
	called := false
	err := listen.Run(t.Context(), listen.Config{Addr: "127.0.0.1:0", Secret: "nope", OnListen: func(net.Addr) { called = true }})
	require.Error(t, err)
	assert.False(t, called)
}
