package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
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
		{args: []string{"--addr", "9000"}, want: `addr "9000" must be host:port such as 127.0.0.1:8080 (did you mean 127.0.0.1:9000`},
		{args: []string{"--workers", "0"}, want: "--workers must be at least 1, got 0"},
		{args: []string{"--workers", "100000"}, want: "workers must be between 1 and 10000"},
		{args: []string{"--max-body-bytes", "0"}, want: "--max-body-bytes must be at least 1, got 0"},
		{args: []string{"--public-url", "example.com"}, want: `public-url "example.com" must be an absolute http:// or https:// URL`},
		{args: []string{"--plugins-dir", "/nonexistent/plugins"}, want: "plugins-dir /nonexistent/plugins does not exist"},
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
			var out strings.Builder
			cmd.SetOut(&out)
			cmd.SetErr(io.Discard)
			err := cmd.ExecuteContext(context.Background())
			require.ErrorContains(t, err, tc.want)
			require.NotContains(t, out.String(), "sb_", "no admin key is printed before the flags are checked")
			_, statErr := os.Stat(dir)
			require.ErrorIs(t, statErr, os.ErrNotExist, "nothing is created before the flags are checked")
		})
	}
}

// TestServeHelpShowsEachDefaultOnce: --retry-schedule used to show its
// default twice, once from the text and once (as []) from the flag.
func TestServeHelpShowsEachDefaultOnce(t *testing.T) {
	t.Parallel()
	cmd := newServeCmd()
	for _, name := range []string{"retry-schedule", "workers", "max-body-bytes"} {
		usage := cmd.Flags().Lookup(name)
		require.NotNil(t, usage)
		line := ""
		for _, l := range strings.Split(cmd.Flags().FlagUsages(), "\n") {
			if strings.Contains(l, "--"+name+" ") {
				line = l
			}
		}
		require.NotEmpty(t, line, name)
		require.Equal(t, 1, strings.Count(line, "(default"), "one default shown: %s", line)
		require.NotContains(t, line, "(default [])", line)
	}
	require.Contains(t, cmd.Flags().FlagUsages(), "(default [5s,5m0s,30m0s,2h0m0s,5h0m0s,10h0m0s,14h0m0s,20h0m0s,24h0m0s])")
}

// TestServeLeavesTheDefaultScheduleUnset: the default shown is not passed
// as a schedule of its own, so --min-retry-delay alone never conflicts
// with it.
func TestServeLeavesTheDefaultScheduleUnset(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	cmd := newServeCmd()
	cmd.SetArgs([]string{"--data-dir", dir, "--addr", "127.0.0.1:0", "--min-retry-delay", "10s",
		"--max-subscriptions", "5", "--max-subscriptions-per-consumer", "10"}) // checked after the schedule
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	err := cmd.ExecuteContext(context.Background())
	require.ErrorContains(t, err, "max-subscriptions-per-consumer (10) must not exceed", "the schedule passed")
}
