package vplan

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Empty settings mean the real vPlan and every event type; no test may
// call the real vPlan, so the defaults are checked here.
func TestParseSettingsDefaults(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{"", "null", "{}", " { } "} {
		s, err := parseSettings(json.RawMessage(raw))
		require.NoError(t, err, raw)
		assert.Equal(t, "https://api.vplan.com/v1", s.baseURL, raw)
		assert.Equal(t, AllEventTypes(), s.eventTypes, raw)
	}
	s, err := parseSettings(json.RawMessage(`{"event_types":["card.created","card.created","comment.deleted"]}`))
	require.NoError(t, err)
	assert.Equal(t, []string{"card.created", "comment.deleted"}, s.eventTypes, "duplicates collapse, order kept")
	// The default list is not shared: trimming one connection's copy
	// cannot change another's.
	assert.Len(t, AllEventTypes(), 36)
}

func TestDecodeWebhook(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"bare":            `{"id":"w1","url":"u","fail_streak":0,"can_send":true}`,
		"wrapped":         `{"data":{"id":"w1","url":"u"}}`,
		"odd field types": `{"id":"w1","fail_streak":"0","created_at":"2024-03-04 10:15:00"}`,
	} {
		h, ok := decodeWebhook([]byte(body))
		require.True(t, ok, name)
		assert.Equal(t, "w1", h.ID, name)
	}
	h, ok := decodeWebhook([]byte(`{"id":42}`))
	require.True(t, ok)
	assert.Equal(t, "42", h.ID)
	for _, body := range []string{`{}`, `{"id":""}`, `{"id":null}`, `[]`, `not json`, `{"data":{"name":"x"}}`} {
		_, ok := decodeWebhook([]byte(body))
		assert.False(t, ok, body)
	}
	assert.Equal(t, []Webhook{{ID: "a", URL: "u1"}, {ID: "b", URL: "u2"}},
		decodeWebhooks([]byte(`{"data":[{"id":"a","url":"u1"},{"id":"b","url":"u2"}]}`)))
	assert.Equal(t, []Webhook{{ID: "a", URL: "u1"}}, decodeWebhooks([]byte(`[{"id":"a","url":"u1"}]`)))
	assert.Empty(t, decodeWebhooks([]byte(`{"message":"x"}`)))
}
