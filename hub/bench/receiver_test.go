package bench

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/secret"
	"github.com/switchboardhq/switchboard/hub/signature"
)

// deliver sends one delivery the way the hub does, signed with signingSecret.
func deliver(t testing.TB, client *http.Client, url, signingSecret, id string, body []byte) int {
	t.Helper()
	now := time.Now()
	sig, err := signature.Sign(signingSecret, id, now, body)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set(signature.HeaderID, id)
	req.Header.Set(signature.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(signature.HeaderSignature, sig)
	resp, err := client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

func TestReceiverVerifiesAndAttributesEveryDelivery(t *testing.T) {
	t.Parallel()
	base := time.Now()
	rcv := newReceiver(2, 8, base)
	srv := httptest.NewServer(rcv)
	t.Cleanup(srv.Close)
	s0, err := secret.NewWebhookSecret()
	require.NoError(t, err)
	s1, err := secret.NewWebhookSecret()
	require.NoError(t, err)
	body := []byte(`{"payload":{"event_type":"accounting.invoice.created"}}`)

	// Before its subscription exists a slot verifies nothing.
	assert.Equal(t, http.StatusUnauthorized, deliver(t, srv.Client(), srv.URL+"/0", s0, "evt_early", body))
	rcv.setSecret(0, s0)
	rcv.setSecret(1, s1)

	assert.Equal(t, http.StatusNoContent, deliver(t, srv.Client(), srv.URL+"/0", s0, "evt_1", body))
	assert.Equal(t, http.StatusNoContent, deliver(t, srv.Client(), srv.URL+"/1", s1, "evt_1", body), "same event, other subscription: not a duplicate")
	assert.Equal(t, http.StatusNoContent, deliver(t, srv.Client(), srv.URL+"/0", s0, "evt_1", body), "a redelivery")
	assert.Equal(t, http.StatusUnauthorized, deliver(t, srv.Client(), srv.URL+"/1", s0, "evt_2", body), "signed with another subscription's secret")
	assert.Equal(t, http.StatusNotFound, deliver(t, srv.Client(), srv.URL+"/2", s0, "evt_3", body), "no such subscription")
	assert.Equal(t, http.StatusNotFound, deliver(t, srv.Client(), srv.URL+"/x", s0, "evt_3", body))

	// Tampered body.
	now := time.Now()
	sig, err := signature.Sign(s0, "evt_4", now, body)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/0", bytes.NewReader(append([]byte(" "), body...)))
	require.NoError(t, err)
	req.Header.Set(signature.HeaderID, "evt_4")
	req.Header.Set(signature.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(signature.HeaderSignature, sig)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	assert.Equal(t, int64(2), rcv.unique.Load())
	assert.Equal(t, int64(1), rcv.dups.Load())
	assert.Equal(t, int64(3), rcv.bad.Load())
	assert.Equal(t, int64(2), rcv.strays.Load())
	arrivals := rcv.snapshot()
	require.Len(t, arrivals, 2)
	assert.Contains(t, arrivals[0], "evt_1")
	assert.Contains(t, arrivals[1], "evt_1")
	assert.Len(t, arrivals[0], 1)
	assert.Positive(t, arrivals[0]["evt_1"], "arrival is measured from the run's base")
	assert.Equal(t, int64(2), rcv.arrivedOf(map[string]struct{}{"evt_1": {}, "evt_9": {}}))
}

func TestSlotIndex(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path string
		want int
		ok   bool
	}{
		{"/0", 0, true}, {"/9", 9, true}, {"/10", 0, false}, {"/", 0, false}, {"", 0, false},
		{"/1a", 0, false}, {"1", 0, false}, {"/-1", 0, false}, {"/999999999999", 0, false},
	}
	for _, tt := range tests {
		got, ok := slotIndex(tt.path, 10)
		assert.Equal(t, tt.ok, ok, tt.path)
		if ok {
			assert.Equal(t, tt.want, got, tt.path)
		}
	}
}

// BenchmarkReceiver shows the receiver's per-delivery cost (it must never
// be what limits a run): go test ./hub/bench -run '^$' -bench Receiver -benchmem
func BenchmarkReceiver(b *testing.B) {
	rcv := newReceiver(1, b.N, time.Now())
	key, err := secret.NewWebhookSecret()
	require.NoError(b, err)
	rcv.setSecret(0, key)
	body := []byte(`{"payload":{"event_id":"0191","event_type":"accounting.invoice.created","entity":{"total":1190}}}`)
	reqs := make([]*http.Request, b.N)
	now := time.Now()
	for i := range reqs {
		id := fmt.Sprintf("evt_%d", i)
		sig, _ := signature.Sign(key, id, now, body)
		r := httptest.NewRequest(http.MethodPost, "/0", nil)
		r.Header.Set(signature.HeaderID, id)
		r.Header.Set(signature.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
		r.Header.Set(signature.HeaderSignature, sig)
		r.Body = nopCloser{bytes.NewReader(body)}
		reqs[i] = r
	}
	w := httptest.NewRecorder()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		rcv.ServeHTTP(w, reqs[i])
	}
	b.StopTimer()
	if rcv.bad.Load() > 0 {
		b.Fatalf("%d deliveries failed verification", rcv.bad.Load())
	}
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }
