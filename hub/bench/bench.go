// Package bench is the load generator behind `switchboard bench`: it drives
// a hub with events (published through the API or posted as signed provider
// webhooks), receives the fanned-out deliveries on a local verifying
// receiver and reports throughput, publish-to-arrival latency, loss,
// duplicates and signature failures, plus the hub's CPU and memory when it
// started the hub itself.
//
// The numbers are end to end through the real binary and real HTTP, the way
// a user would see them, rather than an in-process benchmark's: the hub runs
// in its own process so its CPU and RSS can be read from /proc.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboardhq/switchboard/plugins/netguard"
)

// Mode is what the run sends.
type Mode string

const (
	// ModeInbound posts signed dVersum webhooks to a connection's inbound
	// URL: connector plugin, mapping, store and delivery, the whole path.
	ModeInbound Mode = "inbound"
	// ModePublish posts unified events to POST /webhook/events.
	ModePublish Mode = "publish"
)

// Target is the hub a run loads: its base URL and an API key with the
// webhooks:write, events:write and connections:write scopes.
type Target struct {
	URL    string
	APIKey string
}

// Usage is the hub's resource use at one moment.
type Usage struct {
	CPUSeconds float64 // cumulative, hub and connectors
	RSSBytes   int64   // sum of their peak resident set sizes (VmHWM)
	// CurrentRSSBytes is the sum of their resident set sizes now (VmRSS):
	// what the timeline plots, so memory that is returned shows as such.
	CurrentRSSBytes int64
}

// Monitor measures the hub under load. *Hub is one; a run against a hub it
// did not start has none, and CPU and memory are reported as unknown.
type Monitor interface {
	Usage() (Usage, error)
}

// Progress is a run's state, reported a few times a second.
type Progress struct {
	Events    int   // to send
	Sent      int64 // requests made
	Accepted  int64 // events answered 202
	Rejected  int64
	Delivered int64 // unique arrivals at the receiver
	Expected  int64 // Events × Fanout until sending ends, then Accepted × Fanout
	Sending   bool  // false once every event was sent and the run waits for deliveries
}

// Config describes one run.
type Config struct {
	Target Target
	Mode   Mode // default ModeInbound
	Events int  // events to send, >= 1
	Fanout int  // subscriptions, each receiving every event; default 1
	// IngestOnly creates no subscription (Fanout becomes 0): the run
	// measures what the hub can accept, verify, map and store, with no
	// delivery competing for the machine.
	IngestOnly  bool
	Concurrency int // parallel senders; default 32
	// Rate paces sending at this many events per second in total; 0 sends as
	// fast as the senders can.
	Rate float64
	// Timeout bounds the wait for deliveries after the last event was sent;
	// default 5 minutes.
	Timeout time.Duration
	// ReceiverAddr is where the receiver listens; default 127.0.0.1:0.
	ReceiverAddr string
	// ReceiverURL is the receiver's base URL as the hub must dial it; default
	// http://<the address it listens on>. Set it when the hub runs elsewhere.
	ReceiverURL string
	// Monitor, when set, measures the hub's CPU and memory during the run.
	Monitor Monitor
	// OnProgress, when set, is called every 200 ms from one goroutine.
	OnProgress func(Progress)
	// Logger receives setup and cleanup messages (nil: discarded). Nothing
	// is logged per request.
	Logger *slog.Logger
}

func (c *Config) setDefaults() error {
	if c.Mode == "" {
		c.Mode = ModeInbound
	}
	if c.Fanout == 0 {
		c.Fanout = 1
	}
	if c.Concurrency == 0 {
		c.Concurrency = 32
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Minute
	}
	if c.ReceiverAddr == "" {
		c.ReceiverAddr = "127.0.0.1:0"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	switch {
	case c.Mode != ModeInbound && c.Mode != ModePublish:
		return fmt.Errorf("mode %q: want inbound or publish", c.Mode)
	case c.Target.URL == "":
		return errors.New("no target hub URL")
	case c.Events < 1:
		return fmt.Errorf("events %d: want at least 1", c.Events)
	case !c.IngestOnly && (c.Fanout < 1 || c.Fanout > 1000):
		return fmt.Errorf("fanout %d: want 1 to 1000", c.Fanout)
	case c.Concurrency < 1:
		return fmt.Errorf("concurrency %d: want at least 1", c.Concurrency)
	case c.Rate < 0:
		return fmt.Errorf("rate %g: want 0 (unlimited) or more", c.Rate)
	case c.Timeout < 0:
		return fmt.Errorf("timeout %s: want a positive duration", c.Timeout)
	}
	if c.IngestOnly {
		c.Fanout = 0
	}
	return nil
}

// Run sets up subscriptions (and, in inbound mode, a dVersum connection) on
// the target, sends cfg.Events events, waits until every accepted event
// reached every subscription or cfg.Timeout passed, removes what it set up
// and reports. The error is for a run that could not take place (bad
// config, setup refused); a run that lost deliveries returns a Result whose
// OK is false. Cancelling ctx stops the run early with a partial Result.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	runID := "bench-" + randomHex(4)
	base := time.Now()

	// The receiver.
	rcv := newReceiver(cfg.Fanout, cfg.Events, base)
	ln, err := net.Listen("tcp", cfg.ReceiverAddr)
	if err != nil {
		return nil, fmt.Errorf("starting the receiver on %s: %w", cfg.ReceiverAddr, err)
	}
	srv := &http.Server{Handler: rcv, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	rcvURL := cfg.ReceiverURL
	if rcvURL == "" {
		rcvURL = "http://" + ln.Addr().String()
	}

	// Setup on the hub; removed again at the end so a shared hub keeps no
	// subscriptions pointing at a receiver that is gone.
	transport := loadTransport(cfg.Concurrency)
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: time.Minute}
	api := &apiClient{target: cfg.Target, http: client}
	var subs []subscription
	var conn *connection
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		for _, s := range subs {
			if err := api.call(cctx, http.MethodDelete, "/webhook/webhooks/"+s.ID, "", nil, nil); err != nil {
				log.Warn("removing a bench subscription", "id", s.ID, "error", err)
			}
		}
		if conn != nil {
			if err := api.call(cctx, http.MethodDelete, "/vault/connections/"+conn.ID+"?force=true", runID, nil, nil); err != nil {
				log.Warn("removing the bench connection", "id", conn.ID, "error", err)
			}
		}
	}()
	for i := range cfg.Fanout {
		s, err := api.subscribe(ctx, rcvURL+"/"+strconv.Itoa(i), runID)
		if err != nil {
			return nil, fmt.Errorf("creating subscription %d of %d: %w", i+1, cfg.Fanout, err)
		}
		subs = append(subs, s)
		rcv.setSecret(i, s.Secret)
	}
	var gen load
	if cfg.Mode == ModeInbound {
		c, err := api.connect(ctx, runID)
		if err != nil {
			return nil, fmt.Errorf("creating the dVersum connection: %w", err)
		}
		conn = &c
		if gen, err = newInboundLoad(c, runID); err != nil {
			return nil, err
		}
	} else if gen, err = newPublishLoad(cfg.Target, runID); err != nil {
		return nil, err
	}
	log.Info("bench set up", "run", runID, "subscriptions", len(subs), "receiver", rcvURL)

	res := &Result{Mode: cfg.Mode, Events: cfg.Events, Fanout: cfg.Fanout, Concurrency: cfg.Concurrency, Rate: cfg.Rate}
	var sent, accepted, rejected atomic.Int64
	sending := atomic.Bool{}
	sending.Store(true)
	var expected atomic.Int64
	expected.Store(int64(cfg.Events * cfg.Fanout))

	// Resource sampling and progress run beside the load.
	var samples []sample
	var samplesMu sync.Mutex
	takeSample := func() {
		if cfg.Monitor == nil {
			return
		}
		u, err := cfg.Monitor.Usage()
		if err != nil {
			return
		}
		samplesMu.Lock()
		samples = append(samples, sample{at: time.Since(base), cpu: u.CPUSeconds, rss: u.RSSBytes, cur: u.CurrentRSSBytes})
		samplesMu.Unlock()
	}
	progress := func() {
		if cfg.OnProgress != nil {
			cfg.OnProgress(Progress{Events: cfg.Events, Sent: sent.Load(), Accepted: accepted.Load(),
				Rejected: rejected.Load(), Delivered: rcv.unique.Load(), Expected: expected.Load(), Sending: sending.Load()})
		}
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	var watchers sync.WaitGroup
	every := func(d time.Duration, f func()) {
		watchers.Go(func() {
			tick := time.NewTicker(d)
			defer tick.Stop()
			for {
				select {
				case <-watchCtx.Done():
					return
				case <-tick.C:
					f()
				}
			}
		})
	}
	every(500*time.Millisecond, takeSample)
	every(200*time.Millisecond, progress)

	// Send.
	takeSample()
	selfBefore, selfOK := selfCPU()
	firstSend := time.Since(base)
	type workerLog struct {
		accepted   []acceptance
		rejections map[string]int64
	}
	logs := make([]workerLog, cfg.Concurrency)
	var next atomic.Int64
	var workers sync.WaitGroup
	for w := range cfg.Concurrency {
		wl := &logs[w]
		wl.rejections = map[string]int64{}
		wl.accepted = make([]acceptance, 0, cfg.Events/cfg.Concurrency+1)
		workers.Go(func() {
			answer := make([]byte, 0, 1024)
			var ids []string
			for {
				i := int(next.Add(1) - 1)
				if i >= cfg.Events || ctx.Err() != nil {
					return
				}
				if cfg.Rate > 0 {
					due := base.Add(firstSend + time.Duration(float64(i)/cfg.Rate*float64(time.Second)))
					if d := time.Until(due); d > 0 {
						t := time.NewTimer(d)
						select {
						case <-ctx.Done():
							t.Stop()
							return
						case <-t.C:
						}
					}
				}
				req, err := gen.request(ctx, i)
				if err != nil {
					wl.rejections["request"]++
					rejected.Add(1)
					continue
				}
				sent.Add(1)
				resp, err := client.Do(req)
				at := time.Since(base)
				if err != nil {
					if ctx.Err() != nil {
						wl.rejections["interrupted"]++
						rejected.Add(1)
						return
					}
					wl.rejections["transport"]++
					rejected.Add(1)
					continue
				}
				answer, err = readAll(resp.Body, answer[:0])
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted || err != nil {
					wl.rejections[strconv.Itoa(resp.StatusCode)]++
					rejected.Add(1)
					continue
				}
				var dup int
				ids, dup = gen.ids(answer, ids[:0])
				if dup > 0 {
					wl.rejections["duplicate"] += int64(dup)
					rejected.Add(int64(dup))
				}
				if len(ids) == 0 && dup == 0 {
					wl.rejections["no event id"]++
					rejected.Add(1)
					continue
				}
				for _, id := range ids {
					wl.accepted = append(wl.accepted, acceptance{id: id, at: at})
				}
				accepted.Add(int64(len(ids)))
			}
		})
	}
	workers.Wait()

	var all []acceptance
	res.Rejections = map[string]int64{}
	for _, wl := range logs {
		all = append(all, wl.accepted...)
		for k, v := range wl.rejections {
			res.Rejections[k] += v
		}
	}
	if len(res.Rejections) == 0 {
		res.Rejections = nil
	}
	res.Sent, res.Rejected = sent.Load(), rejected.Load()
	want := int64(len(all)) * int64(cfg.Fanout)
	expected.Store(want)
	sending.Store(false)
	log.Info("bench sent", "run", runID, "sent", res.Sent, "accepted", len(all), "rejected", res.Rejected)

	// Wait for the deliveries.
	ids := make(map[string]struct{}, len(all))
	for _, a := range all {
		ids[a.id] = struct{}{}
	}
	deadline := time.NewTimer(cfg.Timeout)
	defer deadline.Stop()
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
wait:
	for {
		// The cheap counter first; the exact count (which excludes arrivals
		// of events whose 202 was lost) only when it could be complete.
		if rcv.unique.Load() >= want && rcv.arrivedOf(ids) >= want {
			break
		}
		select {
		case <-ctx.Done():
			res.Interrupted = true
			break wait
		case <-deadline.C:
			res.TimedOut = true
			break wait
		case <-poll.C:
		}
	}
	end := time.Since(base)
	takeSample()
	if selfAfter, ok := selfCPU(); ok && selfOK {
		used := round3(selfAfter - selfBefore)
		res.BenchCPUSeconds = &used
	}
	stopWatch()
	watchers.Wait()
	progress()

	res.Duplicates, res.BadSignatures = rcv.dups.Load(), rcv.bad.Load()
	samplesMu.Lock()
	a := analysis{firstSend: firstSend, end: end, fanout: cfg.Fanout, accepted: all, arrivals: rcv.snapshot(), samples: samples}
	samplesMu.Unlock()
	a.analyze(res)
	res.Unmatched += rcv.strays.Load()
	return res, nil
}

// readAll reads a (small) answer into buf, reusing its memory.
func readAll(r io.Reader, buf []byte) ([]byte, error) {
	lr := io.LimitReader(r, 64<<10)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// loadTransport is the load generator's pool: one keep-alive connection
// per concurrent sender, answers' headers capped like every outbound call
// of the hub's binary.
func loadTransport(concurrency int) *http.Transport {
	return &http.Transport{
		MaxIdleConns: concurrency * 2, MaxIdleConnsPerHost: concurrency * 2,
		IdleConnTimeout: 90 * time.Second, DisableCompression: true,
		DialContext:            (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxResponseHeaderBytes: netguard.MaxResponseHeaderBytes,
	}
}
