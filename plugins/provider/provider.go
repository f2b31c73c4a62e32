// Package provider is the HTTP client a connector uses to manage webhooks
// through a provider's API: the registration calls of Subscribe and
// Unsubscribe of a connector with ManagedVia api (Deskera, vPlan).
//
// It exists because every such connector needs the same careful client, and
// each one written by hand got a different detail wrong:
//
//   - Bounded retries. Each try is bounded by Config.TryTimeout, the answer
//     included. Only a transport error, a timeout or a 5xx answer (but 501)
//     is retried, at most Config.Retries times with exponential backoff
//     between Config.RetryWaitMin and Config.RetryWaitMax. A 4xx never is:
//     the provider has decided, and asking again changes nothing.
//   - A Retry-After header (429, 503) is honoured, but never beyond
//     RetryWaitMax: a provider cannot park a call past the hub's patience.
//   - No redirect surprises. Redirects are not followed, since they would
//     carry the credentials (headers and body) wherever they point; the 3xx
//     comes back as the answer.
//   - Credentials never leak. The values of the session's headers and the
//     secrets the connector names are scrubbed from every message and log
//     line, the provider's own messages included (it may echo them). Logs
//     name the method and path of a call, never its headers or body.
//   - No SSRF. A provider's base URL is a connection setting, so anyone
//     who may create a connection picks where the plugin connects. Every
//     dial is checked on the resolved address against the hub's policy
//     (package netguard, the same allow-list of global unicast addresses
//     that guards deliveries, with the hub's --allow-private-destinations
//     and --allow-cidr passed to the plugin in its environment), and
//     answers' headers are capped (netguard.MaxResponseHeaderBytes).
//   - Errors the hub can report. A refusal becomes a *plugins.ProviderError
//     with the provider's status and its own message (ProviderMessage: a
//     message field parsed from a JSON answer, at most 200 bytes, never
//     the raw body, which may be an internal server's page),
//     which the hub answers as 502 ConnectorExecutionError; a call that got
//     no answer is one with StatusCode 0 whose message starts with "timed
//     out", "cancelled" or "could not reach <provider>".
//
// A connector makes one Client (New), which holds its connection pool, and
// one Session per Subscribe or Unsubscribe, naming the base URL, the
// authentication headers and the secrets of that connection.
package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/switchboardhq/switchboard/plugins"
	"github.com/switchboardhq/switchboard/plugins/netguard"
)

// Defaults of Config.
const (
	DefaultTryTimeout   = 10 * time.Second
	DefaultRetries      = 2
	DefaultRetryWaitMin = 500 * time.Millisecond
	DefaultRetryWaitMax = 2 * time.Second
)

const (
	// maxAnswer bounds how much of an answer is read.
	maxAnswer = 1 << 20
	// minSecret is the length of the shortest value scrubbed: shorter
	// ones would mangle text without hiding a secret.
	minSecret = 4
	redacted  = "[redacted]"
)

// Config tunes a Client. New applies the defaults to its zero fields.
type Config struct {
	// Name is the provider's name in messages, e.g. "Deskera" ("the
	// provider" when empty).
	Name string
	// TryTimeout bounds one HTTP try, reading the answer included
	// (DefaultTryTimeout when zero or negative).
	TryTimeout time.Duration
	// Retries is how often a try that failed with a transport error, a
	// timeout or a 5xx answer is repeated (DefaultRetries when zero; a
	// negative value disables retries).
	Retries int
	// RetryWaitMin and RetryWaitMax bound the exponential backoff between
	// tries (DefaultRetryWaitMin and DefaultRetryWaitMax when zero or
	// negative; a RetryWaitMax below RetryWaitMin is raised to it). A
	// Retry-After header is honoured up to RetryWaitMax.
	RetryWaitMin, RetryWaitMax time.Duration
	// UserAgent is sent with every call ("Switchboard" when empty).
	UserAgent string
	// Guard is which destinations the client may dial besides global
	// unicast addresses. Nil means the policy the hub passed to this
	// plugin process (netguard.FromEnv); a process started without it, or
	// with one that does not parse, gets the strict policy.
	Guard *netguard.Policy
}

// Client calls one provider's API. It is safe for concurrent use; a
// connector makes one and keeps it, so calls reuse connections.
type Client struct {
	cfg  Config
	http *http.Client
}

// New returns a Client with cfg's zero fields set to their defaults, whose
// tries go through transport: when nil, a fresh clone of
// http.DefaultTransport (a pool of the Client's own); when an
// *http.Transport, a clone of it. Either way its dials are checked against
// cfg.Guard and its answers' headers capped. Any other RoundTripper is used
// as it is, and guarding its dials is the caller's job.
func New(cfg Config, transport http.RoundTripper) *Client {
	if cfg.Name == "" {
		cfg.Name = "the provider"
	}
	if cfg.TryTimeout <= 0 {
		cfg.TryTimeout = DefaultTryTimeout
	}
	switch {
	case cfg.Retries == 0:
		cfg.Retries = DefaultRetries
	case cfg.Retries < 0:
		cfg.Retries = 0
	}
	if cfg.RetryWaitMin <= 0 {
		cfg.RetryWaitMin = DefaultRetryWaitMin
	}
	if cfg.RetryWaitMax <= 0 {
		cfg.RetryWaitMax = DefaultRetryWaitMax
	}
	cfg.RetryWaitMax = max(cfg.RetryWaitMax, cfg.RetryWaitMin)
	if cfg.UserAgent == "" {
		cfg.UserAgent = "Switchboard"
	}
	policy := netguard.Policy{} // strict unless told otherwise
	if cfg.Guard != nil {
		policy = *cfg.Guard
	} else if p, err := netguard.FromEnv(); err == nil {
		policy = p
	}
	switch t := transport.(type) {
	case nil:
		transport = guarded(http.DefaultTransport.(*http.Transport).Clone(), policy)
	case *http.Transport:
		transport = guarded(t.Clone(), policy)
	}
	return &Client{cfg: cfg, http: &http.Client{
		Transport: transport,
		Timeout:   cfg.TryTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// guarded makes t check every address it dials against policy and cap the
// headers of every answer. A proxy from the environment (HTTPS_PROXY) is
// kept: the guard then checks the proxy's address, and the proxy decides
// what it forwards to.
func guarded(t *http.Transport, policy netguard.Policy) *http.Transport {
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: policy.Control}
	t.DialContext = dialer.DialContext
	t.DialTLSContext = nil
	t.MaxResponseHeaderBytes = netguard.MaxResponseHeaderBytes
	return t
}

// Transport returns the RoundTripper the Client's tries go through.
func (c *Client) Transport() http.RoundTripper { return c.http.Transport }

// Config returns the Client's configuration, defaults applied.
func (c *Client) Config() Config { return c.cfg }

// Session is the calls of one connector operation (a Subscribe or an
// Unsubscribe) for one connection. Its methods may be called one after
// the other or concurrently.
type Session struct {
	c       *Client
	base    string
	header  http.Header
	secrets []string
	log     *slog.Logger
	retried atomic.Bool
}

// Session returns a session whose calls go to base (the provider's API
// root; a trailing slash is dropped) with header on every call, usually
// the credentials. The values of header and secrets (credentials, the
// connection's inbound URL, ...) are scrubbed from every message and log
// line. log receives the session's log lines (slog.Default() when nil).
func (c *Client) Session(base string, header http.Header, secrets []string, log *slog.Logger) *Session {
	s := &Session{c: c, base: strings.TrimRight(base, "/"), header: http.Header{}, log: log}
	if s.log == nil {
		s.log = slog.Default()
	}
	for k, vs := range header {
		for _, v := range vs {
			s.header.Add(k, v)
			secrets = append(secrets, v)
		}
	}
	for _, v := range secrets {
		if len(v) >= minSecret && !slices.Contains(s.secrets, v) {
			s.secrets = append(s.secrets, v)
		}
	}
	// Longest first, so a secret containing another is replaced whole.
	slices.SortStableFunc(s.secrets, func(a, b string) int { return len(b) - len(a) })
	return s
}

// Answer is the provider's answer to one call, after retries.
type Answer struct {
	Method, Path string
	// Status is the HTTP status of the last try's answer.
	Status int
	// Body is the answer's body (its first MiB).
	Body []byte
	// Tries is how many tries the call took.
	Tries int
	// RetryAfter is the answer's Retry-After (seconds or an HTTP date),
	// zero when it has none: what a connector hands the hub with
	// plugins.RateLimited on a 429.
	RetryAfter time.Duration
}

// OK reports a 2xx answer.
func (a *Answer) OK() bool { return a.Status >= 200 && a.Status <= 299 }

// Call sends method base+path, with payload as its JSON body unless it is
// nil, retrying as the package documentation says. It returns the last
// answer whatever its status. A call that got no answer is a
// *plugins.ProviderError with StatusCode 0; one that could not be made at
// all (a payload that does not encode, a base that is not a URL) is
// another error: that is the connector's fault, not the provider's.
func (s *Session) Call(ctx context.Context, method, path string, payload any) (*Answer, error) {
	return s.call(ctx, method, path, payload, s.c.cfg.Retries)
}

// CallOnce is Call without retries, for best-effort cleanup that has a
// short deadline of its own.
func (s *Session) CallOnce(ctx context.Context, method, path string, payload any) (*Answer, error) {
	return s.call(ctx, method, path, payload, 0)
}

// Retried reports whether any call of the session took more than one try:
// a call that creates something may then have created it twice, the first
// answer having been lost.
func (s *Session) Retried() bool { return s.retried.Load() }

// Refusal is the ProviderError of an answer that is not the expected one:
// its status and the provider's own message (ProviderMessage), scrubbed.
func (s *Session) Refusal(ans *Answer) *plugins.ProviderError {
	return &plugins.ProviderError{StatusCode: ans.Status, Message: tidy(ans.Status, s.Scrub(messageOf(ans.Body)))}
}

// Scrub replaces every secret of the session in text with "[redacted]".
func (s *Session) Scrub(text string) string {
	for _, v := range s.secrets {
		text = strings.ReplaceAll(text, v, redacted)
	}
	return text
}

func (s *Session) call(ctx context.Context, method, path string, payload any, retries int) (*Answer, error) {
	var body any // nil: no body
	if payload != nil {
		b, err := json.Marshal(payload)
		if err != nil {
			return nil, errors.New(s.Scrub(fmt.Sprintf("encoding the body of %s %s for %s: %v", method, path, s.c.cfg.Name, err)))
		}
		body = b
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, method, s.base+path, body)
	if err != nil {
		return nil, errors.New(s.Scrub(fmt.Sprintf("building %s %s for %s: %v", method, path, s.c.cfg.Name, err)))
	}
	for k, vs := range s.header {
		req.Header[k] = slices.Clone(vs)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", s.c.cfg.UserAgent)
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	ans := &Answer{Method: method, Path: path}
	rc := &retryablehttp.Client{
		HTTPClient:   s.c.http,
		RetryWaitMin: s.c.cfg.RetryWaitMin,
		RetryWaitMax: s.c.cfg.RetryWaitMax,
		RetryMax:     retries,
		CheckRetry:   retryPolicy,
		Backoff:      backoff,
		// The last answer (or transport error) comes back as is, so its
		// status and message can be reported.
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
		// No Logger: retryablehttp would log URLs and errors verbatim.
		RequestLogHook: func(_ retryablehttp.Logger, r *http.Request, attempt int) {
			ans.Tries = attempt + 1
			if attempt > 0 {
				s.retried.Store(true)
			}
			s.log.LogAttrs(r.Context(), slog.LevelDebug, "provider request", s.attrs(ans, slog.Int("try", ans.Tries))...)
		},
	}
	resp, err := rc.Do(req)
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		return nil, s.noAnswer(ctx, ans, err)
	}
	defer resp.Body.Close()
	ans.Status = resp.StatusCode
	ans.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	if ans.Body, err = io.ReadAll(io.LimitReader(resp.Body, maxAnswer)); err != nil {
		return nil, s.noAnswer(ctx, ans, err)
	}
	level := slog.LevelDebug
	if ans.Status >= 500 {
		level = slog.LevelWarn
	}
	s.log.LogAttrs(ctx, level, "provider answered", s.attrs(ans, slog.Int("status", ans.Status), slog.Int("tries", ans.Tries))...)
	return ans, nil
}

// attrs are a log line's attributes: the provider, method and path (never
// the URL's host or query, never a header), then more.
func (s *Session) attrs(ans *Answer, more ...slog.Attr) []slog.Attr {
	return append([]slog.Attr{slog.String("provider", s.c.cfg.Name), slog.String("method", ans.Method),
		slog.String("path", s.Scrub(ans.Path))}, more...)
}

// retryPolicy repeats a try after a transport error or a timeout (as
// retryablehttp's default policy does: not after a TLS or redirect error)
// and after a 5xx answer but 501, never after a 4xx (the provider has
// decided, and asking again changes nothing) nor after a dial the guard
// refused.
func retryPolicy(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if _, blocked := errors.AsType[*netguard.BlockedError](err); blocked {
		return false, nil // dialling the same address again cannot succeed
	}
	if err == nil && resp != nil && resp.StatusCode < 500 {
		return false, nil
	}
	return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
}

// backoff is retryablehttp's exponential backoff, with a Retry-After
// capped at the maximum wait (retryablehttp does not cap it).
func backoff(lo, hi time.Duration, attempt int, resp *http.Response) time.Duration {
	return min(retryablehttp.DefaultBackoff(lo, hi, attempt, resp), hi)
}

// noAnswer words a call that got no answer as a ProviderError with status
// 0, saying what timed out or failed, and logs it.
func (s *Session) noAnswer(ctx context.Context, ans *Answer, err error) *plugins.ProviderError {
	name, call, after := s.c.cfg.Name, ans.Method+" "+ans.Path, ""
	if ans.Tries > 1 {
		after = fmt.Sprintf(" (%d tries)", ans.Tries)
	}
	var msg string
	var netErr net.Error
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		msg = fmt.Sprintf("timed out: %s did not answer %s before the deadline of this call%s", name, call, after)
	case ctx.Err() != nil:
		msg = fmt.Sprintf("cancelled while calling %s: %s%s", name, call, after)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		// http.Client.Timeout: the (last) try ran out.
		msg = fmt.Sprintf("timed out: %s did not answer %s within %s%s", name, call, s.c.cfg.TryTimeout, after)
	default:
		cause := err
		if ue, ok := errors.AsType[*url.Error](err); ok {
			cause = ue.Err
		}
		msg = fmt.Sprintf("could not reach %s at %s for %s%s: %v", name, s.base, call, after, cause)
	}
	msg = s.Scrub(msg)
	s.log.LogAttrs(ctx, slog.LevelWarn, "provider call got no answer", s.attrs(ans, slog.String("error", msg))...)
	return &plugins.ProviderError{StatusCode: 0, Message: msg}
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP
// date; zero when absent or unreadable, capped at a day.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		d = time.Duration(max(secs, 0)) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = max(t.Sub(now), 0)
	}
	return min(d, 24*time.Hour)
}
