package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/switchboardhq/switchboard/hub/bench"
)

func newBenchCmd() *cobra.Command {
	var (
		cfg          bench.Config
		mode         string
		jsonOut      bool
		timelineFile string
		databaseURL  string
		hubFlags     []string
		pollCfg      bench.PollConfig
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load-test a hub end to end: events in, verified deliveries out",
		Long: `Measure a hub the way a user sees it. By default bench starts its own hub
(this binary's serve, on a temporary data directory and a free 127.0.0.1
port) and measures that process's CPU time and peak RSS together with its
connector plugins. With --target it loads a running hub instead (which must
allow deliveries to the receiver, e.g. serve --allow-private-destinations);
CPU and RSS are then unknown.

It creates --fanout subscriptions (events ["*"]) pointing at a local receiver
that verifies every delivery's Standard Webhooks signature, sends --events
events with --concurrency senders (paced to --rate events/s when set) and
waits until every accepted event reached every subscription, or --timeout.
--mode inbound (default) plays dVersum: signed webhooks to a connection's
inbound URL, through the connector plugin and the mapping. --mode publish
posts unified events to POST /webhook/events. --mode poll measures virtual
webhooks: --connections vPlan connections against a fake vPlan that forgets
every webhook, --events changes made there, found only by the hub's scheduled
polls; it reports events found per second and the lag from a change to its
delivery.

Latency is from the 202 reaching bench to the delivery reaching the receiver.
Subscriptions and the connection are removed at the end.

Exit status 1 when any delivery was lost, any signature failed, the hub
rejected any event or the run was interrupted, so bench can gate CI.`,
		Example: `  switchboard bench --mode publish --events 20000 --concurrency 32
  switchboard bench --fanout 10 --events 5000 --json
  switchboard bench --mode publish --rate 100 --events 3000 --timeline latency.jsonl
  switchboard bench --target http://127.0.0.1:8080 --api-key $SB_KEY --events 1000`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			onCommandLine := c.Flags().Changed
			if cfg.Target.URL != "" && (onCommandLine("database-url") || onCommandLine("hub-flag")) {
				return fmt.Errorf("--database-url and --hub-flag configure the hub bench starts; with --target the hub is already running")
			}
			if err := bindEnv(c, map[string]string{
				"api-key": "SWITCHBOARD_API_KEY", "database-url": "SWITCHBOARD_DATABASE_URL",
			}); err != nil {
				return err
			}
			if cfg.IngestOnly && onCommandLine("fanout") {
				return fmt.Errorf("--ingest-only creates no subscription; leave out --fanout")
			}
			cfg.Mode = bench.Mode(mode)
			if cfg.Mode != bench.ModeInbound && cfg.Mode != bench.ModePublish && cfg.Mode != bench.ModePoll {
				return fmt.Errorf("--mode %q: want inbound, publish or poll", mode)
			}
			stderr := c.ErrOrStderr()
			say := func(format string, args ...any) {
				if !jsonOut {
					fmt.Fprintf(stderr, format+"\n", args...)
				}
			}
			if cfg.Logger == nil {
				cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			}

			var hub *bench.Hub
			if cfg.Target.URL == "" {
				say("starting a hub (switchboard serve on a temporary data directory)…")
				h, err := bench.StartHub(c.Context(), bench.HubOptions{DatabaseURL: databaseURL, Args: hubFlags})
				if err != nil {
					return err
				}
				defer func() {
					if err := h.Stop(); err != nil {
						fmt.Fprintln(stderr, "stopping the hub:", err)
					}
				}()
				hub = h
				cfg.Target, cfg.Monitor = h.Target(), h
				say("hub ready at %s", h.URL)
			} else if cfg.Target.APIKey == "" {
				return fmt.Errorf("--target needs --api-key (or SWITCHBOARD_API_KEY)")
			}

			if cfg.Mode == bench.ModePoll {
				if pollCfg.Connections < 1 || pollCfg.Interval < 1 {
					return fmt.Errorf("--connections and --poll-interval must be at least 1")
				}
				pollCfg.Target, pollCfg.Changes, pollCfg.Timeout, pollCfg.Logger = cfg.Target, cfg.Events, cfg.Timeout, cfg.Logger
				say("polling %d vPlan connections for %d changes each…", pollCfg.Connections, pollCfg.Changes)
				res, err := bench.RunPoll(c.Context(), pollCfg)
				if err != nil {
					return err
				}
				if jsonOut {
					err = res.WriteJSON(c.OutOrStdout())
				} else {
					err = res.WriteTable(c.OutOrStdout())
				}
				if err != nil {
					return err
				}
				if !res.OK() {
					return exitError{code: 1}
				}
				return nil
			}

			var bar *progressbar.ProgressBar
			if f, ok := stderr.(*os.File); ok && !jsonOut && term.IsTerminal(int(f.Fd())) {
				bar = progressbar.NewOptions64(int64(cfg.Events*max(cfg.Fanout, 1)),
					progressbar.OptionSetWriter(stderr),
					progressbar.OptionSetDescription("deliveries"),
					progressbar.OptionShowCount(),
					progressbar.OptionSetWidth(30),
					progressbar.OptionThrottle(100*time.Millisecond),
					progressbar.OptionClearOnFinish(),
				)
				cfg.OnProgress = func(p bench.Progress) {
					if p.Expected != bar.GetMax64() && p.Expected > 0 {
						bar.ChangeMax64(p.Expected)
					}
					if p.Sending {
						bar.Describe(fmt.Sprintf("sent %d/%d, deliveries", p.Sent, p.Events))
					} else {
						bar.Describe("waiting for deliveries")
					}
					_ = bar.Set64(p.Delivered)
				}
			}

			res, err := bench.Run(c.Context(), cfg)
			if bar != nil {
				_ = bar.Clear()
			}
			if err != nil {
				return err
			}

			if timelineFile != "" {
				f, err := os.Create(timelineFile)
				if err != nil {
					return fmt.Errorf("--timeline: %w", err)
				}
				err = res.WriteTimeline(f)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					return fmt.Errorf("--timeline %s: %w", timelineFile, err)
				}
			}
			out := c.OutOrStdout()
			if jsonOut {
				err = res.WriteJSON(out)
			} else {
				err = res.WriteTable(out)
			}
			if err != nil {
				return err
			}
			if !res.OK() {
				if hub != nil && !res.Interrupted {
					fmt.Fprintf(stderr, "the run failed; the hub's last log lines:\n%s\n", lastLines(hub.Output(), 30))
				}
				return exitError{code: 1}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&mode, "mode", string(bench.ModeInbound), "inbound (signed dVersum webhooks through the connector), publish (POST /webhook/events) or poll (virtual webhooks: --connections vPlan connections polled for --events changes at a fake vPlan that forgets every webhook)")
	f.IntVar(&pollCfg.Connections, "connections", 10, "--mode poll: vPlan connections polled at once")
	f.IntVar(&pollCfg.Interval, "poll-interval", 10, "--mode poll: the connections' poll_interval in seconds (vPlan's minimum is 10)")
	f.IntVar(&cfg.Events, "events", 10000, "events to send")
	f.IntVar(&cfg.Fanout, "fanout", 1, "subscriptions, each receiving every event")
	f.BoolVar(&cfg.IngestOnly, "ingest-only", false, "create no subscription: measure accepting alone (accepted/s), with no delivery competing")
	f.IntVar(&cfg.Concurrency, "concurrency", 32, "parallel senders")
	f.Float64Var(&cfg.Rate, "rate", 0, "events per second in total (0: as fast as possible)")
	f.DurationVar(&cfg.Timeout, "timeout", 5*time.Minute, "how long to wait for deliveries after the last send")
	f.BoolVar(&jsonOut, "json", false, "print one JSON object (the last line of stdout) instead of the table; no progress bar")
	f.StringVar(&timelineFile, "timeline", "", "write per-second samples (accepted/s, delivered/s, p99, CPU, RSS) as JSON lines to this file")
	f.StringVar(&cfg.Target.URL, "target", "", "base URL of a running hub to load instead of starting one")
	f.StringVar(&cfg.Target.APIKey, "api-key", "", "API key for --target (webhooks:write, events:write, connections:write)")
	f.StringVar(&databaseURL, "database-url", "", "postgres:// URL passed to the hub bench starts")
	f.StringArrayVar(&hubFlags, "hub-flag", nil, "extra flag for the hub bench starts, e.g. --hub-flag=--workers=400 (repeatable)")
	f.StringVar(&cfg.ReceiverAddr, "receiver-addr", "127.0.0.1:0", "address the receiver listens on")
	f.StringVar(&cfg.ReceiverURL, "receiver-url", "", "receiver base URL as the hub dials it (default http://<receiver-addr>)")
	return cmd
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}
