package delivery

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/signature"
	"github.com/switchboardhq/switchboard/hub/store"
	"github.com/switchboardhq/switchboard/plugins/netguard"
)

func TestScheduleAndJitter(t *testing.T) {
	t.Parallel()
	s := New(Config{}, nil)

	// Default schedule: nine retries, then exhausted.
	sub := &store.Subscription{}
	waits := s.waits(sub)
	require.Equal(t, DefaultSchedule, waits)
	for tries := 1; tries <= 9; tries++ {
		_, ok := s.scheduledDelay(waits, tries)
		assert.True(t, ok, "try %d has a successor", tries)
	}
	_, ok := s.scheduledDelay(waits, 10)
	assert.False(t, ok, "the tenth try is the last")

	// A subscription's schedule, in seconds, overrides it: [5,300,1800] is four tries.
	sub.RetrySchedule = []int{5, 300, 1800}
	waits = s.waits(sub)
	assert.Equal(t, []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute}, waits)
	_, ok = s.scheduledDelay(waits, 4)
	assert.False(t, ok)

	// Jitter stays within ±20 % and actually spreads.
	seen := map[time.Duration]bool{}
	for range 2000 {
		d, ok := s.scheduledDelay(waits, 2)
		require.True(t, ok)
		require.GreaterOrEqual(t, d, 4*time.Minute)
		require.LessOrEqual(t, d, 6*time.Minute)
		seen[d] = true
	}
	assert.Greater(t, len(seen), 100)

	// The extremes of the random source map to the extremes of the band.
	s.random = func() float64 { return 0 }
	d, _ := s.scheduledDelay(waits, 3)
	assert.Equal(t, 24*time.Minute, d)
	s.random = func() float64 { return 0.999999999 }
	d, _ = s.scheduledDelay(waits, 3)
	assert.InDelta(t, float64(36*time.Minute), float64(d), float64(time.Second))

	// Negative jitter turns it off; an empty default schedule means one try.
	exact := New(Config{Jitter: -1, DefaultSchedule: []time.Duration{}}, nil)
	d, ok = exact.scheduledDelay([]time.Duration{time.Minute}, 1)
	require.True(t, ok)
	assert.Equal(t, time.Minute, d)
	_, ok = exact.scheduledDelay(exact.waits(&store.Subscription{}), 1)
	assert.False(t, ok)
}

func TestRetryAfterParsing(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	resp := func(code int, v string) *http.Response {
		h := http.Header{}
		if v != "" {
			h.Set("Retry-After", v)
		}
		return &http.Response{StatusCode: code, Header: h}
	}
	tests := []struct {
		resp *http.Response
		want time.Duration
		ok   bool
	}{
		{resp(429, "30"), 30 * time.Second, true},
		{resp(503, " 0 "), 0, true},
		{resp(503, now.Add(2*time.Minute).Format(http.TimeFormat)), 2 * time.Minute, true},
		{resp(503, now.Add(-time.Minute).Format(http.TimeFormat)), 0, true},
		{resp(429, "-5"), 0, false},
		{resp(429, "soon"), 0, false},
		{resp(429, ""), 0, false},
		{resp(500, "30"), 0, false},
		{resp(200, "30"), 0, false},
	}
	for i, tt := range tests {
		got, ok := retryAfter(tt.resp, now)
		assert.Equal(t, tt.ok, ok, "case %d", i)
		assert.Equal(t, tt.want, got, "case %d", i)
	}
}

// PrepareRetry must give an in-process retry its own timestamp and signature.
// The hub runs with RetryMax 0; this guards the hook should that change.
func TestPrepareRetryResigns(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var headers []http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		headers = append(headers, r.Header.Clone())
		n := len(headers)
		mu.Unlock()
		if n == 1 {
			w.WriteHeader(500)
		}
	}))
	t.Cleanup(srv.Close)

	s := New(Config{AllowPrivate: true}, nil)
	var clock atomic.Int64
	clock.Store(1_700_000_000)
	s.now = func() time.Time { return time.Unix(clock.Add(7), 0) }
	s.client.RetryMax = 1
	s.client.RetryWaitMin, s.client.RetryWaitMax = time.Millisecond, time.Millisecond

	secret := "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	m := &message{url: srv.URL, id: "evt_1", eventType: "a.b.c", secrets: []string{secret}, body: []byte(`{"payload":{}}`)}
	res := s.send(t.Context(), m)
	require.NoError(t, res.err)
	assert.Equal(t, 200, res.status)

	require.Len(t, headers, 2)
	assert.NotEqual(t, headers[0].Get("webhook-timestamp"), headers[1].Get("webhook-timestamp"))
	for _, h := range headers {
		ts, err := strconv.ParseInt(h.Get("webhook-timestamp"), 10, 64)
		require.NoError(t, err)
		assert.NoError(t, signature.Verify(secret, h, m.body, time.Minute, time.Unix(ts, 0)))
	}
}

// A failed try must not drop the pool's idle connections (retryablehttp
// closes them after every failure), and answers are drained so a
// connection is reused.
func TestConnectionsAreReused(t *testing.T) {
	t.Parallel()
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			w.WriteHeader(500)
			_, _ = w.Write([]byte(strings.Repeat("e", 20_000))) // past the kept 4 KiB
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	refused := httptest.NewServer(http.NotFoundHandler())
	refusedURL := refused.URL
	refused.Close()

	s := New(Config{AllowPrivate: true}, nil)
	secret := "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	send := func(url string) result {
		return s.send(t.Context(), &message{url: url, id: "evt", eventType: "a.b.c", secrets: []string{secret}, body: []byte(`{}`)})
	}
	for i := range 5 {
		require.NoError(t, send(srv.URL+"/ok").err)
		assert.Error(t, send(srv.URL+"/fail").err)
		res := send(refusedURL)
		require.Error(t, res.err, "try %d", i)
		assert.Zero(t, res.status)
	}
	assert.Equal(t, int32(1), conns.Load(), "one keep-alive connection served every try")
}

func TestLeveledLoggerDropsQueries(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "POST http://h/p (status: 500)", dropQueries("POST http://h/p?token=abc (status: 500)"))
	assert.Equal(t, "http://h/p", dropQueries("http://h/p?token=abc"))
	assert.Equal(t, "a b", dropQueries("a?x b?y"))
	assert.Equal(t, "plain", dropQueries("plain"))
	assert.Equal(t, "https://h/p", redactURL("https://u:p@h/p?token=1#f"))
}

func TestSendErrorsNameNoURLQuery(t *testing.T) {
	t.Parallel()
	s := New(Config{}, nil) // guard on
	res := s.send(context.Background(), &message{url: "http://127.0.0.1:9/x?token=abc", id: "e", eventType: "a.b.c", secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, body: []byte(`{}`)})
	require.Error(t, res.err)
	assert.Equal(t, "destination 127.0.0.1 is a loopback address; start with --allow-private-destinations or allow its CIDR", res.err.Error())
	assert.False(t, res.aborted)

	bad := s.send(context.Background(), &message{url: "http://example.com/", id: "e", eventType: "a.b.c", secrets: []string{"not base64!"}, body: []byte(`{}`)})
	require.Error(t, bad.err)
	assert.Contains(t, bad.err.Error(), "signing")
	assert.Equal(t, fmt.Sprint(0), fmt.Sprint(bad.status))
}

func TestTransportCapsResponseHeaders(t *testing.T) {
	t.Parallel()
	s := New(Config{}, nil)
	assert.Equal(t, int64(netguard.MaxResponseHeaderBytes), s.transport.MaxResponseHeaderBytes)
}

func TestOutcomeOperationalFlags(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) *time.Time { t := now.Add(-d); return &t }
	s := New(Config{FailureWindow: 10 * time.Hour, DefaultSchedule: []time.Duration{time.Minute}}, nil)
	s.now = func() time.Time { return now }
	paid := &event.Event{ID: "e1", EventType: "accounting.invoice.paid"}
	notice := &event.Event{ID: "e2", EventType: event.SubscriptionFailing}
	fail := result{status: 503, err: fmt.Errorf("503")}
	ok := result{status: 200}

	for _, tc := range []struct {
		name      string
		ev        *event.Event
		sub       store.Subscription
		attempt   int
		res       result
		notify    bool
		failing   bool // FailingSince set
		recovered bool
		exhausted bool
	}{
		{"young streak: no failing check", paid, store.Subscription{FailStreak: 2, FailStreakStartedAt: ago(time.Hour)}, 1, fail, true, false, false, false},
		{"first failure: no failing check", paid, store.Subscription{}, 1, fail, true, false, false, false},
		{"half the window: failing check", paid, store.Subscription{FailStreak: 9, FailStreakStartedAt: ago(5 * time.Hour)}, 1, fail, true, true, false, false},
		{"out of retries: exhausted", paid, store.Subscription{}, 2, fail, true, false, false, true},
		{"success in a streak: recovered check", paid, store.Subscription{FailStreak: 1, FailStreakStartedAt: ago(time.Hour)}, 1, ok, true, false, true, false},
		{"success after re-enable: recovered check", paid, store.Subscription{LastFailedAt: ago(time.Hour), LastSucceededAt: ago(2 * time.Hour)}, 1, ok, true, false, true, false},
		{"healthy success: no check", paid, store.Subscription{LastFailedAt: ago(2 * time.Hour), LastSucceededAt: ago(time.Hour)}, 1, ok, true, false, false, false},
		{"delivering a notice never notifies", notice, store.Subscription{FailStreak: 9, FailStreakStartedAt: ago(9 * time.Hour)}, 2, fail, false, true, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := &store.Target{Delivery: store.Delivery{ID: "d1"}, Subscription: tc.sub}
			o := s.outcome(tc.ev, tg, tc.attempt, tc.res)
			assert.Equal(t, tc.notify, o.Notify, "Notify")
			assert.Equal(t, tc.failing, !o.FailingSince.IsZero(), "FailingSince")
			if tc.failing {
				assert.Equal(t, now.Add(-5*time.Hour), o.FailingSince)
			}
			assert.Equal(t, tc.recovered, o.CheckRecovered, "CheckRecovered")
			assert.Equal(t, tc.exhausted, o.Exhausted, "Exhausted")
		})
	}

	// No failure window: failing is due at the first failure.
	s0 := New(Config{DefaultSchedule: []time.Duration{time.Minute}}, nil)
	s0.now = s.now
	o := s0.outcome(paid, &store.Target{}, 1, fail)
	assert.Equal(t, now, o.FailingSince)
}
