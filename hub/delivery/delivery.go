// Package delivery sends events to subscribers: the River workers that make
// each HTTP try, sign it (Standard Webhooks), classify the answer, schedule
// the next try and disable subscriptions that keep failing.
//
// The first try of a freshly published event's deliveries is made in process
// by the Dispatcher, right after the commit. Events the dispatcher has no
// room for, replays and deliveries left untried by a crash go through the
// queue instead, as one job.Fanout per event. Either way the first tries of
// an event run concurrently and all their outcomes are recorded in one store
// call, which also enqueues one job.Retry per failed delivery. Each
// River job run is exactly one HTTP try per delivery; go-retryablehttp never
// retries on its own, because the schedule (minutes to a day apart, surviving
// restarts) lives in the queue, not in a goroutine.
//
// A try that was made is never made again only because its outcome could
// not be written (database locked by another process, disk full): the write
// is retried in process, at most a second apart, until the database is back
// (for up to 30 s in a queue job, until Stop in the dispatcher). So the
// attempt log holds every try a receiver saw, unless the process dies first.
package delivery

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/metric"
	"github.com/switchboardhq/switchboard/hub/store"
	"github.com/switchboardhq/switchboard/plugins/netguard"
)

// Defaults for Config's zero values.
const (
	DefaultUserAgent         = "Switchboard"
	DefaultTimeout           = 15 * time.Second
	DefaultJitter            = 0.2
	DefaultMaxRetryAfter     = time.Hour
	DefaultFailureWindow     = 120 * time.Hour
	DefaultFanoutConcurrency = 64
	DefaultFanoutChunkSize   = 1000
	DefaultFanoutBudget      = time.Minute
	DefaultResponseBodyLimit = 4096
)

// DefaultSchedule is the Standard Webhooks schedule of waits between tries:
// after the immediate first try, 5s, 5m, 30m, 2h, 5h, 10h, 14h, 20h and 24h,
// so nine retries spread over about three days.
var DefaultSchedule = []time.Duration{
	5 * time.Second,
	5 * time.Minute,
	30 * time.Minute,
	2 * time.Hour,
	5 * time.Hour,
	10 * time.Hour,
	14 * time.Hour,
	20 * time.Hour,
	24 * time.Hour,
}

// Config tunes delivery. Zero values take the defaults named on each field,
// except where a field says otherwise.
type Config struct {
	// Logger receives one line per failed try (successes at debug) and the
	// HTTP client's own messages at debug. Nil discards.
	Logger *slog.Logger
	// Metrics counts tries, their latency, delivery states and automatic
	// disables. Nil counts nothing.
	Metrics *metric.Metrics
	// UserAgent is sent with every try, e.g. "Switchboard/1.2.0"
	// (default "Switchboard").
	UserAgent string
	// Timeout bounds one HTTP try, from dialling to reading the capped
	// response body (default 15s). A try that runs out is a failed try.
	Timeout time.Duration
	// DefaultSchedule is the waits between tries for subscriptions without
	// their own retry_schedule; its length is the number of retries. Nil
	// takes the package's DefaultSchedule; an empty non-nil slice means a
	// single try.
	DefaultSchedule []time.Duration
	// Jitter spreads each scheduled wait by up to ±Jitter of itself, so a
	// receiver that fails for everyone is not hit by every retry at once
	// (default 0.2; negative: none).
	Jitter float64
	// MaxRetryAfter caps the wait a 429 or 503 answer asks for with
	// Retry-After, so a receiver cannot park deliveries for days
	// (default 1h).
	MaxRetryAfter time.Duration
	// FailureWindow is how long a subscription may keep failing, without a
	// success, before a delivery that runs out of retries disables it with
	// reason retry_limit. It is measured from the subscription's
	// fail_streak_started_at. 0 means no grace: the first delivery that runs
	// out of retries disables it. `switchboard serve` passes
	// DefaultFailureWindow (5 days) unless told otherwise.
	FailureWindow time.Duration
	// FanoutConcurrency bounds the concurrent HTTP tries of one fan-out job
	// (default 64).
	FanoutConcurrency int
	// FanoutChunkSize is the most deliveries one fan-out job run tries and
	// records in one store call (default 1000). A larger fan-out continues in
	// further runs of the same job, right away.
	FanoutChunkSize int
	// FanoutBudget is how long one fan-out job run keeps starting new tries
	// (default 1m); the rest continue in the next run, so no run outlives the
	// queue's stuck-job rescue and gets worked twice.
	FanoutBudget time.Duration
	// AllowPrivate lets deliveries reach loopback, private, link-local and
	// other non-public addresses (local development and tests). Off, such
	// destinations are refused when dialling (SSRF guard).
	AllowPrivate bool
	// AllowCIDRs are non-public ranges deliveries may reach while the guard
	// stays on, e.g. an internal network of the operator's receivers.
	AllowCIDRs []netip.Prefix
	// ResponseBodyLimit is how many bytes of a receiver's answer are kept in
	// the attempt log (default 4096).
	ResponseBodyLimit int
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.UserAgent == "" {
		c.UserAgent = DefaultUserAgent
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.DefaultSchedule == nil {
		c.DefaultSchedule = DefaultSchedule
	}
	if c.Jitter == 0 {
		c.Jitter = DefaultJitter
	}
	if c.Jitter < 0 {
		c.Jitter = 0
	}
	if c.Jitter > 1 {
		c.Jitter = 1
	}
	if c.MaxRetryAfter <= 0 {
		c.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if c.FailureWindow < 0 {
		c.FailureWindow = 0
	}
	if c.FanoutConcurrency <= 0 {
		c.FanoutConcurrency = DefaultFanoutConcurrency
	}
	if c.FanoutChunkSize <= 0 {
		c.FanoutChunkSize = DefaultFanoutChunkSize
	}
	if c.FanoutBudget <= 0 {
		c.FanoutBudget = DefaultFanoutBudget
	}
	if c.ResponseBodyLimit <= 0 {
		c.ResponseBodyLimit = DefaultResponseBodyLimit
	}
}

// Store is what delivery needs from persistence; store.Store satisfies it.
type Store interface {
	// FanoutTargets returns the event and its deliveries still waiting for
	// their first try.
	FanoutTargets(ctx context.Context, eventID string) (*event.Event, []*store.Target, error)
	// RetryTarget returns one delivery with its event and subscription.
	RetryTarget(ctx context.Context, deliveryID string) (*event.Event, *store.Target, error)
	// RecordOutcomes writes attempts, delivery states, subscription health
	// and the retry jobs of pending outcomes in one transaction.
	RecordOutcomes(ctx context.Context, outcomes []store.Outcome) error
}

// Service makes delivery tries and works the delivery jobs. One per hub: it
// holds the keep-alive connection pool every try shares.
type Service struct {
	cfg       Config
	store     Store
	log       *slog.Logger
	guard     netguard.Policy
	transport *http.Transport
	client    *retryablehttp.Client

	now    func() time.Time // the clock for timestamps and schedules (tests may replace it)
	random func() float64   // [0,1) for jitter
}

// New builds the delivery service. Register its workers before the queue
// starts.
func New(cfg Config, st Store) *Service {
	cfg.setDefaults()
	s := &Service{
		cfg:    cfg,
		store:  st,
		log:    cfg.Logger,
		guard:  netguard.Policy{AllowAll: cfg.AllowPrivate, Allow: cfg.AllowCIDRs},
		now:    time.Now,
		random: rand.Float64,
	}
	dialer := &net.Dialer{
		Timeout:   cfg.Timeout,
		KeepAlive: 30 * time.Second,
		Control:   s.guard.Control,
	}
	s.transport = &http.Transport{
		// No proxy from the environment: the guard must see the address
		// actually dialled, and deliveries must not depend on HTTP_PROXY.
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4096,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		// A receiver answering megabytes of headers gets a failed try, not
		// a megabyte of the hub's memory per concurrent try.
		MaxResponseHeaderBytes: netguard.MaxResponseHeaderBytes,
	}
	s.client = s.newClient()
	return s
}

// Close drops the idle keep-alive connections. Call it after the queue has
// stopped.
func (s *Service) Close() {
	s.transport.CloseIdleConnections()
}
