package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/store"
	"github.com/switchboardhq/switchboard/plugins/netguard"
)

func TestRestampGivesSamplesAFreshIdentity(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, in     string
		changed      []string // keys that must differ from the input
		unchanged    []string
		wantStampKey string
	}{
		{"dversum", `{"event":"invoice.paid","timestamp":"2024-01-15T10:30:00Z","data":{"id":"inv_1"}}`,
			[]string{"timestamp"}, []string{"event", "data"}, "timestamp"},
		{"vplan", `{"message_id":"m-1","event":"card.created","created_at":"2024-03-04T10:15:01+01:00","data":{}}`,
			[]string{"message_id", "created_at"}, []string{"event", "data"}, "created_at"},
		{"deskera", `{"eventType":"CREATE_INVOICE","eventId":"e-1","timestamp":"2024-01-15T10:30:00Z","data":{}}`,
			[]string{"eventId", "timestamp"}, []string{"eventType", "data"}, "timestamp"},
		{"no time field", `{"event":"x"}`, nil, []string{"event"}, "timestamp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := restamp([]byte(tc.in), now)
			require.NoError(t, err)
			var before, after map[string]any
			require.NoError(t, json.Unmarshal([]byte(tc.in), &before))
			require.NoError(t, json.Unmarshal(out, &after))
			for _, k := range tc.changed {
				require.NotEqual(t, before[k], after[k], k)
			}
			for _, k := range tc.unchanged {
				require.Equal(t, before[k], after[k], k)
			}
			require.Equal(t, "2026-11-23T12:00:00Z", after[tc.wantStampKey])
		})
	}
	_, err := restamp([]byte(`[1]`), now)
	require.ErrorContains(t, err, "not a JSON object")
}

func TestSendTestEventKeepsTheTokenOutOfErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	st := newStore(t, dir)
	token := "tok_" + strings.Repeat("s", 40)
	sum := sha256.Sum256([]byte(token))
	conn := &store.Connection{ConsumerID: "acme", ServiceID: "dversum", Status: store.ConnectionActive,
		Credentials: map[string]string{"signing_secret": "whsec"}, Token: token, TokenHash: sum[:]}
	require.NoError(t, st.CreateConnection(ctx, store.AllConsumers(), conn))
	require.NoError(t, st.Close())

	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	// Nothing listens there: the POST fails before any answer.
	cmd.SetArgs([]string{"send-test-event", "--connection", conn.ID, "--data-dir", dir, "--hub-url", "http://" + freeAddr(t)})
	err := cmd.ExecuteContext(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is it running?")
	assert.NotContains(t, err.Error()+out.String(), token, "the inbound token is a credential")
}

func TestSendClientCapsResponseHeaders(t *testing.T) {
	t.Parallel()
	tr, ok := sendClient.Transport.(*http.Transport)
	require.True(t, ok)
	require.Equal(t, int64(netguard.MaxResponseHeaderBytes), tr.MaxResponseHeaderBytes)
}
