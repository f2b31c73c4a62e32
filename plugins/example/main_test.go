package main

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/plugins"
	"github.com/switchboardhq/switchboard/plugins/plugintest"
)

// These tests show how a connector author tests: through plugintest, which
// puts the real gRPC layer between the test and the connector.

const token = "0123456789abcdef-token"

func request(method, body, sentToken string, query url.Values) *plugins.InboundRequest {
	return &plugins.InboundRequest{
		Method:     method,
		Headers:    http.Header{"X-Example-Token": {sentToken}},
		Query:      query,
		Body:       []byte(body),
		Connection: plugins.Connection{ID: "c1", Credentials: map[string]string{"token": token}},
	}
}

func TestDescribeIsValid(t *testing.T) {
	c := plugintest.Connect(t, Example{})
	d, err := c.Describe(t.Context())
	require.NoError(t, err)
	require.NoError(t, d.Validate())
	assert.Equal(t, "example", d.ID)
}

func TestBatchIsSplit(t *testing.T) {
	c := plugintest.Connect(t, Example{})
	res, err := c.HandleInbound(t.Context(), request(http.MethodPost,
		`{"events":[{"id":"evt_1","type":"invoice.paid","created_at":"2024-01-15T10:30:00Z"},{"id":"evt_2","type":"invoice.paid"}]}`,
		token, nil))
	require.NoError(t, err)
	require.Len(t, res.Events, 2)
	assert.Equal(t, "evt_1", res.Events[0].IdempotencyKey)
	assert.JSONEq(t, `{"id":"evt_1","type":"invoice.paid","created_at":"2024-01-15T10:30:00Z"}`, string(res.Events[0].Payload))
	assert.True(t, res.Events[0].OccurredAt.Equal(time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)))
	assert.True(t, res.Events[1].OccurredAt.IsZero())
}

func TestChallengeIsAnswered(t *testing.T) {
	c := plugintest.Connect(t, Example{})
	res, err := c.HandleInbound(t.Context(), request(http.MethodGet, "", token, url.Values{"challenge": {"abc"}}))
	require.NoError(t, err)
	require.NotNil(t, res.Response)
	assert.Equal(t, http.StatusOK, res.Response.Status)
	assert.Equal(t, "abc", string(res.Response.Body))
	assert.Equal(t, "text/plain", res.Response.Headers.Get("content-type"))
	assert.Empty(t, res.Events)
}

func TestWrongTokenIsBadSignature(t *testing.T) {
	c := plugintest.Connect(t, Example{})
	_, err := c.HandleInbound(t.Context(), request(http.MethodPost, `{"events":[]}`, "guess", nil))
	require.ErrorIs(t, err, plugins.ErrBadSignature)
}

func TestBadBatchIsMalformed(t *testing.T) {
	c := plugintest.Connect(t, Example{})
	_, err := c.HandleInbound(t.Context(), request(http.MethodPost, `{"events":[{"type":"invoice.paid"}]}`, token, nil))
	require.ErrorIs(t, err, plugins.ErrMalformed)
	assert.Contains(t, err.Error(), "events[0] needs a string id")
}
