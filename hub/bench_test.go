package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub/signature"
	"github.com/switchboardhq/switchboard/plugins/host"
)

// The benchmarks run a whole hub in-process on the embedded store, publish
// over real HTTP and deliver to real local receivers that verify every
// signature. They report deliveries/s and the latency from the publish
// being accepted (202) to the delivery arriving. Run them with a fixed
// event count, e.g.:
//
//	go test ./hub -run '^$' -bench Delivery -benchtime 20000x
//	go test ./hub -run '^$' -bench Latency -benchtime 3000x

// benchHub is a running hub with F subscribed receivers.
type benchHub struct {
	addr   string
	client *http.Client
	stop   func()

	mu       sync.Mutex
	accepted map[string]time.Time // event id -> 202 received
	arrived  map[string][]time.Time
	bad      atomic.Int64
	total    atomic.Int64
	all      chan struct{}
	want     int64
}

func startBenchHub(b *testing.B, fanout int) *benchHub {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h, err := Open(ctx, Config{
		Addr: "127.0.0.1:0", DataDir: b.TempDir(), APIKey: "bench-key-0123456789abcdef0123456789",
		AllowPrivateDestinations: true, Workers: 200,
		// No connectors: re-executing the test binary would rerun the tests.
		Connectors: map[string]host.Command{},
	}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	bh := &benchHub{
		client:   &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}},
		accepted: map[string]time.Time{}, arrived: map[string][]time.Time{}, all: make(chan struct{}),
	}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx, func(addr string) { ready <- addr }) }()
	select {
	case bh.addr = <-ready:
	case err := <-done:
		b.Fatal(err)
	}
	var receivers []*httptest.Server
	for range fanout {
		secret := ""
		secretReady := make(chan struct{}) // closed once secret is set
		rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			now := time.Now()
			<-secretReady
			if signature.Verify(secret, r.Header, body, time.Minute, now) != nil {
				bh.bad.Add(1)
			}
			id := r.Header.Get("webhook-id")
			bh.mu.Lock()
			bh.arrived[id] = append(bh.arrived[id], now)
			bh.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
			if bh.total.Add(1) == bh.want {
				close(bh.all)
			}
		}))
		receivers = append(receivers, rcv)
		var sub struct {
			Data struct{ Secret string } `json:"data"`
		}
		bh.post(b, "/webhook/webhooks", map[string]any{
			"unified_api": "accounting", "status": "enabled", "delivery_url": rcv.URL, "events": []string{"*"},
		}, &sub)
		secret = sub.Data.Secret
		close(secretReady)
	}
	bh.stop = func() {
		cancel()
		<-done
		for _, r := range receivers {
			r.Close()
		}
	}
	return bh
}

func (bh *benchHub) post(b *testing.B, path string, body any, out any) {
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, "http://"+bh.addr+path, bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer bench")
	req.Header.Set("Content-Type", "application/json")
	resp, err := bh.client.Do(req)
	if err != nil {
		b.Error(err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		msg, _ := io.ReadAll(resp.Body)
		b.Errorf("POST %s: %d %s", path, resp.StatusCode, msg)
		return
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			b.Error(err)
		}
	} else {
		_, _ = io.Copy(io.Discard, resp.Body)
	}
}

func (bh *benchHub) publish(b *testing.B, i int) {
	var res struct {
		Data struct{ ID string } `json:"data"`
	}
	bh.post(b, "/webhook/events", map[string]any{
		"event_type": "accounting.invoice.created", "consumer_id": "acme", "entity_id": fmt.Sprintf("inv_%d", i),
		"entity": map[string]any{"number": fmt.Sprintf("RE-%06d", i), "total": 1190.0, "currency": "EUR"},
	}, &res)
	now := time.Now()
	bh.mu.Lock()
	bh.accepted[res.Data.ID] = now
	bh.mu.Unlock()
}

// report waits for every delivery and reports throughput and latency.
func (bh *benchHub) report(b *testing.B, start time.Time) {
	select {
	case <-bh.all:
	case <-time.After(5 * time.Minute):
		b.Fatalf("only %d of %d deliveries arrived", bh.total.Load(), bh.want)
	}
	b.StopTimer()
	bh.mu.Lock()
	defer bh.mu.Unlock()
	var lat []time.Duration
	var last time.Time
	for id, ts := range bh.arrived {
		acc, ok := bh.accepted[id]
		for _, t := range ts {
			if t.After(last) {
				last = t
			}
			if ok {
				lat = append(lat, max(t.Sub(acc), 0))
			}
		}
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Millisecond) }
	b.ReportMetric(float64(bh.want)/last.Sub(start).Seconds(), "deliveries/s")
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(bh.bad.Load()), "bad-signatures")
	if bh.bad.Load() > 0 {
		b.Errorf("%d deliveries failed signature verification", bh.bad.Load())
	}
}

// BenchmarkDelivery publishes b.N events as fast as 32 clients can and
// waits for all b.N × fan-out deliveries.
func BenchmarkDelivery(b *testing.B) {
	for _, fanout := range []int{1, 10} {
		b.Run(fmt.Sprintf("fanout=%d", fanout), func(b *testing.B) {
			bh := startBenchHub(b, fanout)
			defer bh.stop()
			bh.want = int64(b.N * fanout)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for range 32 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := int(next.Add(1)); i <= b.N; i = int(next.Add(1)) {
						bh.publish(b, i)
					}
				}()
			}
			wg.Wait()
			bh.report(b, start)
		})
	}
}

// BenchmarkLatency publishes at a steady 100 events/s (fan-out 1), the
// light load at which latency, not throughput, is what a user notices.
func BenchmarkLatency(b *testing.B) {
	bh := startBenchHub(b, 1)
	defer bh.stop()
	bh.want = int64(b.N)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i := 1; i <= b.N; i++ {
		<-tick.C
		wg.Add(1)
		go func() { defer wg.Done(); bh.publish(b, i) }()
	}
	wg.Wait()
	bh.report(b, start)
}
