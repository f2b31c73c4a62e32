package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/switchboardhq/switchboard/hub/signature"
	"github.com/switchboardhq/switchboard/hub/store"
)

// drainLimit is how much of a long answer is read past ResponseBodyLimit so
// the connection can be reused; beyond it the connection is closed instead.
const drainLimit = 64 << 10

// message is one HTTP try's request: everything needed to sign it again.
type message struct {
	url       string
	id        string // webhook-id: the event id
	eventType string
	secrets   []string
	body      []byte // shared by every delivery of the event: never modified
	// format is the subscription's delivery format; signingKey keys its
	// signature when that is store.FormatApideck.
	format     string
	signingKey string
}

// result is what one HTTP try learned.
type result struct {
	start    time.Time
	duration time.Duration
	status   int    // 0 without a response
	body     string // capped, valid UTF-8
	err      error  // no response, or why the response is not a success
	// retryAfter is the receiver's Retry-After, when it sent a valid one.
	retryAfter    time.Duration
	hasRetryAfter bool
	// aborted: the try was cut off because the job itself was cancelled
	// (shutdown), not because of the receiver; it must not be recorded.
	aborted bool
}

type messageKey struct{}

// keepAlive hides http.Transport's CloseIdleConnections from
// retryablehttp, which calls it after every failed try: one receiver that
// refuses connections would otherwise drop the idle connections of all.
type keepAlive struct{ rt http.RoundTripper }

func (k keepAlive) RoundTrip(r *http.Request) (*http.Response, error) { return k.rt.RoundTrip(r) }

func (s *Service) newClient() *retryablehttp.Client {
	return &retryablehttp.Client{
		HTTPClient: &http.Client{
			Transport: keepAlive{s.transport},
			// A redirect is an answer, not a success: following it would
			// send the signed payload somewhere the subscriber never named.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		Logger: leveledLogger{s.log.With("component", "retryablehttp")},
		// One HTTP try per job run: the retry schedule lives in the queue.
		RetryMax:     0,
		RetryWaitMin: 100 * time.Millisecond,
		RetryWaitMax: time.Second,
		CheckRetry:   checkRetry,
		Backoff:      retryablehttp.DefaultBackoff,
		// Keep the last response: its status and body belong in the log.
		ErrorHandler: func(resp *http.Response, err error, _ int) (*http.Response, error) { return resp, err },
		// Should a try ever be repeated in-process, it gets a fresh
		// timestamp and signature like any other try.
		PrepareRetry: s.prepareRetry,
	}
}

// checkRetry is DefaultRetryPolicy, except that a refused destination is
// final: dialling it again cannot succeed.
func checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	var blocked *BlockedError
	if errors.As(err, &blocked) {
		return false, nil
	}
	return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
}

func (s *Service) prepareRetry(req *http.Request) error {
	m, ok := req.Context().Value(messageKey{}).(*message)
	if !ok {
		return errors.New("re-signing a retried delivery: request carries no message")
	}
	req.Header = req.Header.Clone() // the previous try's request owns the old map
	return s.sign(req.Header, m)
}

// sign sets a fresh webhook-timestamp and its signature, or for an
// Apideck-format subscription Apideck's headers.
func (s *Service) sign(h http.Header, m *message) error {
	if m.format == store.FormatApideck {
		return signApideck(h, m)
	}
	ts := s.now()
	sig, err := signature.Header(m.secrets, m.id, ts, m.body)
	if err != nil {
		return fmt.Errorf("signing: %w", err)
	}
	h.Set(signature.HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(signature.HeaderSignature, sig)
	return nil
}

// send makes one HTTP try. ctx is the job's context: when it ends first the
// result is marked aborted.
func (s *Service) send(ctx context.Context, m *message) (res result) {
	res.start = s.now()
	began := time.Now()
	defer func() { res.duration = time.Since(began) }()

	tctx, cancel := context.WithTimeout(context.WithValue(ctx, messageKey{}, m), s.cfg.Timeout)
	defer cancel()

	req, err := retryablehttp.NewRequestWithContext(tctx, http.MethodPost, m.url, m.body)
	if err != nil {
		res.err = fmt.Errorf("building request: %w", err)
		return res
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", s.cfg.UserAgent)
	if m.format != store.FormatApideck {
		h.Set(signature.HeaderID, m.id)
		h.Set("X-Event-Type", m.eventType)
	}
	if err := s.sign(h, m); err != nil {
		res.err = err
		return res
	}

	resp, err := s.client.Do(req)
	if resp != nil {
		res.status = resp.StatusCode
		res.body, err = s.readBody(resp.Body, err)
		if d, ok := retryAfter(resp, s.now()); ok {
			res.retryAfter, res.hasRetryAfter = d, true
		}
	}
	switch {
	case ctx.Err() != nil:
		res.aborted = true
		res.err = fmt.Errorf("delivery interrupted: %w", context.Cause(ctx))
	case res.status >= 200 && res.status < 300:
		res.err = nil
	case err != nil && errors.Is(tctx.Err(), context.DeadlineExceeded):
		if res.status == 0 {
			res.err = fmt.Errorf("timeout: no response within %s", s.cfg.Timeout)
		} else {
			res.err = fmt.Errorf("timeout: answered %d but the body did not arrive within %s", res.status, s.cfg.Timeout)
		}
	case err != nil:
		res.err = errors.New(cleanError(err))
	case res.status >= 300 && res.status < 400:
		if loc := resp.Header.Get("Location"); loc != "" {
			res.err = fmt.Errorf("answered %d, redirect to %s not followed", res.status, redactURL(loc))
		} else {
			res.err = fmt.Errorf("answered %d, redirects are not followed", res.status)
		}
	default:
		res.err = fmt.Errorf("answered %d", res.status)
	}
	return res
}

// readBody keeps the first ResponseBodyLimit bytes for the log and drains a
// bounded rest so the keep-alive connection can be reused. A read error is
// returned only when the try had none.
func (s *Service) readBody(body io.ReadCloser, tryErr error) (string, error) {
	defer body.Close()
	buf, err := io.ReadAll(io.LimitReader(body, int64(s.cfg.ResponseBodyLimit)))
	if err == nil {
		_, err = io.Copy(io.Discard, io.LimitReader(body, drainLimit))
	}
	if tryErr == nil && err != nil {
		tryErr = fmt.Errorf("reading response body: %w", err)
	}
	if !utf8.Valid(buf) {
		return strings.ToValidUTF8(string(buf), "\uFFFD"), tryErr
	}
	return string(buf), tryErr
}

// retryAfter parses Retry-After (delay seconds or an HTTP date) on the
// answers where it asks the sender to wait: 429 and 503.
func retryAfter(resp *http.Response, now time.Time) (time.Duration, bool) {
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return 0, false
	}
	v := strings.TrimSpace(resp.Header.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(365*24*time.Hour/time.Second) {
			secs = int64(365 * 24 * time.Hour / time.Second) // no overflow; capped later anyway
		}
		return time.Duration(secs) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		d := at.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

// cleanError drops the url.Error wrapper ("Post \"https://...\": "): the
// attempt already names the endpoint, and its query may hold a token.
func cleanError(err error) string {
	var blocked *BlockedError
	if errors.As(err, &blocked) {
		return blocked.Error()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

// redactURL drops user info and query from a URL for logs, where a token
// in the URL must not appear.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	u.User = nil
	u.RawQuery = ""
	u.ForceQuery = false
	u.Fragment = ""
	return u.String()
}

// leveledLogger routes go-retryablehttp's messages to slog at debug level:
// the service logs every try itself, and the library's default logger would
// write to stderr. URLs lose their query strings on the way.
type leveledLogger struct{ l *slog.Logger }

func (a leveledLogger) Error(msg string, kv ...any) { a.log(msg, kv) }
func (a leveledLogger) Warn(msg string, kv ...any)  { a.log(msg, kv) }
func (a leveledLogger) Info(msg string, kv ...any)  { a.log(msg, kv) }
func (a leveledLogger) Debug(msg string, kv ...any) { a.log(msg, kv) }

func (a leveledLogger) log(msg string, kv []any) {
	if !a.l.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	for i, v := range kv {
		if s, ok := v.(string); ok && strings.Contains(s, "?") {
			kv[i] = dropQueries(s)
		}
	}
	a.l.Debug(msg, kv...)
}

// dropQueries removes every "?query" up to the next space from s.
func dropQueries(s string) string {
	var b strings.Builder
	for {
		before, after, found := strings.Cut(s, "?")
		b.WriteString(before)
		if !found {
			return b.String()
		}
		if i := strings.IndexByte(after, ' '); i >= 0 {
			s = after[i:]
		} else {
			return b.String()
		}
	}
}
