package provider_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/plugins"
	"github.com/switchboardhq/switchboard/plugins/netguard"
	"github.com/switchboardhq/switchboard/plugins/provider"
)

// Distinctive credentials, so finding one in a text is no accident.
const (
	apiKey  = "ak_live_5e8f1c3a9b7d"
	apiEnv  = "env_2c9d7a1f"
	hookURL = "https://hub.example/webhook/inbound/acme/Tq7Wm3xK9pLs2vBn"
)

// reply is one answer of the test server.
type reply struct {
	status int
	body   string
	header map[string]string
	hang   bool // answer nothing until the client gives up
	drop   bool // close the connection without an answer
}

// seen is one request the test server received.
type seen struct {
	method, path string
	header       http.Header
	body         []byte
	at           time.Time
}

// server is a real HTTP server playing a provider: it answers its script
// in order, repeating the last reply.
type server struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []seen
	script []reply
}

func newServer(t *testing.T, script ...reply) *server {
	t.Helper()
	s := &server{script: script}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	rep := s.script[min(len(s.reqs), len(s.script)-1)]
	s.reqs = append(s.reqs, seen{method: r.Method, path: r.URL.EscapedPath(), header: r.Header.Clone(), body: body, at: time.Now()})
	s.mu.Unlock()
	switch {
	case rep.hang:
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		return
	case rep.drop:
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(rep.status)
	_, _ = io.WriteString(w, rep.body)
}

func (s *server) requests() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seen(nil), s.reqs...)
}

// newLogger logs at debug level into a buffer. The provider logs on the
// calling goroutine only, so the test may read the buffer after a call.
func newLogger() (*slog.Logger, *bytes.Buffer) {
	buf := &bytes.Buffer{}
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// fast is a Config with short tries and waits, allowed to reach the test
// servers on loopback.
func fast() provider.Config {
	return provider.Config{Name: "Acme", TryTimeout: 200 * time.Millisecond, Retries: 2,
		RetryWaitMin: time.Millisecond, RetryWaitMax: 5 * time.Millisecond, UserAgent: "Acme-Test/1",
		Guard: &netguard.Policy{AllowAll: true}}
}

// session returns a session of a new client with cfg against base, with
// apiKey as its x-api-key header and apiEnv and hookURL as secrets.
func session(t *testing.T, cfg provider.Config, base string) (*provider.Session, *bytes.Buffer) {
	t.Helper()
	log, logs := newLogger()
	s := provider.New(cfg, nil).Session(base, http.Header{"x-api-key": {apiKey}}, []string{apiEnv, hookURL}, log)
	t.Cleanup(func() {
		for _, secret := range []string{apiKey, apiEnv, hookURL} {
			assert.NotContains(t, logs.String(), secret, "the log leaks a secret")
		}
	})
	return s, logs
}

func TestNewAppliesDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   provider.Config
		want provider.Config
	}{
		{"zero", provider.Config{},
			provider.Config{Name: "the provider", TryTimeout: 10 * time.Second, Retries: 2,
				RetryWaitMin: 500 * time.Millisecond, RetryWaitMax: 2 * time.Second, UserAgent: "Switchboard"}},
		{"negative retries disable them",
			provider.Config{Name: "Acme", Retries: -1},
			provider.Config{Name: "Acme", TryTimeout: 10 * time.Second, Retries: 0,
				RetryWaitMin: 500 * time.Millisecond, RetryWaitMax: 2 * time.Second, UserAgent: "Switchboard"}},
		{"negative durations are defaults",
			provider.Config{TryTimeout: -1, RetryWaitMin: -1, RetryWaitMax: -1},
			provider.Config{Name: "the provider", TryTimeout: 10 * time.Second, Retries: 2,
				RetryWaitMin: 500 * time.Millisecond, RetryWaitMax: 2 * time.Second, UserAgent: "Switchboard"}},
		{"max wait below min wait is raised",
			provider.Config{RetryWaitMin: 3 * time.Second, RetryWaitMax: time.Second},
			provider.Config{Name: "the provider", TryTimeout: 10 * time.Second, Retries: 2,
				RetryWaitMin: 3 * time.Second, RetryWaitMax: 3 * time.Second, UserAgent: "Switchboard"}},
		{"set fields stay", fast(), fast()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, provider.New(tt.in, nil).Config())
		})
	}
}

// TestRetryPolicy: transport errors and 5xx (but 501) are retried, a 4xx
// (429 included) or a 3xx never; the last answer comes back whatever its
// status.
func TestRetryPolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		script     []reply
		retries    int // Config.Retries; 0: 2
		once       bool
		wantStatus int
		wantTries  int
	}{
		{name: "200", script: []reply{{status: 200, body: `{}`}}, wantStatus: 200, wantTries: 1},
		{name: "201", script: []reply{{status: 201}}, wantStatus: 201, wantTries: 1},
		{name: "204", script: []reply{{status: 204}}, wantStatus: 204, wantTries: 1},
		{name: "307 is not followed nor retried", script: []reply{{status: 307, header: map[string]string{"Location": "/elsewhere"}}}, wantStatus: 307, wantTries: 1},
		{name: "400", script: []reply{{status: 400}}, wantStatus: 400, wantTries: 1},
		{name: "401", script: []reply{{status: 401}}, wantStatus: 401, wantTries: 1},
		{name: "403", script: []reply{{status: 403}}, wantStatus: 403, wantTries: 1},
		{name: "404", script: []reply{{status: 404}}, wantStatus: 404, wantTries: 1},
		{name: "409", script: []reply{{status: 409}}, wantStatus: 409, wantTries: 1},
		{name: "422", script: []reply{{status: 422}}, wantStatus: 422, wantTries: 1},
		{name: "429 with Retry-After is a 4xx", script: []reply{{status: 429, header: map[string]string{"Retry-After": "0"}}}, wantStatus: 429, wantTries: 1},
		{name: "500 three times", script: []reply{{status: 500}}, wantStatus: 500, wantTries: 3},
		{name: "502 three times", script: []reply{{status: 502}}, wantStatus: 502, wantTries: 3},
		{name: "503 three times", script: []reply{{status: 503}}, wantStatus: 503, wantTries: 3},
		{name: "504 three times", script: []reply{{status: 504}}, wantStatus: 504, wantTries: 3},
		{name: "501 is not retried", script: []reply{{status: 501}}, wantStatus: 501, wantTries: 1},
		{name: "500 then 200", script: []reply{{status: 500}, {status: 200}}, wantStatus: 200, wantTries: 2},
		{name: "503 then 400", script: []reply{{status: 503}, {status: 400}}, wantStatus: 400, wantTries: 2},
		{name: "dropped connection then 201", script: []reply{{drop: true}, {status: 201}}, wantStatus: 201, wantTries: 2},
		{name: "a hung try then 200", script: []reply{{hang: true}, {status: 200}}, wantStatus: 200, wantTries: 2},
		{name: "more retries", retries: 4, script: []reply{{status: 500}}, wantStatus: 500, wantTries: 5},
		{name: "retries disabled", retries: -1, script: []reply{{status: 500}}, wantStatus: 500, wantTries: 1},
		{name: "CallOnce does not retry", once: true, script: []reply{{status: 500}, {status: 200}}, wantStatus: 500, wantTries: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, tt.script...)
			cfg := fast()
			if tt.retries != 0 {
				cfg.Retries = tt.retries
			}
			s, logs := session(t, cfg, srv.URL)
			call := s.Call
			if tt.once {
				call = s.CallOnce
			}
			ans, err := call(t.Context(), http.MethodGet, "/hooks", nil)
			require.NoError(t, err)
			assert.Equal(t, tt.wantStatus, ans.Status)
			assert.Equal(t, tt.wantTries, ans.Tries)
			assert.Len(t, srv.requests(), tt.wantTries, "tries the provider saw")
			assert.Equal(t, tt.wantTries > 1, s.Retried())
			assert.Equal(t, tt.wantStatus >= 200 && tt.wantStatus <= 299, ans.OK())
			assert.Equal(t, tt.wantTries, strings.Count(logs.String(), `"msg":"provider request"`), "one log line per try")
		})
	}
}

// TestNoAnswer: a call that got no answer is a ProviderError with status
// 0 saying what timed out or failed.
func TestNoAnswer(t *testing.T) {
	t.Parallel()
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	tests := []struct {
		name       string
		script     []reply // nil: nothing listens
		tryTimeout time.Duration
		retries    int
		ctx        func(context.Context) (context.Context, context.CancelFunc)
		want       string // the message, or its prefix when wantMore
		wantMore   string // more the message contains
		wantTries  int
	}{
		{name: "every try times out", script: []reply{{hang: true}},
			want: "timed out: Acme did not answer GET /hooks within 200ms (3 tries)", wantTries: 3},
		{name: "the only try times out", script: []reply{{hang: true}}, retries: -1,
			want: "timed out: Acme did not answer GET /hooks within 200ms", wantTries: 1},
		{name: "the call's deadline", script: []reply{{hang: true}}, tryTimeout: 5 * time.Second,
			ctx: func(ctx context.Context) (context.Context, context.CancelFunc) {
				return context.WithTimeout(ctx, 150*time.Millisecond)
			},
			want: "timed out: Acme did not answer GET /hooks before the deadline of this call", wantTries: 1},
		{name: "cancelled", script: []reply{{hang: true}}, tryTimeout: 5 * time.Second,
			ctx: func(ctx context.Context) (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(ctx)
				time.AfterFunc(150*time.Millisecond, cancel)
				return ctx, cancel
			},
			want: "cancelled while calling Acme: GET /hooks", wantTries: 1},
		{name: "connection dropped", script: []reply{{drop: true}},
			want: "could not reach Acme at {base} for GET /hooks (3 tries): ", wantMore: "EOF", wantTries: 3},
		{name: "nothing listens",
			want: "could not reach Acme at {base} for GET /hooks (3 tries): ", wantMore: "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := gone.URL
			var srv *server
			if tt.script != nil {
				srv = newServer(t, tt.script...)
				base = srv.URL
			}
			cfg := fast()
			if tt.tryTimeout != 0 {
				cfg.TryTimeout = tt.tryTimeout
			}
			if tt.retries != 0 {
				cfg.Retries = tt.retries
			}
			s, logs := session(t, cfg, base)
			ctx, cancel := t.Context(), context.CancelFunc(func() {})
			if tt.ctx != nil {
				ctx, cancel = tt.ctx(t.Context())
			}
			defer cancel()
			ans, err := s.Call(ctx, http.MethodGet, "/hooks", nil)
			assert.Nil(t, ans)
			pe, ok := errors.AsType[*plugins.ProviderError](err)
			require.True(t, ok, "no answer is a *plugins.ProviderError: %v", err)
			assert.Zero(t, pe.StatusCode, "no answer: status 0")
			want := strings.ReplaceAll(tt.want, "{base}", base)
			if tt.wantMore == "" {
				assert.Equal(t, want, pe.Message)
			} else {
				assert.True(t, strings.HasPrefix(pe.Message, want), "%q does not start with %q", pe.Message, want)
				assert.Contains(t, pe.Message, tt.wantMore)
			}
			if srv != nil {
				assert.Len(t, srv.requests(), tt.wantTries)
			}
			assert.Contains(t, logs.String(), `"msg":"provider call got no answer"`)
		})
	}
}

// TestRetryAfter: a 503's Retry-After is honoured, but never beyond
// RetryWaitMax.
func TestRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		retryAfter     string
		waitMax        time.Duration
		minGap, maxGap time.Duration
	}{
		{name: "honoured", retryAfter: "1", waitMax: 5 * time.Second,
			minGap: 900 * time.Millisecond, maxGap: 4 * time.Second},
		{name: "capped at RetryWaitMax", retryAfter: "3600", waitMax: 50 * time.Millisecond,
			minGap: 40 * time.Millisecond, maxGap: 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, reply{status: 503, header: map[string]string{"Retry-After": tt.retryAfter}}, reply{status: 200})
			cfg := fast()
			cfg.RetryWaitMax = tt.waitMax
			s, _ := session(t, cfg, srv.URL)
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			ans, err := s.Call(ctx, http.MethodGet, "/hooks", nil)
			require.NoError(t, err, "the wait must end before the call's deadline")
			assert.Equal(t, 200, ans.Status)
			reqs := srv.requests()
			require.Len(t, reqs, 2)
			gap := reqs[1].at.Sub(reqs[0].at)
			assert.GreaterOrEqual(t, gap, tt.minGap)
			assert.Less(t, gap, tt.maxGap)
		})
	}
}

// TestRedirectsAreNotFollowed: the credentials never go where a redirect
// points; the 3xx is the answer.
func TestRedirectsAreNotFollowed(t *testing.T) {
	t.Parallel()
	for _, status := range []int{301, 302, 303, 307, 308} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			t.Parallel()
			elsewhere := newServer(t, reply{status: 201, body: `{"id":"stolen"}`})
			srv := newServer(t, reply{status: status, header: map[string]string{"Location": elsewhere.URL + "/hooks"}})
			s, _ := session(t, fast(), srv.URL)
			ans, err := s.Call(t.Context(), http.MethodPost, "/hooks", map[string]string{"secret": apiEnv})
			require.NoError(t, err)
			assert.Equal(t, status, ans.Status)
			assert.Len(t, srv.requests(), 1)
			assert.Empty(t, elsewhere.requests(), "neither the key nor the body follows a redirect")
			assert.Equal(t, status, s.Refusal(ans).StatusCode)
		})
	}
}

func TestRequests(t *testing.T) {
	t.Parallel()
	type hook struct {
		URL    string   `json:"url"`
		Events []string `json:"events"`
	}
	tests := []struct {
		name, base, method, path string
		payload                  any
		wantPath, wantBody       string
	}{
		{name: "POST with a JSON body, retried", base: "/v1", method: http.MethodPost, path: "/hooks",
			payload: hook{URL: hookURL, Events: []string{"a.created"}}, wantPath: "/v1/hooks",
			wantBody: `{"url":"` + hookURL + `","events":["a.created"]}`},
		{name: "GET without a body, base with a trailing slash", base: "/v1/", method: http.MethodGet, path: "/hooks",
			wantPath: "/v1/hooks"},
		{name: "DELETE of an escaped id, not escaped again", base: "", method: http.MethodDelete, path: "/hooks/a%2Fb",
			wantPath: "/hooks/a%2Fb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, reply{status: 500}, reply{status: 200})
			s, _ := session(t, fast(), srv.URL+tt.base)
			ans, err := s.Call(t.Context(), tt.method, tt.path, tt.payload)
			require.NoError(t, err)
			assert.Equal(t, 200, ans.Status)
			assert.Equal(t, tt.method, ans.Method)
			assert.Equal(t, tt.path, ans.Path)
			reqs := srv.requests()
			require.Len(t, reqs, 2)
			for _, r := range reqs {
				assert.Equal(t, tt.method, r.method)
				assert.Equal(t, tt.wantPath, r.path)
				assert.Equal(t, apiKey, r.header.Get("X-Api-Key"))
				assert.Equal(t, "application/json", r.header.Get("Accept"))
				assert.Equal(t, "Acme-Test/1", r.header.Get("User-Agent"))
				if tt.payload == nil {
					assert.Empty(t, r.header.Get("Content-Type"))
					assert.Empty(t, r.body)
				} else {
					assert.Equal(t, "application/json", r.header.Get("Content-Type"))
					assert.JSONEq(t, tt.wantBody, string(r.body), "every try sends the whole body")
				}
			}
		})
	}
}

func TestAnswerIsBounded(t *testing.T) {
	t.Parallel()
	srv := newServer(t, reply{status: 200, body: strings.Repeat("x", 3<<20)})
	cfg := fast()
	// 3 MiB do not always arrive within fast's 200 ms under -race.
	cfg.TryTimeout = 10 * time.Second
	s, _ := session(t, cfg, srv.URL)
	ans, err := s.Call(t.Context(), http.MethodGet, "/hooks", nil)
	require.NoError(t, err)
	assert.Len(t, ans.Body, 1<<20)
}

// TestCallThatCannotBeMade: the connector's fault is not the provider's,
// and nothing is sent.
func TestCallThatCannotBeMade(t *testing.T) {
	t.Parallel()
	srv := newServer(t, reply{status: 200})
	tests := []struct {
		name, base string
		payload    any
		want       string
	}{
		{"payload that does not encode", srv.URL, map[string]any{"c": make(chan int)}, "encoding the body of POST /hooks for Acme: "},
		{"base that is not a URL", "http://[::1" + apiEnv, nil, "building POST /hooks for Acme: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := session(t, fast(), tt.base)
			ans, err := s.Call(t.Context(), http.MethodPost, "/hooks", tt.payload)
			assert.Nil(t, ans)
			require.Error(t, err)
			_, isProvider := errors.AsType[*plugins.ProviderError](err)
			assert.False(t, isProvider, "not the provider's fault: %v", err)
			assert.True(t, strings.HasPrefix(err.Error(), tt.want), err.Error())
			assert.NotContains(t, err.Error(), apiEnv)
		})
	}
	assert.Empty(t, srv.requests())
}

// TestProviderMessage reads the providers' error shapes, through a real
// answer (Refusal) and directly.
func TestProviderMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		// Laravel (vPlan).
		{"laravel message", 401, `{"message":"Unauthenticated."}`, "Unauthenticated."},
		{"laravel validation", 422, `{"message":"The url field is required.","errors":{"url":["The url field is required."]}}`, "The url field is required."},
		{"errors only", 422, `{"errors":{"url":["The url field is required."],"active":["The active field must be true or false."]}}`,
			"The active field must be true or false.; The url field is required."},
		{"error string", 400, `{"error":"bad_request"}`, "bad_request"},
		{"error object", 400, `{"error":{"code":"E1","message":"Environment not found"}}`, "Environment not found"},
		{"errors list", 400, `{"errors":[{"message":"a"},{"message":"b"}]}`, "a; b"},
		// Deskera.
		{"deskera errorMessage", 401, `{"statusCode":401,"errorCode":"UNAUTHORIZED","errorMessage":"Invalid or expired access token"}`,
			"Invalid or expired access token"},
		{"errorMessage before message", 400, `{"message":"Bad Request","errorMessage":"eventType is not supported"}`, "eventType is not supported"},
		// Other common shapes.
		{"oauth", 400, `{"error":"invalid_grant","error_description":"Refresh token expired"}`, "Refresh token expired"},
		{"msg", 429, `{"code":7,"msg":"quota exceeded"}`, "quota exceeded"},
		{"problem details", 409, `{"type":"about:blank","title":"Conflict","detail":"Webhook exists"}`, "Webhook exists"},
		{"title only", 409, `{"type":"about:blank","title":"Conflict"}`, "Conflict"},
		{"nested errorMessage", 400, `{"errors":[{"code":"E2","errorMessage":"Webhook URL unreachable"}]}`, "Webhook URL unreachable"},
		{"nested detail", 400, `{"error":{"code":"E3","detail":"Event type unknown"}}`, "Event type unknown"},
		{"errors of strings", 400, `{"errors":["a","b"]}`, "a; b"},
		{"array body", 400, `[{"message":"x"},{"msg":"y"}]`, "x; y"},
		{"string body", 403, `"Not allowed"`, "Not allowed"},
		{"blank message falls through", 400, `{"message":"  ","error":"next"}`, "next"},
		{"whitespace collapsed", 400, `{"message":"  two\n\tlines  "}`, "two lines"},
		{"too deeply nested", 400, `{"error":[[[[[[[[[["deep"]]]]]]]]]]}`, "Bad Request"},
		// Text and what is not a message.
		{"plain text is never quoted", 503, "Service Unavailable\n  try later", "Service Unavailable"},
		{"an internal server's text is never quoted", 500, "root:x:0:0:root:/root:/bin/bash", "Internal Server Error"},
		{"html page", 502, "<html><body>Bad Gateway</body></html>", "Bad Gateway"},
		{"invalid JSON", 400, `{"message":`, "Bad Request"},
		{"JSON number", 500, `42`, "Internal Server Error"},
		{"JSON null", 500, `null`, "Internal Server Error"},
		{"binary", 500, "\x00\x01\x02PK", "Internal Server Error"},
		{"invalid UTF-8", 500, "\xff\xfe oops", "Internal Server Error"},
		{"empty", 500, "", "Internal Server Error"},
		{"unknown JSON", 500, `{"foo":1}`, "Internal Server Error"},
		{"odd status", 599, "", "no message"},
		// Length.
		{"long", 400, `{"message":"` + strings.Repeat("x", 600) + `"}`, strings.Repeat("x", 197) + "…"},
		{"long, cut on a rune boundary", 400, `{"message":"` + strings.Repeat("é", 300) + `"}`, strings.Repeat("é", 98) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, provider.ProviderMessage(tt.status, []byte(tt.body)))

			srv := newServer(t, reply{status: tt.status, body: tt.body})
			cfg := fast()
			cfg.Retries = -1
			s, _ := session(t, cfg, srv.URL)
			ans, err := s.Call(t.Context(), http.MethodPost, "/hooks", nil)
			require.NoError(t, err)
			perr := s.Refusal(ans)
			assert.Equal(t, tt.status, perr.StatusCode)
			assert.Equal(t, tt.want, perr.Message)
			assert.LessOrEqual(t, len(perr.Message), 200)
		})
	}
}

// TestScrubbing: no secret survives in a message, whether the provider
// echoes it, a cut would halve it, or it is part of the base URL.
func TestScrubbing(t *testing.T) {
	t.Parallel()
	long := "sk_" + strings.Repeat("Z", 17) // 20 bytes
	tests := []struct {
		name    string
		secrets []string
		text    string
		want    string
	}{
		{"header value and secrets", nil, "key " + apiKey + " env " + apiEnv + " url " + hookURL,
			"key [redacted] env [redacted] url [redacted]"},
		{"longest first", []string{"abcd", "abcdefgh"}, "x abcdefgh y abcd", "x [redacted] y [redacted]"},
		{"shorter than 4 bytes is kept", []string{"abc"}, "abc abcd", "abc abcd"},
		{"an empty secret changes nothing", []string{""}, "text", "text"},
		{"every occurrence", []string{"tok_1234"}, "tok_1234/tok_1234", "[redacted]/[redacted]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := provider.New(fast(), nil).Session("http://127.0.0.1:1", http.Header{"x-api-key": {apiKey}},
				append([]string{apiEnv, hookURL}, tt.secrets...), slog.New(slog.DiscardHandler))
			assert.Equal(t, tt.want, s.Scrub(tt.text))
		})
	}

	answers := []struct {
		name string
		body string
		want string
	}{
		{"echoed in the provider's message", `{"message":"key ` + apiKey + ` has no access to ` + apiEnv + ` for ` + hookURL + `"}`,
			"key [redacted] has no access to [redacted] for [redacted]"},
		{"straddling the cut", `{"message":"` + strings.Repeat("x", 190) + long + `"}`, strings.Repeat("x", 190) + "[redacted]"},
		{"echoed in plain text", "bad key " + apiKey, "Forbidden"},
	}
	for _, tt := range answers {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, reply{status: 403, body: tt.body})
			log, logs := newLogger()
			s := provider.New(fast(), nil).Session(srv.URL, http.Header{"x-api-key": {apiKey}}, []string{apiEnv, hookURL, long}, log)
			ans, err := s.Call(t.Context(), http.MethodPost, "/hooks", map[string]string{"url": hookURL})
			require.NoError(t, err)
			msg := s.Refusal(ans).Message
			assert.Equal(t, tt.want, msg)
			for _, secret := range []string{apiKey, apiEnv, hookURL, long[:7]} {
				assert.NotContains(t, msg, secret)
				assert.NotContains(t, logs.String(), secret)
			}
		})
	}

	t.Run("in the base URL of a transport error", func(t *testing.T) {
		t.Parallel()
		gone := httptest.NewServer(http.NotFoundHandler())
		gone.Close()
		s, _ := session(t, fast(), gone.URL+"/t/"+apiEnv)
		_, err := s.Call(t.Context(), http.MethodGet, "/hooks", nil)
		pe, ok := errors.AsType[*plugins.ProviderError](err)
		require.True(t, ok, "%v", err)
		assert.Contains(t, pe.Message, "could not reach Acme at "+gone.URL+"/t/[redacted] for GET /hooks")
		assert.NotContains(t, pe.Message, apiEnv)
	})
}

func TestTruncate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abcde", 5, "abcde"},
		{"abcdef", 5, "ab…"},
		{"ééé", 5, "é…"},
		{"aééé", 6, "aé…"},
		{"aééé", 5, "a…"}, // not half an é
	}
	for _, tt := range tests {
		got := provider.Truncate(tt.s, tt.n)
		assert.Equal(t, tt.want, got, "Truncate(%q, %d)", tt.s, tt.n)
		assert.LessOrEqual(t, len(got), tt.n)
		assert.True(t, utf8.ValidString(got), "%q", got)
	}
}
