package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestServeRefusesBadLimitsBeforeAnySideEffect: the hardening flags are
// checked, naming the flag, before the data directory (or a key) is made.
func TestServeRefusesBadLimitsBeforeAnySideEffect(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{args: []string{"--max-subscriptions", "0"}, want: "--max-subscriptions must be at least 1, got 0"},
		{args: []string{"--max-events-per-subscription", "-1"}, want: "--max-events-per-subscription must be at least 1"},
		{args: []string{"--retention", "0s"}, want: "--retention must be positive"},
		{args: []string{"--retention", "30m"}, want: "retention must be at least 1h0m0s, got 30m0s"},
		{args: []string{"--min-retry-delay", "-1s"}, want: "--min-retry-delay must not be negative"},
		{args: []string{"--retry-schedule", "500ms"}, want: "retry-schedule entry 0 (500ms) is below min-retry-delay 1s"},
		{args: []string{"--console-frame-ancestors", "https://app.example.com/embed"}, want: `console-frame-ancestors "https://app.example.com/embed": must be an origin, without path, query or user; use https://app.example.com`},
		{env: map[string]string{"SWITCHBOARD_CONSOLE_FRAME_ANCESTORS": "https://app.example.com,*"}, want: "would let any site frame the console"},
		{env: map[string]string{"SWITCHBOARD_MAX_SUBSCRIPTIONS_PER_CONSUMER": "20000"},
			want: "max-subscriptions-per-consumer (20000) must not exceed max-subscriptions (10000)"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			dir := filepath.Join(t.TempDir(), "data")
			cmd := newServeCmd()
			cmd.SetArgs(append([]string{"--data-dir", dir, "--addr", "127.0.0.1:0"}, tc.args...))
			cmd.SetOut(io.Discard)
			cmd.SetErr(io.Discard)
			err := cmd.ExecuteContext(context.Background())
			require.ErrorContains(t, err, tc.want)
			_, statErr := os.Stat(dir)
			require.ErrorIs(t, statErr, os.ErrNotExist, "nothing is created before the flags are checked")
		})
	}
}
