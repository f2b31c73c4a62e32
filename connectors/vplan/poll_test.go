package vplan_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/connectors/vplan/vplanfake"
	"github.com/switchboardhq/switchboard/plugins"
)

// TestPollReconcilesWithTheWebhooksKey: a change whose webhook vPlan
// forgot is found by the next poll, as card.updated with the key its
// webhook would have had; the first poll only sets the cursor.
func TestPollReconcilesWithTheWebhooksKey(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	// A webhook receiver that keeps what vPlan sent.
	var (
		mu  sync.Mutex
		got [][]byte
	)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b json.RawMessage
		_ = json.NewDecoder(r.Body).Decode(&b)
		mu.Lock()
		got = append(got, b)
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(rcv.Close)
	s.fake.AddWebhook(rcv.URL, []string{"card.updated", "card.created"})
	conn := connection(t, map[string]any{"base_url": s.fake.URL})

	first, err := s.conn.Poll(t.Context(), &plugins.PollRequest{Connection: conn})
	require.NoError(t, err)
	assert.Empty(t, first.Events, "the first poll starts from now, it does not replay history")
	require.NotEmpty(t, first.Cursor)
	time.Sleep(5 * time.Millisecond) // the change is after the cursor (a lower bound)

	s.fake.Forget(1)
	sent, obj, err := s.fake.Change(t.Context(), "card.updated", func(d map[string]any) { d["id"] = "card-forgotten" })
	require.NoError(t, err)
	require.Len(t, sent, 1)
	require.ErrorIs(t, sent[0].Err, vplanfake.ErrForgotten)
	time.Sleep(2 * time.Millisecond) // a later updated_at (the fake stamps milliseconds)
	_, _, err = s.fake.Change(t.Context(), "card.created", func(d map[string]any) { d["id"] = "card-pushed" })
	require.NoError(t, err)
	mu.Lock()
	require.Len(t, got, 1, "the second change's webhook was sent")
	pushedBody := got[0]
	mu.Unlock()

	res, err := s.conn.Poll(t.Context(), &plugins.PollRequest{Connection: conn, Cursor: first.Cursor})
	require.NoError(t, err)
	require.Len(t, res.Events, 2)
	updatedAt, err := time.Parse(time.RFC3339Nano, obj["updated_at"].(string))
	require.NoError(t, err)
	assert.Equal(t, "card.updated", res.Events[0].Type)
	assert.Equal(t, plugins.EntityVersionKey("card", "card-forgotten", updatedAt), res.Events[0].IdempotencyKey)
	assert.Equal(t, "card.created", res.Events[1].Type, "created_at == updated_at: a creation")
	for _, ev := range res.Events {
		assert.NotContains(t, ev.Type, "deleted", "reconciliation never invents a deletion")
	}

	// The pushed webhook of card-pushed has the key of its polled copy.
	in, err := s.conn.HandleInbound(t.Context(), &plugins.InboundRequest{Method: "POST", Body: pushedBody, Connection: conn})
	require.NoError(t, err)
	require.Len(t, in.Events, 1)
	assert.Equal(t, res.Events[1].IdempotencyKey, in.Events[0].IdempotencyKey, "pushed and polled copy share one key")

	// The cursor moved past both; polling again finds them at most at the
	// boundary (inclusive filter), with the same keys.
	again, err := s.conn.Poll(t.Context(), &plugins.PollRequest{Connection: conn, Cursor: res.Cursor})
	require.NoError(t, err)
	for _, ev := range again.Events {
		assert.Equal(t, res.Events[1].IdempotencyKey, ev.IdempotencyKey)
	}
}

func TestPollRateLimited(t *testing.T) {
	t.Parallel()
	s := newSetup(t)
	conn := connection(t, map[string]any{"base_url": s.fake.URL})
	first, err := s.conn.Poll(t.Context(), &plugins.PollRequest{Connection: conn})
	require.NoError(t, err)
	s.fake.RateLimit(1, 7*time.Second)
	_, err = s.conn.Poll(t.Context(), &plugins.PollRequest{Connection: conn, Cursor: first.Cursor})
	require.ErrorIs(t, err, plugins.ErrRateLimited)
	var rl *plugins.RateLimitedError
	require.ErrorAs(t, err, &rl)
	assert.Equal(t, 7*time.Second, rl.RetryAfter)
	calls := s.fake.ListCalls()
	require.Len(t, calls, 1, "a 429 is not retried by the connector: the hub waits")
	assert.Equal(t, http.StatusTooManyRequests, calls[0].Status)
}
