package hub

import (
	"bytes"
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testAPIKey plays SWITCHBOARD_API_KEY; it must be MinAPIKeyLength long.
const testAPIKey = "hub-test-key-0123456789abcdef0123456789"

var keyPattern = regexp.MustCompile(`sb_[A-Za-z0-9_-]+`)

func TestFirstStartPrintsAdminKeyOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()

	var out bytes.Buffer
	h, err := Open(ctx, Config{DataDir: dir}, nil, &out)
	require.NoError(t, err)
	key := keyPattern.FindString(out.String())
	require.NotEmpty(t, key, "first start must print an admin key, got %q", out.String())
	keys, err := h.store.ListAPIKeys(ctx)
	require.NoError(t, err)
	require.Len(t, keys, 1)
	require.Equal(t, []string{"admin"}, keys[0].Scopes)
	require.NotContains(t, string(keys[0].Hash), key, "the key itself must not be stored")
	h.closeStore()

	out.Reset()
	h, err = Open(ctx, Config{DataDir: dir}, nil, &out)
	require.NoError(t, err)
	require.Empty(t, keyPattern.FindString(out.String()), "a second start must not create another key")
	h.closeStore()
}

func TestBootstrapKeySkipsFirstStartKey(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	h, err := Open(context.Background(), Config{DataDir: t.TempDir(), APIKey: testAPIKey}, nil, &out)
	require.NoError(t, err)
	defer h.closeStore()
	require.Empty(t, out.String())
	n, err := h.store.CountActiveAPIKeys(context.Background())
	require.NoError(t, err)
	require.Zero(t, n)
}

func TestDataDirServedByOneProcess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h, err := Open(context.Background(), Config{DataDir: dir, APIKey: testAPIKey}, nil, nil)
	require.NoError(t, err)
	defer h.closeStore()
	_, err = Open(context.Background(), Config{DataDir: dir, APIKey: testAPIKey}, nil, nil)
	require.ErrorContains(t, err, "in use by another switchboard serve")
}

func TestConfigRejectsBadValues(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]Config{
		"mysql url":                        {DatabaseURL: "mysql://u:secretpw@h/db"},
		"synchronous":                      {SQLiteSynchronous: "OFF"},
		"retention shorter than an hour":   {Retention: time.Minute},
		"retry floor above an hour":        {MinRetryDelay: 2 * time.Hour},
		"schedule below the retry floor":   {RetrySchedule: []time.Duration{100 * time.Millisecond}},
		"no subscriptions allowed":         {MaxSubscriptions: -1},
		"per-consumer cap above the hub's": {MaxSubscriptionsPerConsumer: 200, MaxSubscriptions: 100},
		"no event names per subscription":  {MaxEventsPerSubscription: -5},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Open(context.Background(), cfg, nil, nil)
			require.Error(t, err)
			require.NotContains(t, err.Error(), "secretpw", "errors must not leak credentials")
		})
	}
}
