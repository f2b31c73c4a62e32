// Package hub assembles Switchboard: it opens the store, starts the delivery
// queue and serves the API, and stops them in the reverse order.
package hub

import (
	"context"
	"errors"
	"fmt"
	"github.com/switchboardhq/switchboard/connectors"
	"github.com/switchboardhq/switchboard/hub/ingest"
	"github.com/switchboardhq/switchboard/hub/mapping"
	"github.com/switchboardhq/switchboard/hub/poll"
	"github.com/switchboardhq/switchboard/hub/vault"
	"github.com/switchboardhq/switchboard/mappings"
	"github.com/switchboardhq/switchboard/plugins/host"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/gofrs/flock"
	"github.com/riverqueue/river"

	"github.com/switchboardhq/switchboard/hub/api"
	"github.com/switchboardhq/switchboard/hub/apideck"
	"github.com/switchboardhq/switchboard/hub/apikey"
	"github.com/switchboardhq/switchboard/hub/console"
	"github.com/switchboardhq/switchboard/hub/delivery"
	"github.com/switchboardhq/switchboard/hub/metric"
	"github.com/switchboardhq/switchboard/hub/secret"
	"github.com/switchboardhq/switchboard/hub/store"
	"github.com/switchboardhq/switchboard/hub/store/postgres"
	"github.com/switchboardhq/switchboard/hub/store/sqlite"
	"github.com/switchboardhq/switchboard/plugins/netguard"
)

// Hub is one running Switchboard node.
type Hub struct {
	cfg     Config
	logger  *slog.Logger
	metrics *metric.Metrics
	store   store.Store
	lock    *flock.Flock

	mappings   *mapping.Registry
	connectors *host.Manager

	// services start in this order and stop in the reverse one: storage
	// first up and last down, ingress last up and first down.
	services []service
}

// service is the one start/stop shape every background part of the hub has.
// Start returns once the service runs; Stop blocks until it has stopped or
// ctx is done, finishing in-flight work first.
type service interface {
	Name() string
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// Open prepares a hub: it takes the data directory's lock, opens the store
// (running migrations) and creates the first admin key if none exists,
// writing it once to keyOut. Nothing listens until Run.
func Open(ctx context.Context, cfg Config, logger *slog.Logger, keyOut io.Writer) (*Hub, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &Hub{cfg: cfg, logger: logger, metrics: metric.New()}

	// The mapping files are flags' content too: a broken one fails the
	// start before the store is opened or a first admin key is printed.
	var err error
	h.mappings, err = mapping.NewRegistry(mapping.RegistryConfig{Dir: cfg.MappingsDir, Embedded: mappings.FS, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("loading mappings: %w", err)
	}

	st, lock, err := OpenStore(ctx, StoreOptions{
		DataDir: cfg.DataDir, DatabaseURL: cfg.DatabaseURL, MasterKey: cfg.MasterKey, MasterKeyFile: cfg.MasterKeyFile,
		SQLiteSynchronous: cfg.SQLiteSynchronous, Logger: logger, Serve: true,
	})
	if err != nil {
		return nil, err
	}
	h.store, h.lock = st, lock

	if err := h.bootstrapKey(ctx, keyOut); err != nil {
		h.closeStore()
		return nil, err
	}
	return h, nil
}

// StoreOptions says which store to open and how.
type StoreOptions struct {
	DataDir     string
	DatabaseURL string
	// MasterKey (SWITCHBOARD_MASTER_KEY) or MasterKeyFile (--master-key-file)
	// give the master key; at most one may be set, and PostgreSQL needs
	// one. Neither on the embedded store means the key file in DataDir.
	MasterKey         string
	MasterKeyFile     string
	SQLiteSynchronous string
	Logger            *slog.Logger
	// Serve marks the process that works the queue. On the embedded store
	// it takes the data directory's lock (one serving process per file),
	// recovers jobs a crash left running and creates the master key file if
	// there is none. It also records the key's fingerprint in a database
	// that has none; client commands (keys, send-test-event) only compare.
	Serve bool
	// Existing makes OpenStore refuse an embedded store that does not exist
	// yet instead of creating an empty one: operator tools (keys,
	// send-test-event) run in the wrong directory must fail, not make a
	// store the hub never reads.
	Existing bool
}

// ErrNoStore: StoreOptions.Existing was set and there is no embedded store
// in the data directory.
var ErrNoStore = errors.New("no store")

// OpenStore opens the configured store; the CLI's keys commands use it too.
// It refuses a master key whose fingerprint differs from the one the
// database records (ErrMasterKeyMismatch), and undoes what it did (a key
// file it created, the lock) when it fails. The returned lock, when not
// nil, must be released after the store closes.
func OpenStore(ctx context.Context, o StoreOptions) (st store.Store, lock *flock.Flock, err error) {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := checkKeySource(o.DatabaseURL, o.MasterKey, o.MasterKeyFile); err != nil {
		return nil, nil, err
	}
	if o.Existing && o.DatabaseURL == "" {
		path := filepath.Join(o.DataDir, "switchboard.db")
		if _, err := os.Stat(path); err != nil {
			return nil, nil, fmt.Errorf("%w at %s (%v): point --data-dir at the hub's data directory, or --database-url at its database, or use --hub-url", ErrNoStore, path, err)
		}
	}
	if o.DatabaseURL == "" {
		// The embedded store's directory holds the database and the key.
		if _, statErr := os.Stat(o.DataDir); statErr == nil && o.Serve {
			if err := tightenDataDir(o.DataDir, logger); err != nil {
				return nil, nil, err
			}
		}
		if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
			return nil, nil, fmt.Errorf("creating data directory %s: %w", o.DataDir, err)
		}
		if o.Serve {
			// Locked first: a second serve must not touch the key file.
			l := flock.New(filepath.Join(o.DataDir, "serve.lock"))
			ok, lockErr := l.TryLock()
			if lockErr != nil {
				return nil, nil, fmt.Errorf("locking data directory %s: %w", o.DataDir, lockErr)
			}
			if !ok {
				return nil, nil, fmt.Errorf("data directory %s is in use by another switchboard serve", o.DataDir)
			}
			defer func() {
				if err != nil {
					_ = l.Unlock()
				}
			}()
			lock = l
		}
	}
	mk, err := loadMasterKey(o, logger)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			mk.discard(logger)
		}
	}()
	sealer, err := mk.sealer(o.DataDir)
	if err != nil {
		return nil, nil, err
	}
	if o.DatabaseURL != "" {
		// No data directory lock: any number of serving processes share
		// the database, and River hands each job to one of them.
		st, err = postgres.Open(ctx, postgres.Config{URL: o.DatabaseURL, Sealer: sealer, Logger: o.Logger})
		if err != nil {
			return nil, nil, fmt.Errorf("opening PostgreSQL store %s: %w", redactURL(o.DatabaseURL), err)
		}
	} else {
		st, err = sqlite.Open(ctx, sqlite.Config{
			Path:               filepath.Join(o.DataDir, "switchboard.db"),
			Sealer:             sealer,
			Logger:             o.Logger,
			Synchronous:        o.SQLiteSynchronous,
			RecoverRunningJobs: o.Serve,
			CacheConnections:   o.Serve,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("opening embedded store: %w", err)
		}
	}
	if err = checkFingerprint(ctx, st, mk, o.Serve, filepath.Join(o.DataDir, secret.KeyFileName)); err != nil {
		if cerr := st.Close(); cerr != nil {
			logger.Error("closing store", "error", cerr)
		}
		return nil, nil, err
	}
	return st, lock, nil
}

func (h *Hub) bootstrapKey(ctx context.Context, out io.Writer) error {
	if h.cfg.APIKey != "" {
		return nil
	}
	n, err := h.store.CountActiveAPIKeys(ctx)
	if err != nil {
		return fmt.Errorf("counting API keys: %w", err)
	}
	if n > 0 {
		return nil
	}
	plain, k, err := apikey.Generate("admin (first start)", []string{apikey.ScopeAdmin}, "")
	if err != nil {
		return err
	}
	if err := h.store.CreateAPIKey(ctx, k); err != nil {
		return fmt.Errorf("storing first admin key: %w", err)
	}
	if out != nil {
		fmt.Fprintf(out, "\nCreated an admin API key. It is shown this once; store it now:\n\n    %s\n\n", plain)
	}
	h.logger.Info("created first admin API key", "key_id", k.ID)
	return nil
}

// Run starts the queue and the API and serves until ctx is done, then stops
// them gracefully: the API first (in-flight requests finish), then the queue
// (in-flight deliveries finish), the store last.
func (h *Hub) Run(ctx context.Context, ready func(addr string)) error {
	defer h.closeStore()

	ln, err := net.Listen("tcp", h.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", h.cfg.Addr, err)
	}
	workers := river.NewWorkers()
	dlv := delivery.New(delivery.Config{
		Logger:          h.logger,
		Metrics:         h.metrics,
		UserAgent:       "Switchboard/" + h.cfg.Version,
		Timeout:         h.cfg.DeliveryTimeout,
		DefaultSchedule: h.cfg.RetrySchedule,
		FailureWindow:   h.cfg.FailureWindow,
		AllowPrivate:    h.cfg.AllowPrivateDestinations,
		AllowCIDRs:      h.cfg.AllowCIDRs,
	}, h.store)
	dlv.Register(workers)
	disp := dlv.NewDispatcher(0)
	if err := h.metrics.Registry.Register(dispatchGauge(disp)); err != nil {
		ln.Close()
		return fmt.Errorf("registering dispatch metrics: %w", err)
	}

	// The first try of a fresh event is made in process, straight after its
	// commit (delivery.Dispatcher); retries go through the queue. What a
	// crash leaves untried is queued by the sweep: at the next start on the
	// embedded store, and on PostgreSQL by any live node within the store's
	// sweep interval, since the dead node's lock on its deliveries ends with
	// its session.
	queueConfig := store.QueueConfig{Workers: workers, MaxWorkers: h.cfg.Workers, Dispatcher: disp}

	reg := h.mappings
	connectorCmds := h.cfg.Connectors
	if connectorCmds == nil {
		if connectorCmds, err = host.SelfCommands(slices.Sorted(maps.Keys(connectors.Builtin()))...); err != nil {
			ln.Close()
			return err
		}
	}
	plugs, err := host.New(host.Config{
		Builtin: connectorCmds, PluginsDir: h.cfg.PluginsDir, Checksums: h.cfg.PluginChecksums, Logger: h.logger,
		// Connectors call providers at a base_url from the connection's
		// settings: the same SSRF policy as deliveries applies.
		Destinations: netguard.Policy{AllowAll: h.cfg.AllowPrivateDestinations, Allow: h.cfg.AllowCIDRs},
	})
	if err != nil {
		ln.Close()
		return fmt.Errorf("configuring connectors: %w", err)
	}
	saveMapping := reg.Save
	if h.cfg.DatabaseURL != "" {
		saveMapping = func(string, []byte) (mapping.FileStatus, error) {
			return mapping.FileStatus{}, ingest.ErrMappingsShared
		}
	}
	ing := ingest.New(ingest.Config{
		Store: h.store, Connectors: plugs, Mappings: reg.Current, MappingStatus: reg.Status, SaveMapping: saveMapping, ReadMapping: reg.Read,
		PublicURL: h.cfg.PublicURL, Logger: h.logger, Metrics: h.metrics, ReplayWindow: h.cfg.Retention,
	})
	h.connectors = plugs
	poller := poll.New(poll.Config{
		Store: h.store, Connectors: plugs, Unify: ing.Unify, Logger: h.logger, Metrics: h.metrics,
		Timeout: h.cfg.PollTimeout, ScanEvery: h.cfg.PollScanInterval,
	})
	poller.Register(workers)
	if err := h.metrics.Registry.Register(connectorCollector{plugs}); err != nil {
		ln.Close()
		return fmt.Errorf("registering connector metrics: %w", err)
	}
	vlt := vault.New(vault.Config{
		Store: h.store, Connectors: connectorCatalog{plugs}, PublicURL: h.cfg.PublicURL, Logger: h.logger, Poller: poller,
		Coverage: func(serviceID string) any {
			for _, c := range reg.Current().Coverage() {
				if c.ServiceID == serviceID {
					return c
				}
			}
			return nil
		},
	})

	cons, err := console.New(console.Config{FrameAncestors: h.cfg.ConsoleFrameAncestors})
	if err != nil {
		ln.Close()
		return fmt.Errorf("preparing the console: %w", err)
	}

	edge := apideck.New(apideck.Config{Store: h.store, Connectors: connectorCatalog{plugs}, PublicURL: h.cfg.PublicURL, AppID: h.cfg.AppID})
	handler, err := api.New(api.Config{
		Routes:               append(append(append(ing.Routes(), vlt.Routes()...), cons.Routes()...), edge.Routes()...),
		Fallbacks:            []api.Fallback{edge.Fallback()},
		ErrorRefs:            apideck.ErrorRefs(),
		Mappings:             reg.Current,
		Store:                h.store,
		Logger:               h.logger,
		Metrics:              h.metrics,
		PublicURL:            h.cfg.PublicURL,
		BootstrapKey:         h.cfg.APIKey,
		MaxBodyBytes:         h.cfg.MaxBodyBytes,
		SecretGracePeriod:    h.cfg.SecretGracePeriod,
		DefaultRetrySchedule: seconds(h.cfg.RetrySchedule),
		Version:              h.cfg.Version,
		Ready:                h.ready,
		Connectors:           h.connectorHealth,
		MinRetryDelay:        h.cfg.MinRetryDelay,

		MaxEventsPerSubscription:    h.cfg.MaxEventsPerSubscription,
		MaxSubscriptionsPerConsumer: h.cfg.MaxSubscriptionsPerConsumer,
		MaxSubscriptions:            h.cfg.MaxSubscriptions,
	})
	if err != nil {
		ln.Close()
		return fmt.Errorf("building API: %w", err)
	}
	edge.SetHandler(handler)

	h.services = []service{
		&queueService{store: h.store, cfg: queueConfig},
		&dispatchService{dispatcher: disp},
		&statsService{store: h.store, metrics: h.metrics, logger: h.logger, every: 5 * time.Second},
		// Stops before the queue and the store close (reverse order).
		newRetentionService(h.store, h.metrics, h.logger, h.cfg.Retention),
		&mappingService{registry: reg, logger: h.logger},
		&connectorService{manager: plugs, logger: h.logger, mappings: reg.Current},
		poller,
		&httpService{name: "http", ln: ln, srv: &http.Server{
			Handler:           handler,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       60 * time.Second,
			IdleTimeout:       120 * time.Second,
			ErrorLog:          slog.NewLogLogger(h.logger.Handler(), slog.LevelWarn),
		}, logger: h.logger},
	}
	if h.cfg.DebugAddr != "" {
		dln, err := net.Listen("tcp", h.cfg.DebugAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listening on --debug-addr %s: %w", h.cfg.DebugAddr, err)
		}
		h.logger.Info("serving /debug/pprof", "addr", dln.Addr().String())
		h.services = append(h.services, &httpService{name: "debug", ln: dln, logger: h.logger,
			srv: &http.Server{Handler: debugHandler(), ReadHeaderTimeout: 10 * time.Second}})
	}
	started := 0
	var runErr error
	for _, s := range h.services {
		if err := s.Start(ctx); err != nil {
			runErr = fmt.Errorf("starting %s: %w", s.Name(), err)
			break
		}
		started++
	}
	if runErr == nil {
		h.logger.Info("switchboard is serving", "addr", ln.Addr().String(), "public_url", h.cfg.PublicURL, "version", h.cfg.Version)
		if ready != nil {
			ready(ln.Addr().String())
		}
		<-ctx.Done()
		h.logger.Info("shutting down")
	} else if started < len(h.services) {
		ln.Close()
	}

	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.cfg.ShutdownTimeout)
	defer cancel()
	for i := started - 1; i >= 0; i-- {
		s := h.services[i]
		if err := s.Stop(stopCtx); err != nil {
			h.logger.Error("stopping service", "service", s.Name(), "error", err)
			runErr = errors.Join(runErr, fmt.Errorf("stopping %s: %w", s.Name(), err))
		}
	}
	return runErr
}

// seconds renders a schedule the way subscriptions show it: whole seconds.
func seconds(ds []time.Duration) []int {
	if ds == nil {
		ds = delivery.DefaultSchedule
	}
	out := make([]int, len(ds))
	for i, d := range ds {
		out[i] = int(d / time.Second)
	}
	return out
}

// ReloadMappings re-reads the mapping files now (SIGHUP). A bad edit is
// rejected with its precise error and the last good mapping stays active.
func (h *Hub) ReloadMappings() error {
	return h.mappings.Reload()
}

// ready is /readyz: the store answers. The queue needs no check of its own:
// it starts before the HTTP listener and stops after it (h.services order),
// so a hub that serves has one. Connectors are not part of readiness (see
// connectorHealth).
func (h *Hub) ready(ctx context.Context) error {
	if err := h.store.Ping(ctx); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// connectorHealth lists the connectors for the /readyz body.
func (h *Hub) connectorHealth() []api.ConnectorHealth {
	if h.connectors == nil {
		return nil
	}
	sts := h.connectors.Status()
	out := make([]api.ConnectorHealth, len(sts))
	for i, st := range sts {
		out[i] = api.ConnectorHealth{ID: st.ID, Status: string(st.State), Restarts: st.Restarts}
	}
	return out
}

func (h *Hub) closeStore() {
	if h.store != nil {
		if err := h.store.Close(); err != nil {
			h.logger.Error("closing store", "error", err)
		}
		h.store = nil
	}
	if h.lock != nil {
		_ = h.lock.Unlock()
		h.lock = nil
	}
}
