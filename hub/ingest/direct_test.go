package ingest_test

import (
	"context"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/api/apitest"
	"github.com/switchboardhq/switchboard/hub/secret"
	"github.com/switchboardhq/switchboard/hub/store"
	"github.com/switchboardhq/switchboard/plugins"
	"github.com/switchboardhq/switchboard/plugins/plugintest"
)

// challenger is a connector whose provider verifies the endpoint with a
// challenge (GET, or POST as some providers do), and which tries to set
// every header it should not.
type challenger struct{}

func (challenger) Describe(context.Context) (*plugins.Description, error) {
	return &plugins.Description{ID: "challenger", Name: "Challenger", Version: "1"}, nil
}

func (challenger) HandleInbound(_ context.Context, req *plugins.InboundRequest) (*plugins.InboundResult, error) {
	return &plugins.InboundResult{Response: &plugins.DirectResponse{
		Status: http.StatusOK,
		Headers: http.Header{
			"Content-Type":                {"text/plain; charset=utf-8"},
			"Cache-Control":               {"no-store"},
			"x-hook-secret":               {"hs_123"},
			"Set-Cookie":                  {"session=stolen; Path=/"},
			"Location":                    {"https://evil.example/"},
			"Access-Control-Allow-Origin": {"*"},
			"Content-Security-Policy":     {"script-src *"},
			"Strict-Transport-Security":   {"max-age=0"},
		},
		Body: []byte(req.Query.Get("challenge")),
	}}, nil
}

func (challenger) Subscribe(context.Context, *plugins.SubscribeRequest) (*plugins.SubscribeResult, error) {
	return &plugins.SubscribeResult{}, nil
}

func (challenger) Unsubscribe(context.Context, *plugins.UnsubscribeRequest) error { return nil }

func TestInboundGETChallengeGetsOnlyAllowedHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.conns.others = map[string]plugins.Client{"challenger": plugintest.Connect(t, challenger{})}
	token, err := secret.Token(32)
	require.NoError(t, err)
	sum := sha256.Sum256([]byte(token))
	conn := &store.Connection{ConsumerID: "acme", ServiceID: "challenger", Status: store.ConnectionActive,
		Token: token, TokenHash: sum[:]}
	require.NoError(t, e.st.CreateConnection(t.Context(), store.AllConsumers(), conn))

	path := "/webhook/inbound/challenger/" + token
	for _, method := range []string{http.MethodPost, http.MethodGet} {
		req := httptest.NewRequest(method, path+"?challenge=c-42", nil)
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, req)

		require.Equal(t, http.StatusOK, rec.Code, "%s: %s", method, rec.Body)
		assert.Equal(t, "c-42", rec.Body.String())
		h := rec.Header()
		assert.Equal(t, "text/plain; charset=utf-8", h.Get("Content-Type"))
		assert.Equal(t, "no-store", h.Get("Cache-Control"))
		assert.Equal(t, "hs_123", h.Get("X-Hook-Secret"))
		for _, name := range []string{"Set-Cookie", "Location", "Access-Control-Allow-Origin", "Strict-Transport-Security"} {
			assert.Empty(t, h.Values(name), "%s: %s must not pass", method, name)
		}
		assert.Equal(t, "default-src 'none'; sandbox", h.Get("Content-Security-Policy"), "the hub's, not the connector's")
		assert.Equal(t, "nosniff", h.Get("X-Content-Type-Options"))
		apitest.Conforms(t, method, path, rec.Code, rec.Header(), rec.Body.Bytes())
	}
}
