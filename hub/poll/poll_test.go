package poll_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/poll"
	"github.com/switchboardhq/switchboard/plugins"
)

func TestParseSettings(t *testing.T) {
	t.Parallel()
	poller := &plugins.Description{ID: "vplan", Poll: true, PollIntervalMin: 10 * time.Second, PollIntervalDefault: time.Minute}
	pusher := &plugins.Description{ID: "dversum", Webhook: plugins.WebhookSupport{Mode: plugins.ModeNative}}
	tests := []struct {
		name     string
		d        *plugins.Description
		settings string
		want     poll.Settings
		wantErr  string
	}{
		{"defaults", poller, `{"base_url":"x"}`, poll.Settings{Interval: time.Minute, Enabled: true}, ""},
		{"interval and off", poller, `{"poll_interval":30,"polling":false}`, poll.Settings{Interval: 30 * time.Second}, ""},
		{"the minimum itself", poller, `{"poll_interval":10}`, poll.Settings{Interval: 10 * time.Second, Enabled: true}, ""},
		{"below the minimum", poller, `{"poll_interval":5}`, poll.Settings{}, "5 seconds is below the vplan connector's minimum of 10 seconds; use 10 or more"},
		{"not whole", poller, `{"poll_interval":10.5}`, poll.Settings{}, "whole number of seconds"},
		{"a string", poller, `{"poll_interval":"10"}`, poll.Settings{}, "whole number of seconds"},
		{"too long", poller, `{"poll_interval":604801}`, poll.Settings{}, "at most 604800"},
		{"polling not a bool", poller, `{"polling":"yes"}`, poll.Settings{}, "true or false"},
		{"a pusher cannot poll", pusher, `{"polling":true}`, poll.Settings{}, "cannot poll"},
		{"a pusher has no interval", pusher, `{"poll_interval":60}`, poll.Settings{}, "does not poll"},
		{"a pusher may say off", pusher, `{"polling":false}`, poll.Settings{Interval: plugins.DefaultPollInterval}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := poll.ParseSettings(json.RawMessage(tt.settings), tt.d)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestStripKeepsTheConnectorsSettings(t *testing.T) {
	t.Parallel()
	assert.JSONEq(t, `{"base_url":"x"}`, string(poll.Strip(json.RawMessage(`{"base_url":"x","poll_interval":30,"polling":true}`))))
	assert.Equal(t, `{"base_url":"x"}`, string(poll.Strip(json.RawMessage(`{"base_url":"x"}`))), "untouched without poll settings")
}

func TestBackoffDoublesUpToTheCap(t *testing.T) {
	t.Parallel()
	iv := 100 * time.Second
	var prev time.Duration
	for n := 1; n <= 20; n++ {
		d := poll.Backoff(n, iv, time.Hour)
		assert.GreaterOrEqual(t, d, prev, "backoff %d", n)
		assert.LessOrEqual(t, d, time.Hour)
		prev = d
	}
	assert.Equal(t, 10*time.Second, poll.Backoff(1, iv, time.Hour))
	assert.Equal(t, 20*time.Second, poll.Backoff(2, iv, time.Hour))
	assert.Equal(t, time.Hour, poll.Backoff(20, iv, time.Hour))
	assert.Equal(t, time.Second, poll.Backoff(1, time.Second, time.Hour), "at least a second")
}
