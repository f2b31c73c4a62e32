package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lockedBuffer is a bytes.Buffer safe to write from the command's goroutine
// while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestListenRefusesANonWhsecSecret(t *testing.T) {
	t.Parallel()
	cmd := newRootCmd()
	var errOut lockedBuffer
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&errOut)
	cmd.SetArgs([]string{"listen", "--port", "0", "--secret", "sk_test_123"})
	err := cmd.ExecuteContext(t.Context())
	require.Error(t, err)
	assert.Contains(t, err.Error(), `--secret: a subscription secret starts with "whsec_"`)
	assert.NotContains(t, errOut.String(), "Listening on", "nothing was bound")
}

// TestListenPrintsTheBoundAddress: "Listening on" comes once the port is
// bound, with the real port (here the kernel's pick for --port 0), and the
// address answers at once.
func TestListenPrintsTheBoundAddress(t *testing.T) {
	t.Parallel()
	cmd := newRootCmd()
	var errOut lockedBuffer
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&errOut)
	cmd.SetArgs([]string{"listen", "--port", "0", "--forward-to", "http://127.0.0.1:9/hooks"})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()

	addrRE := regexp.MustCompile(`Listening on http://(127\.0\.0\.1:\d+) \(signature check: off, no --secret\), forwarding to http://127\.0\.0\.1:9/hooks`)
	var addr string
	require.Eventually(t, func() bool {
		m := addrRE.FindStringSubmatch(errOut.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	}, 10*time.Second, 10*time.Millisecond)
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	require.NoError(t, err, "the printed address accepts connections")
	conn.Close()
	assert.NotContains(t, errOut.String(), ":0 ", "the bound port, not the flag's 0")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("listen did not stop")
	}
}

// TestListenForwardsHubDeliveries: a real hub delivers to `listen
// --forward-to`, which verifies the signature, relays the delivery to the
// application and prints the application's status and answer; the hub logs
// the application's status as the try's.
func TestListenForwardsHubDeliveries(t *testing.T) {
	t.Parallel()
	got := make(chan http.Header, 4)
	appSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"handled":"by the app"}`)
	}))
	t.Cleanup(appSrv.Close)
	hub := startHub(t, t.TempDir(), freeAddr(t))
	addr := freeAddr(t)
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)

	code, sub := hub.do(t, http.MethodPost, "/webhook/webhooks", map[string]any{
		"unified_api": "accounting", "status": "enabled", "delivery_url": "http://" + addr + "/hook",
		"events": []string{"accounting.invoice.paid"},
	})
	require.Equal(t, http.StatusCreated, code, sub)
	secret := sub["data"].(map[string]any)["secret"].(string)

	cmd := newRootCmd()
	var out, errOut lockedBuffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs([]string{"listen", "--port", port, "--secret", secret, "--forward-to", appSrv.URL + "/webhooks",
		"--events", "accounting.invoice.paid"})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	require.Eventually(t, func() bool { return strings.Contains(errOut.String(), "Listening on") }, 10*time.Second, 10*time.Millisecond)

	code, ev := hub.do(t, http.MethodPost, "/webhook/events", map[string]any{
		"event_type": "accounting.invoice.paid", "consumer_id": "acme", "entity_id": "inv_listen_1",
	})
	require.Equal(t, http.StatusAccepted, code, ev)
	select {
	case h := <-got:
		assert.NotEmpty(t, h.Get("webhook-signature"), "the application gets the hub's signature to verify")
	case <-time.After(30 * time.Second):
		t.Fatalf("the application got nothing; listen printed:\n%s", out.String())
	}
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "answer:") }, 10*time.Second, 10*time.Millisecond)
	printed := out.String()
	assert.Contains(t, printed, "verified:   yes")
	assert.Contains(t, printed, "forwarded:  "+appSrv.URL+"/webhooks -> 202 Accepted")
	assert.Contains(t, printed, `answer:     {"handled":"by the app"}`)

	eventID := ev["data"].(map[string]any)["id"].(string)
	require.Eventually(t, func() bool {
		code, logs := hub.do(t, http.MethodGet, "/webhook/logs?filter[event_id]="+eventID, nil)
		return code == http.StatusOK && strings.Contains(fmt.Sprint(logs["data"]), "status_code:202")
	}, 10*time.Second, 50*time.Millisecond, "the hub logs the application's status")
}
