package delivery_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/delivery"
	"github.com/switchboardhq/switchboard/hub/metric"
	"github.com/switchboardhq/switchboard/hub/store"
)

func TestDeliverSignsAndSendsStandardWebhooksHeaders(t *testing.T) {
	t.Parallel()
	rc := &recorder{}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)

	svc := delivery.New(delivery.Config{AllowPrivate: true, UserAgent: "Switchboard/test"}, nil)
	ev := newEvent(t)
	target := newTarget(t, ev, srv.URL+"/hooks?token=abc")

	before := time.Now().Unix()
	o, err := svc.Deliver(t.Context(), ev, target)
	require.NoError(t, err)
	after := time.Now().Unix()
	require.Equal(t, store.DeliveryDelivered, o.Status)

	reqs := rc.requests()
	require.Len(t, reqs, 1)
	got := reqs[0]
	assert.Equal(t, "application/json", got.Header.Get("Content-Type"))
	assert.Equal(t, "Switchboard/test", got.Header.Get("User-Agent"))
	assert.Equal(t, ev.ID, got.Header.Get("webhook-id"))
	assert.Equal(t, ev.EventType, got.Header.Get("x-event-type"))
	ts, err := strconv.ParseInt(got.Header.Get("webhook-timestamp"), 10, 64)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, ts, before)
	assert.LessOrEqual(t, ts, after)

	want, err := ev.Body(1)
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(got.Body))
	assert.Equal(t, 1, verifyIndependently(t, target.Subscription.Secret, got.Header, got.Body))
	assert.NotContains(t, got.Header.Get("webhook-signature"), " ", "one secret, one signature")
}

func TestDeliverSignsWithPreviousSecretDuringGracePeriod(t *testing.T) {
	t.Parallel()
	rc := &recorder{}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	svc := delivery.New(delivery.Config{AllowPrivate: true}, nil)
	ev := newEvent(t)

	inGrace := newTarget(t, ev, srv.URL)
	inGrace.Subscription.PreviousSecret = newSecret(t)
	future := time.Now().Add(time.Hour)
	inGrace.Subscription.PreviousSecretExpiresAt = &future

	expired := newTarget(t, ev, srv.URL)
	expired.Subscription.PreviousSecret = newSecret(t)
	past := time.Now().Add(-time.Minute)
	expired.Subscription.PreviousSecretExpiresAt = &past

	for _, target := range []*store.Target{inGrace, expired} {
		_, err := svc.Deliver(t.Context(), ev, target)
		require.NoError(t, err)
	}
	reqs := rc.requests()
	require.Len(t, reqs, 2)

	assert.Len(t, strings.Fields(reqs[0].Header.Get("webhook-signature")), 2)
	assert.Equal(t, 1, verifyIndependently(t, inGrace.Subscription.Secret, reqs[0].Header, reqs[0].Body))
	assert.Equal(t, 1, verifyIndependently(t, inGrace.Subscription.PreviousSecret, reqs[0].Header, reqs[0].Body))

	assert.Len(t, strings.Fields(reqs[1].Header.Get("webhook-signature")), 1)
	assert.Equal(t, 1, verifyIndependently(t, expired.Subscription.Secret, reqs[1].Header, reqs[1].Body))
	assert.Equal(t, 0, verifyIndependently(t, expired.Subscription.PreviousSecret, reqs[1].Header, reqs[1].Body))
}

func TestDeliverBodyCarriesExecutionAttempt(t *testing.T) {
	t.Parallel()
	rc := &recorder{}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	svc := delivery.New(delivery.Config{AllowPrivate: true}, nil)
	ev := newEvent(t)
	target := newTarget(t, ev, srv.URL)
	target.Delivery.Attempts = 3 // this is the fourth try

	o, err := svc.Deliver(t.Context(), ev, target)
	require.NoError(t, err)
	assert.Equal(t, 4, o.Attempts[0].ExecutionAttempt)
	assert.Contains(t, string(rc.requests()[0].Body), `"execution_attempt":4`)
}

func TestDeliverOutcomes(t *testing.T) {
	t.Parallel()
	httpDate := func(d time.Duration) string { return time.Now().Add(d).UTC().Format(http.TimeFormat) }

	tests := []struct {
		name       string
		handler    http.HandlerFunc
		schedule   []int // subscription's retry_schedule
		status     int
		success    bool
		state      string
		disable    string
		errorHas   string
		nextWithin [2]time.Duration // NextAttemptAt - now, when pending
	}{
		{name: "200 delivered", handler: answer(200), status: 200, success: true, state: store.DeliveryDelivered},
		{name: "204 delivered", handler: answer(204), status: 204, success: true, state: store.DeliveryDelivered},
		{name: "299 delivered", handler: answer(299), status: 299, success: true, state: store.DeliveryDelivered},
		{
			name: "302 is a failed try, not followed",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "/elsewhere?token=secret", http.StatusFound)
			},
			status: 302, state: store.DeliveryPending, errorHas: "redirect to", nextWithin: [2]time.Duration{4 * time.Second, 6 * time.Second},
		},
		{name: "410 disables the subscription", handler: answer(410), status: 410, state: store.DeliveryFailed, disable: store.DisabledGone, errorHas: "410"},
		{
			name: "429 with Retry-After seconds",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Retry-After", "120")
				w.WriteHeader(429)
			},
			status: 429, state: store.DeliveryPending, errorHas: "429", nextWithin: [2]time.Duration{119 * time.Second, 121 * time.Second},
		},
		{
			name: "503 with Retry-After date",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Retry-After", httpDate(90*time.Second))
				w.WriteHeader(503)
			},
			status: 503, state: store.DeliveryPending, nextWithin: [2]time.Duration{88 * time.Second, 91 * time.Second},
		},
		{
			name: "Retry-After is capped",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Retry-After", "86400")
				w.WriteHeader(429)
			},
			status: 429, state: store.DeliveryPending, nextWithin: [2]time.Duration{time.Hour - time.Second, time.Hour + time.Second},
		},
		{
			name: "Retry-After ignored on 500",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Retry-After", "600")
				w.WriteHeader(500)
			},
			status: 500, state: store.DeliveryPending, nextWithin: [2]time.Duration{4 * time.Second, 6 * time.Second},
		},
		{name: "500 follows the default schedule", handler: answer(500), status: 500, state: store.DeliveryPending, errorHas: "500", nextWithin: [2]time.Duration{4 * time.Second, 6 * time.Second}},
		{name: "400 is retried too", handler: answer(400), status: 400, state: store.DeliveryPending, nextWithin: [2]time.Duration{4 * time.Second, 6 * time.Second}},
		{name: "subscription schedule overrides", handler: answer(500), schedule: []int{30, 60}, status: 500, state: store.DeliveryPending, nextWithin: [2]time.Duration{24 * time.Second, 36 * time.Second}},
		{
			name: "timeout",
			handler: func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body) // lets the server notice the hang-up
				select {
				case <-r.Context().Done():
				case <-time.After(10 * time.Second):
				}
			},
			status: 0, state: store.DeliveryPending, errorHas: "timeout", nextWithin: [2]time.Duration{4 * time.Second, 6 * time.Second},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var strayHits int
			mux := http.NewServeMux()
			mux.HandleFunc("/elsewhere", func(http.ResponseWriter, *http.Request) { strayHits++ })
			mux.Handle("/", tt.handler)
			srv := httptest.NewServer(mux)
			t.Cleanup(srv.Close)

			// Only the timeout case may run out of time: on a busy machine an
			// answer can take longer than that case's short timeout.
			timeout := 10 * time.Second
			if tt.name == "timeout" {
				timeout = 300 * time.Millisecond
			}
			svc := delivery.New(delivery.Config{AllowPrivate: true, Timeout: timeout}, nil)
			ev := newEvent(t)
			target := newTarget(t, ev, srv.URL+"/hook")
			target.Subscription.RetrySchedule = tt.schedule

			o, err := svc.Deliver(t.Context(), ev, target)
			require.NoError(t, err)
			now := time.Now()
			srv.Close() // waits for handlers: strayHits is settled

			require.Len(t, o.Attempts, 1)
			a := o.Attempts[0]
			assert.Equal(t, tt.status, a.StatusCode)
			assert.Equal(t, tt.success, a.Success)
			assert.Equal(t, tt.state, o.Status)
			assert.Equal(t, tt.disable, o.Disable)
			assert.Equal(t, tt.state == store.DeliveryPending, a.RetryScheduled)
			assert.Equal(t, target.Delivery.ID, o.DeliveryID)
			assert.Equal(t, target.Subscription.ID, o.SubscriptionID)
			assert.Equal(t, 1, a.ExecutionAttempt)
			assert.Equal(t, ev.ID, a.EventID)
			assert.Equal(t, ev.EventType, a.EventType)
			assert.Equal(t, ev.UnifiedAPI, a.UnifiedAPI)
			assert.Equal(t, ev.ConsumerID, a.ConsumerID)
			assert.Equal(t, ev.ServiceID, a.ServiceID)
			assert.Equal(t, target.Subscription.DeliveryURL, a.Endpoint)
			assert.False(t, a.Timestamp.IsZero())
			if tt.success {
				assert.Empty(t, a.Error)
			} else {
				assert.NotEmpty(t, a.Error)
			}
			if tt.errorHas != "" {
				assert.Contains(t, a.Error, tt.errorHas)
			}
			assert.NotContains(t, a.Error, "token=secret", "query strings stay out of error texts")
			assert.Zero(t, strayHits, "a redirect target is never requested")
			if tt.name == "timeout" {
				assert.GreaterOrEqual(t, a.DurationMS, int64(300), "the try lasted until the timeout")
			}
			if tt.state == store.DeliveryPending {
				wait := o.NextAttemptAt.Sub(now)
				assert.GreaterOrEqual(t, wait, tt.nextWithin[0])
				assert.LessOrEqual(t, wait, tt.nextWithin[1])
			} else {
				assert.True(t, o.NextAttemptAt.IsZero())
			}
		})
	}
}

func TestDeliverExhaustedRetries(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(answer(500))
	t.Cleanup(srv.Close)
	ago := func(d time.Duration) *time.Time { at := time.Now().Add(-d); return &at }

	tests := []struct {
		name          string
		window        time.Duration
		streakStarted *time.Time
		lastSuccess   *time.Time
		disable       string
	}{
		{"no window: first exhausted delivery disables", 0, nil, nil, store.DisabledRetryLimit},
		{"streak starts now, within the window", 120 * time.Hour, nil, nil, ""},
		{"streak younger than the window", 120 * time.Hour, ago(time.Hour), nil, ""},
		{"streak older than the window", 120 * time.Hour, ago(121 * time.Hour), nil, store.DisabledRetryLimit},
		{"a success since the streak began resets it", 120 * time.Hour, ago(200 * time.Hour), ago(time.Hour), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			svc := delivery.New(delivery.Config{AllowPrivate: true, FailureWindow: tt.window}, nil)
			ev := newEvent(t)
			target := newTarget(t, ev, srv.URL)
			target.Subscription.RetrySchedule = []int{5, 300, 1800} // four tries
			target.Delivery.Attempts = 3
			target.Subscription.FailStreak = 3
			target.Subscription.FailStreakStartedAt = tt.streakStarted
			target.Subscription.LastSucceededAt = tt.lastSuccess

			o, err := svc.Deliver(t.Context(), ev, target)
			require.NoError(t, err)
			assert.Equal(t, store.DeliveryFailed, o.Status)
			assert.Equal(t, tt.disable, o.Disable)
			assert.Equal(t, 4, o.Attempts[0].ExecutionAttempt)
			assert.False(t, o.Attempts[0].RetryScheduled)
		})
	}
}

func TestDeliverCapsResponseBody(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 1<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(500)
		_, _ = w.Write([]byte(big))
	}))
	t.Cleanup(srv.Close)

	for _, limit := range []int{0, 100} {
		svc := delivery.New(delivery.Config{AllowPrivate: true, ResponseBodyLimit: limit}, nil)
		ev := newEvent(t)
		o, err := svc.Deliver(t.Context(), ev, newTarget(t, ev, srv.URL))
		require.NoError(t, err)
		want := limit
		if want == 0 {
			want = delivery.DefaultResponseBodyLimit
		}
		assert.Equal(t, big[:want], o.Attempts[0].ResponseBody)
		assert.Equal(t, 500, o.Attempts[0].StatusCode)
	}
}

func TestDeliverKeepsResponseBodyValidUTF8(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(200)
		_, _ = w.Write([]byte("ok \xff\xfe €"))
	}))
	t.Cleanup(srv.Close)
	svc := delivery.New(delivery.Config{AllowPrivate: true}, nil)
	ev := newEvent(t)
	o, err := svc.Deliver(t.Context(), ev, newTarget(t, ev, srv.URL))
	require.NoError(t, err)
	assert.Equal(t, "ok \uFFFD €", o.Attempts[0].ResponseBody)
}

func TestDeliverRefusesPrivateDestinations(t *testing.T) {
	t.Parallel()
	rc4 := &recorder{}
	srv4 := httptest.NewServer(rc4)
	t.Cleanup(srv4.Close)
	_, port4, err := net.SplitHostPort(srv4.Listener.Addr().String())
	require.NoError(t, err)

	rc6 := &recorder{}
	ln6, err := net.Listen("tcp", "[::1]:0")
	require.NoError(t, err)
	srv6 := &httptest.Server{Listener: ln6, Config: &http.Server{Handler: rc6}}
	srv6.Start()
	t.Cleanup(srv6.Close)

	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	tests := []struct {
		name     string
		cfg      delivery.Config
		url      string
		errorHas string // empty: the receiver gets it
	}{
		{"IPv4 loopback refused", delivery.Config{}, srv4.URL, "destination 127.0.0.1 is a loopback address; start with --allow-private-destinations or allow its CIDR"},
		{"RFC 1918 refused", delivery.Config{}, "http://10.0.0.1:9/", "destination 10.0.0.1 is a private address"},
		{"IPv6 loopback refused", delivery.Config{}, srv6.URL, "destination ::1 is a loopback address"},
		{"localhost refused after resolving", delivery.Config{}, "http://localhost:" + port4 + "/", "is a loopback address"},
		{"IPv4-mapped IPv6 loopback refused", delivery.Config{}, "http://[::ffff:127.0.0.1]:" + port4 + "/", "destination 127.0.0.1 is a loopback address"},
		{"metadata endpoint refused", delivery.Config{}, "http://169.254.169.254/latest/meta-data/", "destination 169.254.169.254 is a link-local address"},
		{"CGNAT refused", delivery.Config{}, "http://100.64.0.1:9/", "carrier-grade NAT"},
		{"allowed with AllowPrivate", delivery.Config{AllowPrivate: true}, srv4.URL, ""},
		{"IPv6 allowed with AllowPrivate", delivery.Config{AllowPrivate: true}, srv6.URL, ""},
		{"localhost allowed with AllowPrivate", delivery.Config{AllowPrivate: true}, "http://localhost:" + port4 + "/", ""},
		{"allowed by CIDR", delivery.Config{AllowCIDRs: loopback}, srv4.URL, ""},
		{"IPv6 allowed by CIDR", delivery.Config{AllowCIDRs: loopback}, srv6.URL, ""},
		{"localhost allowed by CIDR", delivery.Config{AllowCIDRs: loopback}, "http://localhost:" + port4 + "/", ""},
		{"other CIDR does not help", delivery.Config{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, srv4.URL, "is a loopback address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Timeout = 2 * time.Second
			svc := delivery.New(cfg, nil)
			ev := newEvent(t)
			before := len(rc4.requests()) + len(rc6.requests())
			o, err := svc.Deliver(t.Context(), ev, newTarget(t, ev, tt.url))
			require.NoError(t, err)
			a := o.Attempts[0]
			got := len(rc4.requests()) + len(rc6.requests()) - before
			if tt.errorHas == "" {
				assert.True(t, a.Success, a.Error)
				assert.Equal(t, 1, got)
				return
			}
			assert.False(t, a.Success)
			assert.Zero(t, a.StatusCode)
			assert.Contains(t, a.Error, tt.errorHas)
			assert.Zero(t, got, "a refused destination receives nothing")
			assert.Equal(t, store.DeliveryPending, o.Status, "a refused try is a failed try like any other")
		})
	}
}

func TestDeliverSkipsDisabledSubscription(t *testing.T) {
	t.Parallel()
	rc := &recorder{}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	svc := delivery.New(delivery.Config{AllowPrivate: true}, nil)
	ev := newEvent(t)
	target := newTarget(t, ev, srv.URL)
	target.Subscription.Status = store.StatusDisabled

	o, err := svc.Deliver(t.Context(), ev, target)
	require.NoError(t, err)
	assert.Equal(t, store.DeliveryCancelled, o.Status)
	assert.Empty(t, o.Attempts)
	assert.Equal(t, target.Delivery.ID, o.DeliveryID)

	deleted := newTarget(t, ev, srv.URL)
	deleted.Subscription = store.Subscription{} // what RetryTarget returns for a deleted subscription
	o, err = svc.Deliver(t.Context(), ev, deleted)
	require.NoError(t, err)
	assert.Equal(t, store.DeliveryCancelled, o.Status)
	assert.Empty(t, rc.requests())
}

func TestDeliverInterrupted(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // lets the server notice the hang-up
		close(started)
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	t.Cleanup(srv.Close)
	svc := delivery.New(delivery.Config{AllowPrivate: true}, nil)
	ev := newEvent(t)
	ctx, cancel := context.WithCancel(t.Context())
	go func() { <-started; cancel() }()
	_, err := svc.Deliver(ctx, ev, newTarget(t, ev, srv.URL))
	require.ErrorIs(t, err, context.Canceled, "a try cut off by the hub is not an outcome to record")
}

func TestDeliverCountsMetrics(t *testing.T) {
	t.Parallel()
	ok := httptest.NewServer(answer(200))
	t.Cleanup(ok.Close)
	bad := httptest.NewServer(answer(500))
	t.Cleanup(bad.Close)
	m := metric.New()
	svc := delivery.New(delivery.Config{AllowPrivate: true, Metrics: m}, nil)
	ev := newEvent(t)
	for _, url := range []string{ok.URL, ok.URL, bad.URL, "http://127.0.0.1:1/"} {
		_, err := svc.Deliver(t.Context(), ev, newTarget(t, ev, url))
		require.NoError(t, err)
	}
	assert.InDelta(t, 2, counterValue(t, m.DeliveryAttempts.WithLabelValues("success")), 0)
	assert.InDelta(t, 1, counterValue(t, m.DeliveryAttempts.WithLabelValues("failure")), 0)
	assert.InDelta(t, 1, counterValue(t, m.DeliveryAttempts.WithLabelValues("error")), 0)
	var hist dto.Metric
	require.NoError(t, m.AttemptDuration.Write(&hist))
	assert.Equal(t, uint64(4), hist.GetHistogram().GetSampleCount())
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	require.NoError(t, c.Write(&m))
	return m.GetCounter().GetValue()
}

func TestValidateURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url string
		ok  bool
	}{
		{"https://example.com/webhooks", true},
		{"http://example.com:8080/hook?token=abc", true},
		{"http://127.0.0.1:4000/", true}, // reachability is decided when dialling
		{"http://[::1]:4000/", true},
		{"", false},
		{" https://example.com", false},
		{"ftp://example.com/", false},
		{"example.com/webhooks", false},
		{"/webhooks", false},
		{"https://", false},
		{"https:///path", false},
		{"mailto:ops@example.com", false},
		{"https://user:pass@example.com/", false},
		{"https://example.com/#frag", false},
		{"https://example.com:0/", false},
		{"https://example.com:99999/", false},
	}
	for _, tt := range tests {
		err := delivery.ValidateURL(tt.url)
		if tt.ok {
			assert.NoError(t, err, tt.url)
		} else {
			assert.Error(t, err, tt.url)
		}
	}
}
