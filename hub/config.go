package hub

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/switchboardhq/switchboard/hub/api"
	"github.com/switchboardhq/switchboard/hub/console"
	"github.com/switchboardhq/switchboard/hub/delivery"
	"github.com/switchboardhq/switchboard/hub/ingest"
	"github.com/switchboardhq/switchboard/plugins/host"
)

// Config is everything `switchboard serve` can be told. Every field has a
// flag and an environment twin (see cmd/switchboard); zero values take the
// defaults noted on each field.
type Config struct {
	// Addr is where the API and inbound webhooks listen (default 127.0.0.1:8080).
	Addr string
	// DebugAddr, when set, serves Go's /debug/pprof profiles on a second
	// listener, kept off the API port so profiling a production hub never
	// exposes them to webhook senders. Empty (the default) means off.
	DebugAddr string
	// DataDir holds the SQLite file and the generated master key (default ./data).
	DataDir string
	// DatabaseURL, when a postgres:// URL, selects the PostgreSQL store
	// instead of the embedded SQLite file.
	DatabaseURL string
	// PublicURL is the base of the URLs handed out (entity_url, inbound
	// webhook URLs). Default: http://<Addr>.
	PublicURL string
	// AppID, when set, is the application id Apideck's SDKs must send in
	// x-apideck-app-id to the /apideck edge (401 otherwise). Empty: any.
	AppID string
	// APIKey, when set, is a key with every scope that is never stored
	// (scripted setups and tests); at least MinAPIKeyLength characters. Without it and without any stored key,
	// the first start creates an admin key and prints it once.
	APIKey string
	// MasterKey seals secrets at rest (SWITCHBOARD_MASTER_KEY: 64 hex
	// characters, base64 of 32 bytes, or a passphrase of at least 32
	// characters). Default on the embedded store: the key file in DataDir,
	// created (mode 0600) on first start. Required, or MasterKeyFile, with
	// DatabaseURL: every node must seal with the same key.
	MasterKey string
	// MasterKeyFile is a file holding the master key (--master-key-file),
	// in MasterKey's forms; it must exist. At most one of the two is set.
	MasterKeyFile string

	// MappingsDir holds the editable mapping files, watched and hot-reloaded.
	// Default: ./mappings if it exists, else the copies built into the binary.
	MappingsDir string
	// PluginsDir is searched for third-party connector executables
	// (switchboard-connector-<id>, checked against <name>.sha256).
	PluginsDir string
	// PluginChecksums pins third-party connectors' SHA-256 (hex) by id
	// (--plugin-sha256 id=HEX): a pinned digest must match, and a
	// .sha256 file next to the executable that disagrees refuses the
	// connector.
	PluginChecksums map[string]string
	// Connectors overrides how built-in connectors are started (tests run a
	// prebuilt binary); nil re-executes this binary as `connector <id>`.
	Connectors map[string]host.Command

	// AllowPrivateDestinations lets deliveries reach loopback and private
	// addresses (local development, tests). Off by default: SSRF guard.
	AllowPrivateDestinations bool
	// AllowCIDRs permits chosen private ranges while the guard stays on.
	AllowCIDRs []netip.Prefix

	// DeliveryTimeout bounds one HTTP try (default 15s).
	DeliveryTimeout time.Duration
	// RetrySchedule replaces the default waits between tries (default:
	// 5s, 5m, 30m, 2h, 5h, 10h, 14h, 20h, 24h after the first try).
	RetrySchedule []time.Duration
	// FailureWindow is how long a subscription may fail without a success
	// before exhausted retries disable it (default 120h).
	FailureWindow time.Duration
	// SecretGracePeriod is how long a rotated-out secret keeps signing (default 24h).
	SecretGracePeriod time.Duration
	// MaxBodyBytes caps request bodies (default 1 MiB).
	MaxBodyBytes int64
	// Retention is how long events are kept (default 720h): older ones,
	// with their deliveries and attempts, are purged in the background
	// (retentionService) unless a retry is still due. It is also the replay
	// window of signed provider webhooks: a signed body older than this is
	// refused, so a purge can never make a captured webhook new again.
	Retention time.Duration
	// MinRetryDelay is the shortest wait a subscription's retry_schedule
	// may ask for (default 1s; negative: no floor).
	MinRetryDelay time.Duration
	// MaxEventsPerSubscription caps a subscription's events list (default 200).
	MaxEventsPerSubscription int
	// MaxSubscriptionsPerConsumer caps one consumer's subscriptions
	// (default 100; application-wide ones count as one consumer).
	MaxSubscriptionsPerConsumer int
	// MaxSubscriptions caps the hub's subscriptions (default 10000).
	MaxSubscriptions int
	// SQLiteSynchronous is SQLite's synchronous pragma: NORMAL (default;
	// survives a process crash) or FULL (also survives power loss, slower).
	SQLiteSynchronous string
	// ShutdownTimeout bounds the graceful stop (default 30s).
	ShutdownTimeout time.Duration
	// Workers is how many jobs run at once (default 200).
	Workers int
	// PollTimeout bounds one poll of a provider (virtual webhooks; default
	// poll.DefaultTimeout).
	PollTimeout time.Duration
	// PollScanInterval is how often connections to poll that have no poll
	// job get one (default poll.DefaultScanEvery).
	PollScanInterval time.Duration

	// Version is reported by the API and in the User-Agent of deliveries.
	Version string

	// ConsoleFrameAncestors are the origins allowed to embed the web
	// console (the consumer portal in the application's page), checked by
	// console.ParseFrameAncestors. Empty: the console refuses every frame.
	ConsoleFrameAncestors []string
}

func (c *Config) setDefaults() {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8080"
	}
	if c.DataDir == "" {
		c.DataDir = "./data"
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.Addr
		if strings.HasPrefix(c.Addr, ":") { // every interface: this host
			c.PublicURL = "http://localhost" + c.Addr
		}
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if c.FailureWindow == 0 {
		c.FailureWindow = delivery.DefaultFailureWindow
	}
	if c.MappingsDir == "" {
		if st, err := os.Stat("mappings"); err == nil && st.IsDir() {
			c.MappingsDir = "mappings"
		}
	}
	if c.Retention == 0 {
		c.Retention = ingest.DefaultReplayWindow
	}
	if c.MinRetryDelay == 0 {
		c.MinRetryDelay = api.DefaultMinRetryDelay
	}
	if c.MaxEventsPerSubscription == 0 {
		c.MaxEventsPerSubscription = api.DefaultMaxEventsPerSubscription
	}
	if c.MaxSubscriptionsPerConsumer == 0 {
		c.MaxSubscriptionsPerConsumer = api.DefaultMaxSubscriptionsPerConsumer
	}
	if c.MaxSubscriptions == 0 {
		c.MaxSubscriptions = api.DefaultMaxSubscriptions
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.Version == "" {
		c.Version = "dev"
	}
}

// MinAPIKeyLength is the shortest SWITCHBOARD_API_KEY accepted: it is an
// admin key that is never stored or rate limited, so it must not be
// guessable (32 random characters of any common alphabet carry well over
// 128 bits).
const MinAPIKeyLength = 32

// validate checks the configuration before anything is created or opened.
func (c *Config) validate() error {
	if err := checkAddr("addr", c.Addr); err != nil {
		return err
	}
	if c.DebugAddr != "" {
		if err := checkAddr("debug-addr", c.DebugAddr); err != nil {
			return err
		}
	}
	if err := checkPublicURL(c.PublicURL); err != nil {
		return err
	}
	if c.Workers < 0 || c.Workers > MaxWorkers {
		return fmt.Errorf("workers must be between 1 and %d, got %d", MaxWorkers, c.Workers)
	}
	if c.MaxBodyBytes < 0 || c.MaxBodyBytes > MaxBodyBytes {
		return fmt.Errorf("max-body-bytes must be between 1 and %d (%d MiB), got %d", MaxBodyBytes, MaxBodyBytes>>20, c.MaxBodyBytes)
	}
	for flag, dir := range map[string]string{"plugins-dir": c.PluginsDir, "mappings-dir": c.MappingsDir} {
		if dir == "" {
			continue
		}
		st, err := os.Stat(dir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("%s %s does not exist", flag, dir)
		case err != nil:
			return fmt.Errorf("%s %s: %w", flag, dir, err)
		case !st.IsDir():
			return fmt.Errorf("%s %s is not a directory", flag, dir)
		}
	}
	if n := len(c.APIKey); c.APIKey != "" && n < MinAPIKeyLength {
		return fmt.Errorf("SWITCHBOARD_API_KEY is %d characters long; it is an admin key and must be at least %d (e.g. openssl rand -hex 32)", n, MinAPIKeyLength)
	}
	if err := checkKeySource(c.DatabaseURL, c.MasterKey, c.MasterKeyFile); err != nil {
		return err
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		return fmt.Errorf("database-url must be a postgres:// URL, got scheme of %q", redactURL(c.DatabaseURL))
	}
	switch strings.ToUpper(c.SQLiteSynchronous) {
	case "", "NORMAL", "FULL":
	default:
		return fmt.Errorf("sqlite-synchronous must be NORMAL or FULL, got %q", c.SQLiteSynchronous)
	}
	// The replay window refuses signed bodies older than Retention minus
	// the allowed clock skew, so it must leave room for that.
	if c.Retention < minRetention {
		return fmt.Errorf("retention must be at least %s, got %s", minRetention, c.Retention)
	}
	if c.MinRetryDelay > maxMinRetryDelay {
		return fmt.Errorf("min-retry-delay must be at most %s, got %s", maxMinRetryDelay, c.MinRetryDelay)
	}
	if c.MinRetryDelay > 0 {
		for i, d := range c.RetrySchedule {
			if d < c.MinRetryDelay {
				return fmt.Errorf("retry-schedule entry %d (%s) is below min-retry-delay %s", i, d, c.MinRetryDelay)
			}
		}
	}
	for _, lim := range []struct {
		flag string
		v    int
	}{
		{"max-events-per-subscription", c.MaxEventsPerSubscription},
		{"max-subscriptions-per-consumer", c.MaxSubscriptionsPerConsumer},
		{"max-subscriptions", c.MaxSubscriptions},
	} {
		if lim.v < 1 {
			return fmt.Errorf("%s must be at least 1, got %d", lim.flag, lim.v)
		}
	}
	origins, err := console.ParseFrameAncestors(c.ConsoleFrameAncestors)
	if err != nil {
		return err
	}
	c.ConsoleFrameAncestors = origins
	if c.MaxSubscriptionsPerConsumer > c.MaxSubscriptions {
		return fmt.Errorf("max-subscriptions-per-consumer (%d) must not exceed max-subscriptions (%d)", c.MaxSubscriptionsPerConsumer, c.MaxSubscriptions)
	}
	return nil
}

// Bounds of the flags validate checks.
const (
	// MaxWorkers bounds --workers: each is a goroutine that may hold a
	// database connection and an outbound request.
	MaxWorkers = 10000
	// MaxBodyBytes bounds --max-body-bytes: a body is read into memory.
	MaxBodyBytes     = 64 << 20
	minRetention     = time.Hour
	maxMinRetryDelay = time.Hour
)

// redactURL keeps a database URL's scheme only, so a password never reaches an error.
func redactURL(u string) string {
	scheme, _, ok := strings.Cut(u, "://")
	if !ok {
		return "(not a URL)"
	}
	return scheme + "://…"
}

// checkAddr checks a listen address is host:port with a numeric port, so
// that a mistake like --addr 9000 fails before anything is created.
func checkAddr(flag, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		hint := ""
		if _, perr := strconv.Atoi(addr); perr == nil {
			hint = fmt.Sprintf(" (did you mean 127.0.0.1:%s, or :%s for every interface?)", addr, addr)
		}
		return fmt.Errorf("%s %q must be host:port such as 127.0.0.1:8080%s", flag, addr, hint)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%s %q: port must be a number from 0 to 65535, got %q", flag, addr, port)
	}
	_ = host // empty means every interface
	return nil
}

// checkPublicURL checks --public-url is an absolute http(s) URL without
// query or fragment: it is the base every handed-out URL is built on.
func checkPublicURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("public-url %q is not a URL: %w", raw, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("public-url %q must be an absolute http:// or https:// URL such as https://hub.example.com", raw)
	case u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("public-url %q has no host; want e.g. https://hub.example.com", raw)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Errorf("public-url %q must not have a query or fragment", raw)
	case u.User != nil:
		return fmt.Errorf("public-url must not carry credentials")
	}
	return nil
}
