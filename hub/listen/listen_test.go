package listen_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/listen"
	"github.com/switchboardhq/switchboard/hub/signature"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

const body = `{"payload":{"event_id":"evt_1","event_type":"accounting.invoice.paid","execution_attempt":2,"entity":{"id":"inv_1"}}}`

// syncBuffer is an io.Writer safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func delivery(t *testing.T, signWith string, sentAt time.Time, payload string) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(payload))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(signature.HeaderID, "evt_1")
	r.Header.Set(signature.HeaderTimestamp, strconv.FormatInt(sentAt.Unix(), 10))
	r.Header.Set("X-Event-Type", "accounting.invoice.paid")
	sig, err := signature.Sign(signWith, "evt_1", sentAt, []byte(payload))
	require.NoError(t, err)
	r.Header.Set(signature.HeaderSignature, sig)
	return r
}

func TestHandler(t *testing.T) {
	t.Parallel()
	other := "whsec_" + strings.Repeat("QUFB", 8)
	tests := []struct {
		name    string
		secret  string
		req     func(t *testing.T) *http.Request
		code    int
		printed []string
	}{
		{
			name:   "verified",
			secret: secret,
			req:    func(t *testing.T) *http.Request { return delivery(t, secret, time.Now(), body) },
			code:   http.StatusNoContent,
			printed: []string{
				"event:      accounting.invoice.paid", "webhook-id: evt_1", "attempt:    2", "verified:   yes",
				"{\n  \"payload\": {\n    \"event_id\": \"evt_1\",", "\"entity\": {\n      \"id\": \"inv_1\"",
			},
		},
		{
			name:    "signed with another secret",
			secret:  secret,
			req:     func(t *testing.T) *http.Request { return delivery(t, other, time.Now(), body) },
			code:    http.StatusUnauthorized,
			printed: []string{"verified:   no (no matching v1 signature)", "webhook-id: evt_1"},
		},
		{
			name:   "tampered body",
			secret: secret,
			req: func(t *testing.T) *http.Request {
				r := delivery(t, secret, time.Now(), body)
				r2 := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(strings.Replace(body, "inv_1", "inv_2", 1)))
				r2.Header = r.Header
				return r2
			},
			code:    http.StatusUnauthorized,
			printed: []string{"verified:   no (no matching v1 signature)", `"id": "inv_2"`},
		},
		{
			name:    "stale",
			secret:  secret,
			req:     func(t *testing.T) *http.Request { return delivery(t, secret, time.Now().Add(-time.Hour), body) },
			code:    http.StatusUnauthorized,
			printed: []string{"verified:   no (webhook-timestamp is too old"},
		},
		{
			name:   "unsigned",
			secret: secret,
			req: func(t *testing.T) *http.Request {
				return httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
			},
			code:    http.StatusUnauthorized,
			printed: []string{"verified:   no (missing webhook-id", "event:      accounting.invoice.paid", "webhook-id: -"},
		},
		{
			name:    "no secret: accepted unchecked",
			req:     func(t *testing.T) *http.Request { return delivery(t, other, time.Now(), body) },
			code:    http.StatusNoContent,
			printed: []string{"verified:   no (not checked: no --secret given)"},
		},
		{
			name: "not JSON",
			req: func(t *testing.T) *http.Request {
				return httptest.NewRequest(http.MethodPost, "/", strings.NewReader("hello=world"))
			},
			code:    http.StatusNoContent,
			printed: []string{"(not JSON, 11 bytes)\nhello=world"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out syncBuffer
			h := listen.Handler(listen.Config{Secret: tt.secret, Out: &out})
			w := httptest.NewRecorder()
			h.ServeHTTP(w, tt.req(t))
			assert.Equal(t, tt.code, w.Code, w.Body.String())
			for _, p := range tt.printed {
				assert.Contains(t, out.String(), p)
			}
		})
	}
}

func TestHandlerRefusesOtherMethods(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	w := httptest.NewRecorder()
	listen.Handler(listen.Config{Out: &out}).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Equal(t, http.StatusMethodNotAllowed, w.Code)
	assert.Empty(t, out.String())
}

func TestRunServesUntilCancelled(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	var out syncBuffer
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- listen.Run(ctx, listen.Config{Addr: addr, Secret: secret, Out: &out}) }()

	url := fmt.Sprintf("http://%s/hook", addr)
	var resp *http.Response
	require.Eventually(t, func() bool {
		req := delivery(t, secret, time.Now(), body)
		out, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		require.NoError(t, err)
		out.Header = req.Header
		resp, err = http.DefaultClient.Do(out)
		return err == nil
	}, 5*time.Second, 20*time.Millisecond)
	resp.Body.Close()
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	assert.Contains(t, out.String(), "verified:   yes")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

func TestRunReportsListenError(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	err = listen.Run(t.Context(), listen.Config{Addr: ln.Addr().String(), Out: &syncBuffer{}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), ln.Addr().String())
}
