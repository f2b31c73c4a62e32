// Package host runs connector plugins for the hub: it launches each one as
// a separate process with hashicorp/go-plugin (gRPC, automatic mTLS, the
// handshake of package plugins), supervises it, restarts it with backoff when
// it crashes, and turns calls into timed gRPC calls whose errors keep their
// meaning (plugins.ErrBadSignature, plugins.ErrMalformed,
// *plugins.ProviderError, plugins.ErrUnavailable).
//
// Built-in connectors are compiled into the hub's binary and run by
// re-executing it (`switchboard connector <id>`, see SelfCommands). Third-party
// connectors are executables named switchboard-connector-<id> in the plugins
// directory; each must be pinned by a SHA-256 (a switchboard-connector-<id>.sha256
// file next to it, or Config.Checksums, which must agree with the file when
// both exist). Before every launch the executable is read once into a copy
// nobody else can change, hashed while copied, and that copy runs (see
// verify.go), so the bytes that run are the bytes that were checked. A
// plugins directory, executable or checksum file that every user may write
// is refused, and so is a symlink leading out of the directory. The
// checksum file guards against a corrupt or half-replaced binary; against
// tampering, keep the directory writable by the operator only, or pin the
// digests in the hub's configuration.
//
// Plugins never outlive the hub: on Linux they get SIGKILL from the kernel
// when the hub dies (parent-death signal), and plugins.Serve also exits when
// its parent process is gone. They start with a minimal environment (PATH,
// HOME, proxies, CA and locale settings, nothing of the hub's secrets) plus
// the hub's SSRF policy (Config.Destinations), which plugins/provider
// enforces on every call to a provider.
package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/switchboardhq/switchboard/plugins"
	"github.com/switchboardhq/switchboard/plugins/netguard"
)

// ErrUnknownConnector: no connector has the id (the hub answers 404).
var ErrUnknownConnector = errors.New("unknown connector")

// Command says how to start one connector process.
type Command struct {
	// Path is the executable.
	Path string
	// Args are the arguments after the program name.
	Args []string
	// Env adds KEY=value pairs to the plugin's minimal environment.
	Env []string
}

// SelfCommands returns the commands that run each built-in connector by
// re-executing the running binary as `<executable> connector <id>`; the
// binary's `connector` subcommand calls plugins.Serve.
func SelfCommands(ids ...string) (map[string]Command, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("locating own executable: %w", err)
	}
	out := make(map[string]Command, len(ids))
	for _, id := range ids {
		out[id] = Command{Path: exe, Args: []string{"connector", id}}
	}
	return out, nil
}

// Config configures a Manager. Zero durations take the defaults.
type Config struct {
	// Builtin maps a connector id to the command that runs it, normally
	// SelfCommands(ids of connectors.Builtin()...); tests pass built binaries.
	Builtin map[string]Command
	// PluginsDir, if set, is searched for switchboard-connector-<id>
	// executables (third-party connectors). An id that is also built in is
	// refused: the built-in one runs.
	PluginsDir string
	// Checksums pins external connectors' SHA-256 (hex) by id
	// (--plugin-sha256): a connector with a pinned digest needs no .sha256
	// file, and one whose .sha256 file disagrees with the pin is refused.
	Checksums map[string]string
	// Logger receives the manager's and the plugins' logs; nil discards.
	Logger *slog.Logger
	// Destinations is the hub's SSRF policy, handed to every plugin in its
	// environment (netguard.Policy.Env) so a connector's calls to a
	// provider are guarded like deliveries. The zero value is strict.
	Destinations netguard.Policy

	// CallTimeout bounds every call to a plugin (default 10 s); a call that
	// runs out gets plugins.ErrUnavailable.
	CallTimeout time.Duration
	// StartTimeout bounds launching a plugin, its handshake and its Describe
	// (default 10 s).
	StartTimeout time.Duration
	// MinBackoff is the wait before the first restart of a crashed plugin
	// (default 100 ms); it doubles on every failed restart up to MaxBackoff
	// (default 30 s) and is reset once a plugin has run for StableAfter
	// (default 1 min).
	MinBackoff, MaxBackoff, StableAfter time.Duration
	// HealthInterval is how often a running plugin's gRPC health service is
	// checked (default 10 s; negative disables); a plugin that does not answer
	// within CallTimeout is killed and restarted.
	HealthInterval time.Duration
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.CallTimeout, 10*time.Second)
	def(&c.StartTimeout, 10*time.Second)
	def(&c.MinBackoff, 100*time.Millisecond)
	def(&c.MaxBackoff, 30*time.Second)
	def(&c.StableAfter, time.Minute)
	def(&c.HealthInterval, 10*time.Second)
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = c.MinBackoff
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Manager launches, supervises and calls the connector plugins. Its methods
// are safe for concurrent use.
type Manager struct {
	cfg  Config
	log  *slog.Logger
	mu   sync.Mutex
	sups map[string]*supervisor

	started  bool
	stopOnce sync.Once
	stop     chan struct{}
	wg       sync.WaitGroup
}

// New checks cfg and returns a Manager; nothing is launched before Start.
func New(cfg Config) (*Manager, error) {
	cfg.setDefaults()
	m := &Manager{cfg: cfg, log: cfg.Logger, sups: map[string]*supervisor{}, stop: make(chan struct{})}
	for id, cmd := range cfg.Builtin {
		if !plugins.ValidID(id) {
			return nil, fmt.Errorf("built-in connector id %q is not valid", id)
		}
		if cmd.Path == "" {
			return nil, fmt.Errorf("built-in connector %s: command path is empty", id)
		}
		m.sups[id] = newSupervisor(m, id, "builtin", cmd, nil)
	}
	return m, nil
}

// Start discovers the external connectors, launches every connector and
// waits until each has been described once (or failed to be). It returns
// what went wrong, joined; connectors that failed to launch keep being
// retried in the background, with backoff, until Stop, except the ones that
// can never work (checksum mismatch, invalid description), which stay failed.
func (m *Manager) Start(ctx context.Context) error {
	m.mu.Lock()
	if m.started {
		m.mu.Unlock()
		return errors.New("connector manager already started")
	}
	m.started = true
	var errs []error
	if m.cfg.PluginsDir != "" {
		exts, err := discover(m.cfg.PluginsDir, m.cfg.Checksums)
		if err != nil {
			errs = append(errs, err)
		}
		found := map[string]bool{}
		for _, x := range exts {
			found[x.id] = true
		}
		for _, id := range slices.Sorted(maps.Keys(m.cfg.Checksums)) {
			if !found[id] {
				errs = append(errs, fmt.Errorf("a SHA-256 is pinned for connector %s, but %s has no %s%s",
					id, m.cfg.PluginsDir, ExternalPrefix, id))
			}
		}
		for _, x := range exts {
			if _, dup := m.sups[x.id]; dup {
				errs = append(errs, fmt.Errorf("connector %s in %s is ignored: %s is built in", x.id, x.path, x.id))
				continue
			}
			s := newSupervisor(m, x.id, "external", Command{Path: x.path}, x.sum)
			if x.err != nil {
				s.fail(x.err)
			}
			m.sups[x.id] = s
		}
	}
	sups := m.sortedLocked()
	m.mu.Unlock()

	var launched []*supervisor
	for _, s := range sups {
		if s.snapshot().State == StateFailed {
			errs = append(errs, fmt.Errorf("connector %s: %w", s.id, s.lastError()))
			continue
		}
		launched = append(launched, s)
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			s.run(m.stop)
		}()
	}
	for _, s := range launched {
		select {
		case <-s.firstDone:
			if err := s.firstErr; err != nil {
				errs = append(errs, fmt.Errorf("connector %s: %w", s.id, err))
			}
		case <-ctx.Done():
			return errors.Join(append(errs, ctx.Err())...)
		}
	}
	return errors.Join(errs...)
}

// Stop ends every plugin (gracefully, then by force) and waits for them, or
// for ctx. Calls made afterwards get plugins.ErrUnavailable.
func (m *Manager) Stop(ctx context.Context) error {
	m.stopOnce.Do(func() { close(m.stop) })
	done := make(chan struct{})
	go func() {
		m.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stopping connectors: %w", ctx.Err())
	}
}

func (m *Manager) sortedLocked() []*supervisor {
	out := make([]*supervisor, 0, len(m.sups))
	for _, s := range m.sups {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

func (m *Manager) sorted() []*supervisor {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sortedLocked()
}

func (m *Manager) get(id string) (*supervisor, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sups[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownConnector, id)
	}
	return s, nil
}

// Status reports every connector, sorted by id, for /readyz and the
// connector catalogue.
func (m *Manager) Status() []Status {
	sups := m.sorted()
	out := make([]Status, 0, len(sups))
	for _, s := range sups {
		out = append(out, s.snapshot())
	}
	return out
}

// Ready returns nil when every connector is running, else an error naming
// the ones that are not. The hub's /readyz does not use it (a broken plugin
// must not take the whole hub out of rotation); it lists Status instead.
func (m *Manager) Ready() error {
	var down []string
	for _, st := range m.Status() {
		if st.State != StateRunning {
			down = append(down, st.ID+" "+string(st.State))
		}
	}
	if len(down) > 0 {
		return fmt.Errorf("connectors not running: %s", strings.Join(down, ", "))
	}
	return nil
}

// Describe returns the connector's description as cached at its last start.
// It is plugins.ErrUnavailable when the connector never started.
func (m *Manager) Describe(id string) (*plugins.Description, error) {
	s, err := m.get(id)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.desc == nil {
		return nil, s.unavailableLocked(s.lastErr)
	}
	d := *s.desc
	return &d, nil
}

// Descriptions returns the cached descriptions of every connector that has
// started at least once, sorted by id: the hub's connector catalogue.
func (m *Manager) Descriptions() []*plugins.Description {
	var out []*plugins.Description
	for _, s := range m.sorted() {
		if d, err := m.Describe(s.id); err == nil {
			out = append(out, d)
		}
	}
	return out
}

// HandleInbound has connector id verify and parse one provider request.
func (m *Manager) HandleInbound(ctx context.Context, id string, req *plugins.InboundRequest) (*plugins.InboundResult, error) {
	var res *plugins.InboundResult
	err := m.call(ctx, id, func(ctx context.Context, c plugins.Client) (err error) {
		res, err = c.HandleInbound(ctx, req)
		return err
	})
	return res, err
}

// Subscribe has connector id register a connection's inbound URL.
func (m *Manager) Subscribe(ctx context.Context, id string, req *plugins.SubscribeRequest) (*plugins.SubscribeResult, error) {
	var res *plugins.SubscribeResult
	err := m.call(ctx, id, func(ctx context.Context, c plugins.Client) (err error) {
		res, err = c.Subscribe(ctx, req)
		return err
	})
	return res, err
}

// Unsubscribe has connector id remove a connection's registration.
func (m *Manager) Unsubscribe(ctx context.Context, id string, req *plugins.UnsubscribeRequest) error {
	return m.call(ctx, id, func(ctx context.Context, c plugins.Client) error {
		return c.Unsubscribe(ctx, req)
	})
}

// Poll asks connector id for changes (virtual webhooks); plugins.ErrUnsupported
// when it cannot poll.
func (m *Manager) Poll(ctx context.Context, id string, req *plugins.PollRequest) (*plugins.PollResult, error) {
	var res *plugins.PollResult
	err := m.call(ctx, id, func(ctx context.Context, c plugins.Client) (err error) {
		res, err = c.Poll(ctx, req)
		return err
	})
	return res, err
}

// call runs fn against the connector's current process with the call
// timeout. A plugin that is down, dies during the call or does not answer
// in time yields a *plugins.UnavailableError: the hub must not acknowledge
// anything it could not hand to the connector.
func (m *Manager) call(ctx context.Context, id string, fn func(context.Context, plugins.Client) error) error {
	s, err := m.get(id)
	if err != nil {
		return err
	}
	c, err := s.current()
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, m.cfg.CallTimeout)
	defer cancel()
	err = fn(cctx, c)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		// The caller gave up (client went away, its own deadline).
		return fmt.Errorf("connector %s: %w", id, ctx.Err())
	case errors.Is(err, context.DeadlineExceeded):
		// Our call timeout (the caller's own context is still fine); the
		// plugin's side may notice it a moment before ours does.
		return s.unavailable(fmt.Errorf("no answer within %s", m.cfg.CallTimeout))
	case errors.Is(err, plugins.ErrUnavailable), errors.Is(err, context.Canceled):
		// The connection broke: the process is most likely gone.
		s.kick()
		return s.unavailable(err)
	}
	return fmt.Errorf("connector %s: %w", id, err)
}
