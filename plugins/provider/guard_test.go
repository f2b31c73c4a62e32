package provider_test

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/plugins"
	"github.com/switchboardhq/switchboard/plugins/netguard"
	"github.com/switchboardhq/switchboard/plugins/provider"
)

// internal plays a server on the hub's own network that is no provider:
// whatever it answers must not travel back.
func internal(t *testing.T) *server {
	return newServer(t, reply{status: 500, body: "db_password=hunter2 internal admin console"})
}

func guardedSession(t *testing.T, p *netguard.Policy, base string) (*provider.Session, fmt.Stringer) {
	t.Helper()
	cfg := fast()
	cfg.Guard = p
	log, logs := newLogger()
	return provider.New(cfg, nil).Session(base, http.Header{"x-api-key": {apiKey}}, nil, log), logs
}

func TestGuardRefusesLoopbackAtDialTime(t *testing.T) {
	t.Parallel()
	srv := internal(t)
	for _, base := range []string{srv.URL, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)} {
		s, logs := guardedSession(t, &netguard.Policy{}, base)
		ans, err := s.Call(t.Context(), http.MethodPost, "/v1/webhooks/register", map[string]string{"a": "b"})
		require.Nil(t, ans)
		pe, ok := errors.AsType[*plugins.ProviderError](err)
		require.True(t, ok, "%v", err)
		assert.Zero(t, pe.StatusCode)
		assert.Contains(t, pe.Message, "is a loopback address; start with --allow-private-destinations or allow its CIDR")
		assert.NotContains(t, pe.Message, "hunter2")
		assert.NotContains(t, logs.String(), "hunter2")
		assert.False(t, s.Retried(), "a refused destination is not tried again")
	}
	assert.Empty(t, srv.requests(), "nothing reached the internal server")

	// A transport handed in is guarded too.
	cfg := fast()
	cfg.Guard = &netguard.Policy{}
	s := provider.New(cfg, &http.Transport{}).Session(srv.URL, nil, nil, slog.New(slog.DiscardHandler))
	_, err := s.Call(t.Context(), http.MethodGet, "/", nil)
	assert.ErrorContains(t, err, "is a loopback address")
	assert.Empty(t, srv.requests())
}

func TestGuardAllowsWhatThePolicyAllows(t *testing.T) {
	t.Parallel()
	srv := newServer(t, reply{status: 200, body: `{}`})
	for name, p := range map[string]*netguard.Policy{
		"allow all":  {AllowAll: true},
		"allow CIDR": {Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
	} {
		s, _ := guardedSession(t, p, srv.URL)
		ans, err := s.Call(t.Context(), http.MethodGet, "/hooks", nil)
		require.NoError(t, err, name)
		assert.True(t, ans.OK(), name)
	}
	assert.Len(t, srv.requests(), 2)
}

// The host passes its policy in the environment; without it the client is
// strict.
func TestGuardPolicyFromEnvironment(t *testing.T) {
	// Not parallel: it sets the process environment.
	srv := newServer(t, reply{status: 200, body: `{}`})
	call := func() error {
		s, _ := guardedSession(t, nil, srv.URL)
		_, err := s.Call(t.Context(), http.MethodGet, "/hooks", nil)
		return err
	}
	t.Setenv(netguard.EnvAllowPrivate, "")
	t.Setenv(netguard.EnvAllowCIDRs, "")
	assert.ErrorContains(t, call(), "is a loopback address", "no policy given: strict")

	for _, kv := range (netguard.Policy{AllowAll: true}).Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	assert.NoError(t, call())

	t.Setenv(netguard.EnvAllowPrivate, "false")
	t.Setenv(netguard.EnvAllowCIDRs, "127.0.0.1/32")
	assert.NoError(t, call())

	t.Setenv(netguard.EnvAllowPrivate, "yes please")
	assert.ErrorContains(t, call(), "is a loopback address", "a policy that does not parse: strict")
}

func TestResponseHeadersAreCapped(t *testing.T) {
	t.Parallel()
	cfg := fast()
	for name, rt := range map[string]http.RoundTripper{"own transport": nil, "given transport": &http.Transport{}} {
		tr, ok := provider.New(cfg, rt).Transport().(*http.Transport)
		require.True(t, ok, name)
		assert.Equal(t, int64(netguard.MaxResponseHeaderBytes), tr.MaxResponseHeaderBytes, name)
	}

	pad := strings.Repeat("x", 8<<10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		for i := range 128 { // 1 MiB of headers
			w.Header().Set(fmt.Sprintf("X-Pad-%d", i), pad)
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	cfg.Retries = -1
	cfg.TryTimeout = 10 * time.Second // a megabyte of headers, under -race on a busy machine
	s, _ := session(t, cfg, srv.URL)
	_, err := s.Call(t.Context(), http.MethodGet, "/hooks", nil)
	pe, ok := errors.AsType[*plugins.ProviderError](err)
	require.True(t, ok, "%v", err)
	assert.Zero(t, pe.StatusCode)
	assert.Contains(t, pe.Message, "response headers exceeded")
}
