package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/switchboardhq/switchboard/connectors/vplan/vplanfake"
	"github.com/switchboardhq/switchboard/hub/signature"
)

// ModePoll measures virtual webhooks: changes at a fake vPlan whose
// webhooks are all lost, found only by the hub's scheduled polls (RunPoll).
const ModePoll Mode = "poll"

// PollConfig configures RunPoll.
type PollConfig struct {
	Target Target
	// Connections polled at once (vPlan connections against one fake
	// account; each finds every change), default 10.
	Connections int
	// Changes made at the fake vPlan after every connection's first poll,
	// default 100. Deliveries expected: Connections x Changes.
	Changes int
	// Interval is the connections' poll_interval in seconds (at least
	// vPlan's minimum, 10), default 10.
	Interval int
	// Timeout bounds the wait for the deliveries, default 5 minutes.
	Timeout time.Duration
	Logger  *slog.Logger
}

// PollResult is what RunPoll measured.
type PollResult struct {
	Mode        Mode    `json:"mode"`
	Connections int     `json:"connections"`
	Changes     int     `json:"changes"`
	Interval    int     `json:"poll_interval_seconds"`
	Expected    int     `json:"expected"`
	Delivered   int     `json:"delivered"`
	Duplicates  int     `json:"duplicates"`
	BadSigs     int     `json:"bad_signatures"`
	Seconds     float64 `json:"seconds"`
	// EventsPerSecond is deliveries of polled events per second, from the
	// first change to the last delivery.
	EventsPerSecond float64 `json:"events_per_second"`
	// Burst is from the first to the last delivery: how fast the hub
	// stores and delivers what its polls found, the interval aside.
	BurstSeconds         float64 `json:"burst_seconds"`
	BurstEventsPerSecond float64 `json:"burst_events_per_second"`
	// Lag is from a change at the provider to its delivery.
	LagP50 float64 `json:"lag_p50_seconds"`
	LagP99 float64 `json:"lag_p99_seconds"`
	LagMax float64 `json:"lag_max_seconds"`
}

// OK reports a run where every change reached the subscriber once per
// connection and every signature verified.
func (r *PollResult) OK() bool {
	return r.Delivered == r.Expected && r.Duplicates == 0 && r.BadSigs == 0
}

// WriteTable prints the result for people.
func (r *PollResult) WriteTable(w io.Writer) error {
	_, err := fmt.Fprintf(w, "mode poll: %d connections x %d changes (poll_interval %ds)\n"+
		"delivered   %d/%d (duplicates %d, bad signatures %d)\n"+
		"found/s     %.1f events/s over %.1fs (burst: %.1f events/s, first to last delivery in %.2fs)\n"+
		"lag         p50 %.2fs  p99 %.2fs  max %.2fs (change at the provider -> delivery)\n",
		r.Connections, r.Changes, r.Interval, r.Delivered, r.Expected, r.Duplicates, r.BadSigs,
		r.EventsPerSecond, r.Seconds, r.BurstEventsPerSecond, r.BurstSeconds, r.LagP50, r.LagP99, r.LagMax)
	return err
}

// WriteJSON prints the result as one JSON object.
func (r *PollResult) WriteJSON(w io.Writer) error {
	return json.NewEncoder(w).Encode(r)
}

// RunPoll creates Connections vPlan connections (polling on) against a
// fake vPlan that forgets every webhook, waits for their first polls, makes
// Changes changes, and waits until the hub's scheduled polls delivered each
// to the subscriber once per connection.
func RunPoll(ctx context.Context, cfg PollConfig) (*PollResult, error) {
	if cfg.Connections <= 0 {
		cfg.Connections = 10
	}
	if cfg.Changes <= 0 {
		cfg.Changes = 100
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 10
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	const key, env = "bench-vp-key", "bench-vp-env"
	runID := "bench-" + randomHex(4)
	fake := vplanfake.New(key, env)
	defer fake.Close()

	rcv := &pollReceiver{seen: map[string]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: rcv, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	api := &apiClient{target: cfg.Target, http: &http.Client{Timeout: time.Minute}}
	var sub struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	if err := api.call(ctx, http.MethodPost, "/webhook/webhooks", "", map[string]any{
		"unified_api": "issue-tracking", "status": "enabled", "consumer_id": runID,
		"delivery_url": "http://" + ln.Addr().String() + "/poll", "events": []string{"issue-tracking.ticket.updated"},
	}, &sub); err != nil {
		return nil, fmt.Errorf("creating the subscription: %w", err)
	}
	rcv.setSecret(sub.Secret)
	var conns []string
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = api.call(cctx, http.MethodDelete, "/webhook/webhooks/"+sub.ID, "", nil, nil)
		for _, id := range conns {
			_ = api.call(cctx, http.MethodDelete, "/vault/connections/"+id, runID, nil, nil)
		}
	}()
	for i := range cfg.Connections {
		var c struct {
			ID string `json:"id"`
		}
		if err := api.call(ctx, http.MethodPost, "/vault/connections", runID, map[string]any{
			"service_id": "vplan",
			"settings": map[string]any{"base_url": fake.URL, "event_types": []string{"card.updated"},
				"polling": true, "poll_interval": cfg.Interval},
			"credentials": map[string]any{"api_key": key, "api_env": env},
		}, &c); err != nil {
			return nil, fmt.Errorf("creating connection %d: %w", i+1, err)
		}
		conns = append(conns, c.ID)
	}
	// Every connection's first poll sets its cursor.
	deadline := time.Now().Add(cfg.Timeout)
	for _, id := range conns {
		for {
			var c map[string]any
			if err := api.call(ctx, http.MethodGet, "/vault/connections/"+id, runID, nil, &c); err != nil {
				return nil, err
			}
			if c["last_polled_at"] != nil {
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return nil, fmt.Errorf("connection %s was never polled", id)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	time.Sleep(10 * time.Millisecond)
	cfg.Logger.Info("bench set up", "run", runID, "connections", len(conns))

	fake.Forget(cfg.Connections * cfg.Changes)
	changed := make(map[string]time.Time, cfg.Changes)
	start := time.Now()
	for i := range cfg.Changes {
		id := "bench-card-" + strconv.Itoa(i)
		if _, _, err := fake.Change(ctx, "card.updated", func(d map[string]any) { d["id"] = id }); err != nil {
			return nil, err
		}
		changed[id] = time.Now()
	}
	expected := cfg.Connections * cfg.Changes
	for rcv.count() < expected && time.Now().Before(start.Add(cfg.Timeout)) && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // late duplicates

	res := &PollResult{Mode: ModePoll, Connections: cfg.Connections, Changes: cfg.Changes, Interval: cfg.Interval, Expected: expected}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	res.Delivered, res.Duplicates, res.BadSigs = len(rcv.seen), rcv.dups, rcv.badSigs
	var lags []float64
	var first, last time.Time
	for _, a := range rcv.arrivals {
		if first.IsZero() || a.at.Before(first) {
			first = a.at
		}
		if at, ok := changed[a.entity]; ok {
			lags = append(lags, a.at.Sub(at).Seconds())
		}
		if a.at.After(last) {
			last = a.at
		}
	}
	if len(lags) > 0 {
		slices.Sort(lags)
		res.LagP50, res.LagP99, res.LagMax = lags[len(lags)/2], lags[min(len(lags)*99/100, len(lags)-1)], lags[len(lags)-1]
		res.Seconds = last.Sub(start).Seconds()
		res.EventsPerSecond = float64(res.Delivered) / res.Seconds
		if res.BurstSeconds = last.Sub(first).Seconds(); res.BurstSeconds > 0 {
			res.BurstEventsPerSecond = float64(res.Delivered) / res.BurstSeconds
		}
	}
	return res, nil
}

type arrival struct {
	entity string
	at     time.Time
}

type pollReceiver struct {
	mu       sync.Mutex
	secret   string
	seen     map[string]bool
	dups     int
	badSigs  int
	arrivals []arrival
}

func (r *pollReceiver) setSecret(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secret = s
}

func (r *pollReceiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

func (r *pollReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := signature.Verify(r.secret, req.Header, body, 5*time.Minute, now); err != nil {
		r.badSigs++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var b struct {
		Payload struct {
			EntityID     string `json:"entity_id"`
			ConnectionID string `json:"connection_id"`
		} `json:"payload"`
	}
	_ = json.Unmarshal(body, &b)
	key := b.Payload.ConnectionID + "/" + b.Payload.EntityID
	if r.seen[key] {
		r.dups++
	} else {
		r.seen[key] = true
		r.arrivals = append(r.arrivals, arrival{entity: b.Payload.EntityID, at: now})
	}
	w.WriteHeader(http.StatusNoContent)
}
