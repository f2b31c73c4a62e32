package main

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/api"
	"github.com/switchboardhq/switchboard/hub/delivery"
	"github.com/switchboardhq/switchboard/hub/ingest"
	"github.com/switchboardhq/switchboard/hub/poll"
	"github.com/switchboardhq/switchboard/hub/store"
	"github.com/switchboardhq/switchboard/plugins/host"
)

// storeFlagEnv are the flags every command that opens the store shares.
var storeFlagEnv = map[string]string{
	"data-dir":        "SWITCHBOARD_DATA_DIR",
	"database-url":    "SWITCHBOARD_DATABASE_URL",
	"master-key-file": "SWITCHBOARD_MASTER_KEY_FILE",
}

func newServeCmd() *cobra.Command {
	var (
		cfg        hub.Config
		allowCIDRs []string
		pluginSums []string
		schedule   []time.Duration
		logLevel   string
		logFormat  string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the hub: API, inbound webhooks and delivery",
		Long: `Run the hub. With no flags it stores everything in ./data (SQLite) and
listens on 127.0.0.1:8080. Every flag has an environment twin (SWITCHBOARD_<FLAG>);
a flag given on the command line wins.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			twins := map[string]string{
				"addr":                           "SWITCHBOARD_ADDR",
				"debug-addr":                     "SWITCHBOARD_DEBUG_ADDR",
				"mappings-dir":                   "SWITCHBOARD_MAPPINGS_DIR",
				"plugins-dir":                    "SWITCHBOARD_PLUGINS_DIR",
				"plugin-sha256":                  "SWITCHBOARD_PLUGIN_SHA256",
				"public-url":                     "SWITCHBOARD_PUBLIC_URL",
				"app-id":                         "SWITCHBOARD_APP_ID",
				"allow-private-destinations":     "SWITCHBOARD_ALLOW_PRIVATE_DESTINATIONS",
				"allow-cidr":                     "SWITCHBOARD_ALLOW_CIDRS",
				"delivery-timeout":               "SWITCHBOARD_DELIVERY_TIMEOUT",
				"retry-schedule":                 "SWITCHBOARD_RETRY_SCHEDULE",
				"failure-window":                 "SWITCHBOARD_FAILURE_WINDOW",
				"secret-grace-period":            "SWITCHBOARD_SECRET_GRACE_PERIOD",
				"max-body-bytes":                 "SWITCHBOARD_MAX_BODY_BYTES",
				"retention":                      "SWITCHBOARD_RETENTION",
				"min-retry-delay":                "SWITCHBOARD_MIN_RETRY_DELAY",
				"max-events-per-subscription":    "SWITCHBOARD_MAX_EVENTS_PER_SUBSCRIPTION",
				"max-subscriptions-per-consumer": "SWITCHBOARD_MAX_SUBSCRIPTIONS_PER_CONSUMER",
				"max-subscriptions":              "SWITCHBOARD_MAX_SUBSCRIPTIONS",
				"sqlite-synchronous":             "SWITCHBOARD_SQLITE_SYNCHRONOUS",
				"workers":                        "SWITCHBOARD_WORKERS",
				"poll-timeout":                   "SWITCHBOARD_POLL_TIMEOUT",
				"poll-scan-interval":             "SWITCHBOARD_POLL_SCAN_INTERVAL",
				"shutdown-timeout":               "SWITCHBOARD_SHUTDOWN_TIMEOUT",
				"log-level":                      "SWITCHBOARD_LOG_LEVEL",
				"log-format":                     "SWITCHBOARD_LOG_FORMAT",
				"console-frame-ancestors":        "SWITCHBOARD_CONSOLE_FRAME_ANCESTORS",
			}
			for k, v := range storeFlagEnv {
				twins[k] = v
			}
			if err := bindEnv(cmd, twins); err != nil {
				return err
			}
			for _, c := range allowCIDRs {
				p, err := netip.ParsePrefix(strings.TrimSpace(c))
				if err != nil {
					return fmt.Errorf("--allow-cidr %q: %w", c, err)
				}
				cfg.AllowCIDRs = append(cfg.AllowCIDRs, p)
			}
			if len(pluginSums) > 0 {
				sums, err := host.ParseChecksums(pluginSums)
				if err != nil {
					return fmt.Errorf("--plugin-sha256 %w", err)
				}
				cfg.PluginChecksums = sums
			}
			if cmd.Flags().Changed("retry-schedule") {
				cfg.RetrySchedule = schedule
			}
			// hub.Config reads zero as "the default"; on the command line a
			// zero is a mistake and must not quietly become the default.
			for flag, v := range map[string]int{
				"max-events-per-subscription":    cfg.MaxEventsPerSubscription,
				"max-subscriptions-per-consumer": cfg.MaxSubscriptionsPerConsumer,
				"max-subscriptions":              cfg.MaxSubscriptions,
				"workers":                        cfg.Workers,
			} {
				if v < 1 {
					return fmt.Errorf("--%s must be at least 1, got %d", flag, v)
				}
			}
			if cfg.MaxBodyBytes < 1 {
				return fmt.Errorf("--max-body-bytes must be at least 1, got %d", cfg.MaxBodyBytes)
			}
			if cfg.Retention <= 0 {
				return fmt.Errorf("--retention must be positive, got %s", cfg.Retention)
			}
			if cfg.PollTimeout <= 0 || cfg.PollScanInterval <= 0 {
				return fmt.Errorf("--poll-timeout and --poll-scan-interval must be positive, got %s and %s", cfg.PollTimeout, cfg.PollScanInterval)
			}
			switch {
			case cfg.MinRetryDelay < 0:
				return fmt.Errorf("--min-retry-delay must not be negative, got %s", cfg.MinRetryDelay)
			case cfg.MinRetryDelay == 0:
				cfg.MinRetryDelay = -1 // 0 on the command line turns the floor off
			}
			cfg.APIKey = os.Getenv("SWITCHBOARD_API_KEY")
			cfg.MasterKey = os.Getenv("SWITCHBOARD_MASTER_KEY")
			cfg.Version = version

			logger, err := newLogger(logLevel, logFormat)
			if err != nil {
				return err
			}
			h, err := hub.Open(cmd.Context(), cfg, logger, cmd.OutOrStdout())
			if err != nil {
				return err
			}
			// SIGHUP re-reads the mapping files (they are also watched).
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			go func() {
				for range hup {
					if err := h.ReloadMappings(); err != nil {
						logger.Error("mapping reload on SIGHUP rejected; the last good mappings stay active", "error", err)
					} else {
						logger.Info("mappings reloaded on SIGHUP")
					}
				}
			}()
			return h.Run(cmd.Context(), func(addr string) {
				fmt.Fprintf(cmd.OutOrStdout(), "Switchboard %s listening on http://%s\n", version, addr)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Addr, "addr", "127.0.0.1:8080", "address to listen on")
	f.StringVar(&cfg.DebugAddr, "debug-addr", "", "serve /debug/pprof on this address (e.g. 127.0.0.1:6060); off when empty")
	f.StringVar(&cfg.DataDir, "data-dir", "./data", "directory of the embedded store and the master key file")
	f.StringVar(&cfg.DatabaseURL, "database-url", "", "postgres:// URL to use PostgreSQL instead of the embedded store (needs SWITCHBOARD_MASTER_KEY or --master-key-file)")
	f.StringVar(&cfg.MasterKeyFile, "master-key-file", "", "file holding the master key (instead of SWITCHBOARD_MASTER_KEY; default on the embedded store: <data-dir>/master.key, created on first start)")
	f.StringVar(&cfg.MappingsDir, "mappings-dir", "", "directory of editable mapping files, hot-reloaded (default ./mappings if present, else the built-in copies)")
	f.StringVar(&cfg.PluginsDir, "plugins-dir", "", "directory of third-party connectors (switchboard-connector-<id> with <id>.sha256)")
	f.StringSliceVar(&pluginSums, "plugin-sha256", nil, "pin a third-party connector's SHA-256 as id=HEX (repeatable); must match its .sha256 file if there is one")
	f.StringVar(&cfg.PublicURL, "public-url", "", "public base URL of this hub (default http://<addr>)")
	f.StringVar(&cfg.AppID, "app-id", "", "application id Apideck's SDKs must send (x-apideck-app-id) to /apideck; any when empty")
	f.BoolVar(&cfg.AllowPrivateDestinations, "allow-private-destinations", false, "allow deliveries to loopback and private addresses")
	f.StringSliceVar(&allowCIDRs, "allow-cidr", nil, "private CIDR that deliveries may reach while the SSRF guard stays on (repeatable)")
	f.DurationVar(&cfg.DeliveryTimeout, "delivery-timeout", 15*time.Second, "timeout of one delivery try")
	f.DurationSliceVar(&schedule, "retry-schedule", delivery.DefaultSchedule, "waits between tries")
	f.DurationVar(&cfg.FailureWindow, "failure-window", 120*time.Hour, "failing this long without success disables a subscription once its retries run out")
	f.DurationVar(&cfg.SecretGracePeriod, "secret-grace-period", 24*time.Hour, "how long a rotated secret keeps signing")
	f.Int64Var(&cfg.MaxBodyBytes, "max-body-bytes", api.DefaultMaxBodyBytes, fmt.Sprintf("largest accepted request body, in bytes (at most %d)", hub.MaxBodyBytes))
	f.DurationVar(&cfg.Retention, "retention", ingest.DefaultReplayWindow, "how long events are kept; signed provider webhooks older than this are refused as possible replays")
	f.DurationVar(&cfg.MinRetryDelay, "min-retry-delay", api.DefaultMinRetryDelay, "shortest wait a subscription's retry_schedule may ask for (0: no floor)")
	f.IntVar(&cfg.MaxEventsPerSubscription, "max-events-per-subscription", api.DefaultMaxEventsPerSubscription, "most event names one subscription may list")
	f.IntVar(&cfg.MaxSubscriptionsPerConsumer, "max-subscriptions-per-consumer", api.DefaultMaxSubscriptionsPerConsumer, "most subscriptions one consumer (or the application, without consumer_id) may have")
	f.IntVar(&cfg.MaxSubscriptions, "max-subscriptions", api.DefaultMaxSubscriptions, "most subscriptions the hub may have")
	f.StringVar(&cfg.SQLiteSynchronous, "sqlite-synchronous", "NORMAL", "SQLite synchronous mode: NORMAL (survives a crash) or FULL (also power loss)")
	f.IntVar(&cfg.Workers, "workers", store.DefaultMaxWorkers, fmt.Sprintf("jobs worked at once (1 to %d)", hub.MaxWorkers))
	f.DurationVar(&cfg.PollTimeout, "poll-timeout", poll.DefaultTimeout, "timeout of one poll of a provider (virtual webhooks)")
	f.DurationVar(&cfg.PollScanInterval, "poll-scan-interval", poll.DefaultScanEvery, "how often connections to poll are checked for a poll job")
	f.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "how long a graceful stop may take")
	f.StringSliceVar(&cfg.ConsoleFrameAncestors, "console-frame-ancestors", nil, "origins allowed to embed the web console's consumer portal in a frame (e.g. https://app.example.com; repeatable or comma-separated); default: none")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&logFormat, "log-format", "json", "json or text")
	return cmd
}

func newLogger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want json or text", format)
	}
}
