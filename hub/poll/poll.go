// Package poll is the hub's side of virtual webhooks: it polls the
// providers of connectors that implement plugins.Poller and stores what they
// report like pushed webhooks.
//
// Scheduling rides on the durable queue: each polled connection has one
// unique job.Poll (store.PollInsertOpts) that polls, then snoozes until its
// next poll (river.JobSnooze), for as long as the connection is active,
// polling is on and its connector polls. A scan (Service.Start) queues the
// job of every pollable connection that has none, so connections created,
// re-enabled or switched back on are picked up, and so are jobs lost to a
// discarded run.
//
// One poll (PollOnce) takes the connection's lease in the store (so no two
// polls of a connection run at once, on any node: the scheduled one, a
// manual POST /vault/connections/{id}/poll, or a job River rescued while
// the first still runs), calls the connector with the stored cursor, maps
// every native event with the ingest service's Unify (the one code path
// after the connector, event_source "virtual"), and stores the events and
// the new cursor in one transaction, fenced by the lease's token: a poll
// whose lease was taken over stores nothing. A crash between the provider
// call and the commit repeats the poll from the old cursor; events already
// stored are deduplicated on their idempotency key (for a reconciling
// connector the entity's id and the provider's updated_at, the same key its
// pushed copy has), so nothing is lost or delivered twice.
//
// Errors: a rate-limited poll (plugins.RateLimitedError) waits the
// provider's Retry-After before the next; any other failure backs off
// exponentially (Backoff) and shows as the connection's poll_error.
package poll

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/job"
	"github.com/switchboardhq/switchboard/hub/metric"
	"github.com/switchboardhq/switchboard/hub/store"
	"github.com/switchboardhq/switchboard/plugins"
)

// Connectors is what polling needs of the plugin manager.
type Connectors interface {
	Describe(id string) (*plugins.Description, error)
	Descriptions() []*plugins.Description
	Poll(ctx context.Context, id string, req *plugins.PollRequest) (*plugins.PollResult, error)
}

// Store is what polling needs of the store.
type Store interface {
	GetConnection(ctx context.Context, sc store.Scope, id string) (*store.Connection, error)
	GetPollState(ctx context.Context, sc store.Scope, id string) (*store.PollState, error)
	store.Polls
}

// UnifyFunc maps one native event of a connection (ingest.Service.Unify).
type UnifyFunc func(serviceID string, conn *store.Connection, nev plugins.NativeEvent, source string, header http.Header, query url.Values) (*event.Event, error)

// Defaults of Config.
const (
	DefaultTimeout    = time.Minute
	DefaultScanEvery  = 10 * time.Second
	DefaultMaxBackoff = time.Hour
	// busyWait is how soon a job whose connection is being polled by
	// someone else looks again.
	busyWait = time.Second
)

// Config wires the poll service.
type Config struct {
	Store      Store
	Connectors Connectors
	Unify      UnifyFunc
	Logger     *slog.Logger
	Metrics    *metric.Metrics
	// Timeout bounds one connector call (default DefaultTimeout); a poll's
	// lease lasts Timeout plus a margin.
	Timeout time.Duration
	// ScanEvery is how often pollable connections without a job get one
	// (default DefaultScanEvery).
	ScanEvery time.Duration
	// MaxBackoff caps the wait after failures (default DefaultMaxBackoff).
	MaxBackoff time.Duration
	// Now is the clock (tests); nil: time.Now.
	Now func() time.Time
}

// Service polls connections. Register its worker with the queue and run it
// as a hub service (Start/Stop run the scan).
type Service struct {
	cfg  Config
	log  *slog.Logger
	stop context.CancelFunc
	done chan struct{}
}

// New returns the poll service.
func New(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metric.New()
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.ScanEvery <= 0 {
		cfg.ScanEvery = DefaultScanEvery
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{cfg: cfg, log: cfg.Logger}
}

// Register adds the poll worker to workers.
func (s *Service) Register(workers *river.Workers) {
	river.AddWorker(workers, &worker{s: s})
}

// Settings are the hub's own connection settings of a polled connection
// (settings.poll_interval in seconds and settings.polling), read beside
// the connector's.
type Settings struct {
	Interval time.Duration
	Enabled  bool
}

// Setting names the hub reads from a connection's settings.
const (
	SettingInterval = "poll_interval"
	SettingPolling  = "polling"
)

// Bounds returns the minimum and default poll interval of a connector.
func Bounds(d *plugins.Description) (minimum, def time.Duration) {
	minimum, def = d.PollIntervalMin, d.PollIntervalDefault
	if minimum <= 0 {
		minimum = plugins.DefaultPollIntervalMin
	}
	if def <= 0 {
		def = max(plugins.DefaultPollInterval, minimum)
	}
	return minimum, def
}

// SettingsError is a poll setting that is not acceptable.
type SettingsError struct {
	Field   string
	Message string
}

func (e *SettingsError) Error() string { return e.Field + ": " + e.Message }

// ParseSettings reads the poll settings of a connection of the connector
// d from its settings JSON; absent ones take the defaults (polling on for a
// Poller).
func ParseSettings(raw json.RawMessage, d *plugins.Description) (Settings, error) {
	minimum, def := Bounds(d)
	out := Settings{Interval: def, Enabled: d.Poll}
	if len(raw) == 0 {
		return out, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return out, &SettingsError{Field: "settings", Message: "must be a JSON object"}
	}
	if v, ok := m[SettingPolling]; ok {
		var on bool
		if err := json.Unmarshal(v, &on); err != nil {
			return out, &SettingsError{Field: "settings." + SettingPolling, Message: "must be true or false"}
		}
		if on && !d.Poll {
			return out, &SettingsError{Field: "settings." + SettingPolling,
				Message: fmt.Sprintf("the %s connector cannot poll (its webhook_support.mode is %q without virtual_webhooks)", d.ID, d.Webhook.Mode)}
		}
		out.Enabled = on
	}
	if v, ok := m[SettingInterval]; ok {
		var secs float64
		if err := json.Unmarshal(v, &secs); err != nil || secs != float64(int64(secs)) {
			return out, &SettingsError{Field: "settings." + SettingInterval, Message: "must be a whole number of seconds"}
		}
		if !d.Poll {
			return out, &SettingsError{Field: "settings." + SettingInterval, Message: fmt.Sprintf("the %s connector does not poll", d.ID)}
		}
		iv := time.Duration(secs) * time.Second
		if iv < minimum {
			return out, &SettingsError{Field: "settings." + SettingInterval,
				Message: fmt.Sprintf("%d seconds is below the %s connector's minimum of %d seconds; use %d or more",
					int64(secs), d.ID, int64(minimum/time.Second), int64(minimum/time.Second))}
		}
		if iv > 7*24*time.Hour {
			return out, &SettingsError{Field: "settings." + SettingInterval, Message: "must be at most 604800 seconds (7 days)"}
		}
		out.Interval = iv
	}
	return out, nil
}

// Strip returns settings without the hub's own poll settings, for the
// connector's schema and calls.
func Strip(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return raw
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return raw
	}
	_, a := m[SettingInterval]
	_, b := m[SettingPolling]
	if !a && !b {
		return raw
	}
	delete(m, SettingInterval)
	delete(m, SettingPolling)
	out, err := json.Marshal(m)
	if err != nil {
		return raw
	}
	return out
}

// Backoff is the wait after the n-th failure in a row: 2^(n-1) times the
// interval's tenth (at least a second), capped at max.
func Backoff(n int, interval, maxWait time.Duration) time.Duration {
	base := max(interval/10, time.Second)
	d := base
	for i := 1; i < n && d < maxWait; i++ {
		d *= 2
	}
	return min(d, maxWait)
}

// Result is what one poll did.
type Result struct {
	Found      int       `json:"events_found"`
	Stored     int       `json:"events_stored"`
	Duplicates int       `json:"duplicates"`
	More       bool      `json:"more"`
	NotBefore  time.Time `json:"-"`
}

// Error is a failed poll: the connector's or provider's error, and when
// the next poll may run.
type Error struct {
	Err       error
	NotBefore time.Time
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// PollOnce polls conn (found in the caller's scope) once now: it takes the
// lease (store.ErrPollBusy if a poll runs), calls the connector and stores
// the events with the new cursor. A connector or provider failure is
// recorded on the connection and returned as *Error.
func (s *Service) PollOnce(ctx context.Context, conn *store.Connection) (*Result, error) {
	svc := conn.ServiceID
	now := s.cfg.Now()
	st, err := s.cfg.Store.ClaimPoll(ctx, conn.ID, now, now.Add(s.cfg.Timeout+5*time.Second))
	if err != nil {
		if errors.Is(err, store.ErrPollBusy) {
			s.cfg.Metrics.Polls.WithLabelValues(svc, "busy").Inc()
		}
		return nil, err
	}
	d, derr := s.cfg.Connectors.Describe(svc)
	interval := plugins.DefaultPollInterval
	if derr == nil {
		if set, err := ParseSettings(conn.Settings, d); err == nil {
			interval = set.Interval
		}
	}
	fail := func(err error, notBefore time.Time, result string) (*Result, error) {
		s.cfg.Metrics.Polls.WithLabelValues(svc, result).Inc()
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if ferr := s.cfg.Store.FailPoll(fctx, conn.ID, st.Lease, message(err), notBefore, s.cfg.Now()); ferr != nil {
			s.log.Error("recording a failed poll", "connection_id", conn.ID, "error", ferr)
		}
		return nil, &Error{Err: err, NotBefore: notBefore}
	}

	cctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	res, err := s.cfg.Connectors.Poll(cctx, svc, &plugins.PollRequest{
		Connection: plugins.Connection{ID: conn.ID, ConsumerID: conn.ConsumerID, Settings: Strip(conn.Settings), Credentials: conn.Credentials},
		Cursor:     st.Cursor,
	})
	cancel()
	if err != nil {
		var limited *plugins.RateLimitedError
		if errors.As(err, &limited) {
			wait := limited.RetryAfter
			if wait <= 0 {
				wait = Backoff(st.Failures+1, interval, s.cfg.MaxBackoff)
			}
			return fail(err, s.cfg.Now().Add(wait), "rate_limited")
		}
		return fail(err, s.cfg.Now().Add(Backoff(st.Failures+1, interval, s.cfg.MaxBackoff)), "error")
	}

	evs := make([]*event.Event, 0, len(res.Events))
	for i, nev := range res.Events {
		ev, err := s.cfg.Unify(svc, conn, nev, event.SourceVirtual, nil, nil)
		if err != nil {
			return fail(fmt.Errorf("event %d of the poll cannot be mapped: %w", i, err),
				s.cfg.Now().Add(Backoff(st.Failures+1, interval, s.cfg.MaxBackoff)), "error")
		}
		evs = append(evs, ev)
	}
	var notBefore time.Time
	if res.NextPollAfter > 0 {
		notBefore = s.cfg.Now().Add(res.NextPollAfter)
	}
	at := s.cfg.Now()
	results, err := s.cfg.Store.CommitPoll(ctx, store.Consumer(conn.ConsumerID), &store.PollCommit{
		ConnectionID: conn.ID, Lease: st.Lease, Events: evs, Cursor: res.Cursor, NotBefore: notBefore, At: at,
	})
	if errors.Is(err, store.ErrPollLeaseLost) {
		s.cfg.Metrics.Polls.WithLabelValues(svc, "lease_lost").Inc()
		return nil, err
	}
	if err != nil {
		return fail(fmt.Errorf("storing the poll: %w", err), s.cfg.Now().Add(Backoff(st.Failures+1, interval, s.cfg.MaxBackoff)), "error")
	}
	out := &Result{Found: len(results), More: res.More, NotBefore: notBefore}
	for _, r := range results {
		if r.Duplicate {
			out.Duplicates++
		} else {
			out.Stored++
		}
	}
	s.cfg.Metrics.Polls.WithLabelValues(svc, "ok").Inc()
	s.cfg.Metrics.PollEvents.WithLabelValues(svc, "false").Add(float64(out.Stored))
	s.cfg.Metrics.PollEvents.WithLabelValues(svc, "true").Add(float64(out.Duplicates))
	s.cfg.Metrics.EventsPublished.WithLabelValues(event.SourceVirtual, "false").Add(float64(out.Stored))
	s.cfg.Metrics.EventsPublished.WithLabelValues(event.SourceVirtual, "true").Add(float64(out.Duplicates))
	if st.CursorAt != nil {
		s.cfg.Metrics.PollLag.WithLabelValues(svc).Observe(at.Sub(*st.CursorAt).Seconds())
	}
	s.log.Debug("polled", "service_id", svc, "connection_id", conn.ID, "found", out.Found, "stored", out.Stored, "duplicates", out.Duplicates)
	return out, nil
}

// message is a poll error as the connection shows it: the connector's or
// provider's words, bounded.
func message(err error) string {
	var pe *plugins.ProviderError
	msg := err.Error()
	if errors.As(err, &pe) {
		msg = pe.Error()
	}
	if len(msg) > 1000 {
		msg = msg[:1000] + "…"
	}
	return msg
}

// worker works job.Poll: one poll, then a snooze until the next.
type worker struct {
	river.WorkerDefaults[job.Poll]
	s *Service
}

// Timeout leaves the poll's own bound to PollOnce, plus the commit.
func (w *worker) Timeout(*river.Job[job.Poll]) time.Duration { return w.s.cfg.Timeout + time.Minute }

func (w *worker) Work(ctx context.Context, j *river.Job[job.Poll]) error {
	s := w.s
	conn, err := s.cfg.Store.GetConnection(ctx, store.Consumer(j.Args.ConsumerID), j.Args.ConnectionID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // deleted: the job ends
	}
	if err != nil {
		return fmt.Errorf("loading connection %s to poll: %w", j.Args.ConnectionID, err)
	}
	if conn.Status != store.ConnectionActive {
		return nil
	}
	d, err := s.cfg.Connectors.Describe(conn.ServiceID)
	if err != nil {
		return river.JobSnooze(5 * time.Second) // connector (re)starting
	}
	set, err := ParseSettings(conn.Settings, d)
	if err != nil || !set.Enabled || !d.Poll {
		return nil // polling off: the scan queues a job when it is back on
	}
	now := s.cfg.Now()
	st, err := s.cfg.Store.GetPollState(ctx, store.Consumer(conn.ConsumerID), conn.ID)
	if err != nil {
		return fmt.Errorf("loading poll state of connection %s: %w", conn.ID, err)
	}
	if due := nextDue(st, set.Interval); due.After(now) {
		return river.JobSnooze(due.Sub(now))
	}
	res, err := s.PollOnce(ctx, conn)
	var perr *Error
	switch {
	case errors.Is(err, store.ErrPollBusy), errors.Is(err, store.ErrPollLeaseLost):
		return river.JobSnooze(busyWait)
	case errors.As(err, &perr):
		s.log.Warn("poll failed", "service_id", conn.ServiceID, "connection_id", conn.ID, "error", err,
			"next_poll_at", perr.NotBefore.UTC().Format(time.RFC3339))
		return river.JobSnooze(max(perr.NotBefore.Sub(s.cfg.Now()), 0))
	case err != nil:
		return river.JobSnooze(Backoff(st.Failures+1, set.Interval, s.cfg.MaxBackoff))
	}
	next := set.Interval
	if res.More {
		next = 0
	}
	if !res.NotBefore.IsZero() {
		next = max(next, res.NotBefore.Sub(s.cfg.Now()))
	}
	return river.JobSnooze(next)
}

// nextDue is when a connection's next scheduled poll is due: an interval
// after its last poll, and not before a bound a provider or backoff set.
func nextDue(st *store.PollState, interval time.Duration) time.Time {
	var due time.Time
	if st.LastPolledAt != nil && st.LastError == "" {
		due = st.LastPolledAt.Add(interval)
	}
	if st.NotBefore != nil && st.NotBefore.After(due) {
		due = *st.NotBefore
	}
	return due
}

// Pollers lists the ids of the running connectors that poll.
func (s *Service) Pollers() []string {
	var ids []string
	for _, d := range s.cfg.Connectors.Descriptions() {
		if d.Poll {
			ids = append(ids, d.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// Scan queues the poll job of every pollable connection that has none.
func (s *Service) Scan(ctx context.Context) error {
	refs, err := s.cfg.Store.PollableConnections(ctx, s.Pollers())
	if err != nil {
		return err
	}
	return s.cfg.Store.QueuePolls(ctx, refs)
}

// Name is the service's name in the hub's start-up log.
func (s *Service) Name() string { return "poll" }

// Start runs the scan now and every ScanEvery until Stop.
func (s *Service) Start(ctx context.Context) error {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.stop, s.done = cancel, make(chan struct{})
	go func() {
		defer close(s.done)
		t := time.NewTicker(s.cfg.ScanEvery)
		defer t.Stop()
		for {
			if err := s.Scan(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("queueing poll jobs", "error", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return nil
}

// Stop ends the scan.
func (s *Service) Stop(ctx context.Context) error {
	if s.stop == nil {
		return nil
	}
	s.stop()
	select {
	case <-s.done:
	case <-ctx.Done():
	}
	return nil
}

// RetryAfterSeconds is the Retry-After of a failed poll's next bound.
func RetryAfterSeconds(e *Error, now time.Time) string {
	return strconv.Itoa(max(int(e.NotBefore.Sub(now).Round(time.Second)/time.Second), 1))
}
