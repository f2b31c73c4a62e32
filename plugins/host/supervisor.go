package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health/grpc_health_v1"

	"github.com/switchboardhq/switchboard/plugins"
	"github.com/switchboardhq/switchboard/plugins/netguard"
)

// State is where a connector is in its life.
type State string

const (
	// StateStarting: launched for the first time, not described yet.
	StateStarting State = "starting"
	// StateRunning: the process runs and answers calls.
	StateRunning State = "running"
	// StateRestarting: the process died or failed to start; it is relaunched
	// after a backoff. Calls get plugins.ErrUnavailable meanwhile.
	StateRestarting State = "restarting"
	// StateFailed: the connector can never work as installed (checksum
	// mismatch or missing, invalid description); it is not retried.
	StateFailed State = "failed"
	// StateStopped: the manager was stopped.
	StateStopped State = "stopped"
)

// Status is one connector's health, as /readyz and the connector catalogue
// show it.
type Status struct {
	ID string `json:"id"`
	// State is starting, running, restarting, failed or stopped.
	State State `json:"status"`
	// Source is "builtin" or "external".
	Source string `json:"source"`
	// PID is the running process's id (0 when none runs).
	PID int `json:"pid,omitempty"`
	// Restarts counts relaunches since Start.
	Restarts int `json:"restarts"`
	// LastError is why the connector last went down or failed to start; it
	// stays after a successful restart, for operators.
	LastError string `json:"last_error,omitempty"`
	// Since is when the connector entered State.
	Since time.Time `json:"since"`
}

// exitPoll is how often a supervisor checks whether its process exited. A
// call that fails on a dead connection checks at once.
const exitPoll = 50 * time.Millisecond

// killGrace is how long a graceful shutdown of a plugin may take before the
// process is killed outright.
const killGrace = 5 * time.Second

// permanentError marks a launch failure that retrying cannot fix.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// supervisor owns one connector: its process, its client, its status.
type supervisor struct {
	m      *Manager
	id     string
	source string
	cmd    Command
	sum    []byte // expected SHA-256 of the executable; nil for built-ins
	log    *slog.Logger

	mu       sync.Mutex
	state    State
	since    time.Time
	client   plugins.Client
	pid      int
	restarts int
	lastErr  error
	desc     *plugins.Description
	retryAt  time.Time

	kickCh    chan struct{}
	firstDone chan struct{}
	firstErr  error
}

func newSupervisor(m *Manager, id, source string, cmd Command, sum []byte) *supervisor {
	return &supervisor{
		m:         m,
		id:        id,
		source:    source,
		cmd:       cmd,
		sum:       sum,
		log:       m.log.With("connector", id),
		state:     StateStarting,
		since:     time.Now(),
		kickCh:    make(chan struct{}, 1),
		firstDone: make(chan struct{}),
	}
}

func (s *supervisor) snapshot() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{ID: s.id, State: s.state, Source: s.source, PID: s.pid, Restarts: s.restarts, Since: s.since}
	if s.lastErr != nil {
		st.LastError = s.lastErr.Error()
	}
	return st
}

func (s *supervisor) lastError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

func (s *supervisor) setStateLocked(st State) {
	if s.state != st {
		s.state, s.since = st, time.Now()
	}
}

// fail marks the connector as never going to work.
func (s *supervisor) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastErr = err
	s.client, s.pid = nil, 0
	s.setStateLocked(StateFailed)
}

// current returns the client of the running process, or why there is none.
func (s *supervisor) current() (plugins.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == StateRunning && s.client != nil {
		return s.client, nil
	}
	return nil, s.unavailableLocked(s.lastErr)
}

func (s *supervisor) unavailable(cause error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unavailableLocked(cause)
}

func (s *supervisor) unavailableLocked(cause error) error {
	retry := time.Second
	switch s.state {
	case StateRestarting:
		// The relaunch is due at retryAt and takes a moment itself.
		retry = max(time.Until(s.retryAt), 0) + time.Second
	case StateFailed, StateStopped:
		retry = time.Minute
	}
	if cause == nil {
		cause = fmt.Errorf("connector is %s", s.state)
	}
	return &plugins.UnavailableError{ID: s.id, RetryAfter: retry, Err: cause}
}

// kick asks the supervisor to check its process now (a call just failed).
func (s *supervisor) kick() {
	select {
	case s.kickCh <- struct{}{}:
	default:
	}
}

// run launches the connector and relaunches it whenever it goes down, until
// stop is closed or it fails for good.
func (s *supervisor) run(stop <-chan struct{}) {
	// settle ends Start's wait for this connector: once it runs, or once
	// its first launch failed.
	var once sync.Once
	settle := func(err error) {
		once.Do(func() {
			s.firstErr = err
			close(s.firstDone)
		})
	}
	defer settle(errors.New("stopped before it started"))

	cfg := s.m.cfg
	backoff := cfg.MinBackoff
	for {
		started := time.Now()
		pc, c, desc, err := s.launch()
		if err == nil {
			pid := pidOf(pc)
			select {
			case <-stop:
				terminate(pc, pid)
				s.stopped()
				return
			default:
			}
			s.mu.Lock()
			s.client, s.pid, s.desc = c, pid, desc
			s.setStateLocked(StateRunning)
			s.mu.Unlock()
			settle(nil)
			s.log.Info("connector running", "pid", pid, "version", desc.Version)

			cause, stopping := s.watch(pc, stop)
			if stopping {
				s.stopped()
				terminate(pc, pid)
				return
			}
			if time.Since(started) >= cfg.StableAfter {
				backoff = cfg.MinBackoff
			}
			// Calls fail fast from here on, not only once the old process
			// is cleaned up.
			s.down(cause, backoff)
			terminate(pc, pid)
			err = cause
		}
		var perm permanentError
		if errors.As(err, &perm) || errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
			s.log.Error("connector failed for good", "error", err)
			s.fail(err)
			settle(err)
			return
		}

		s.down(err, backoff)
		settle(err)
		s.log.Warn("connector down, restarting", "error", err, "backoff", backoff.String())

		t := time.NewTimer(backoff)
		select {
		case <-stop:
			t.Stop()
			s.stopped()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, cfg.MaxBackoff)
		s.mu.Lock()
		s.restarts++
		s.mu.Unlock()
	}
}

// down records that the connector is not running and will be relaunched
// after backoff.
func (s *supervisor) down(cause error, backoff time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.client, s.pid = nil, 0
	s.lastErr = cause
	s.retryAt = time.Now().Add(backoff)
	s.setStateLocked(StateRestarting)
}

func (s *supervisor) stopped() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.client, s.pid = nil, 0
	s.setStateLocked(StateStopped)
}

// watch returns when the process exits, stops answering health checks, or
// stop is closed (stopping true).
func (s *supervisor) watch(pc *plugin.Client, stop <-chan struct{}) (cause error, stopping bool) {
	tick := time.NewTicker(exitPoll)
	defer tick.Stop()
	var health <-chan time.Time
	if s.m.cfg.HealthInterval > 0 {
		ht := time.NewTicker(s.m.cfg.HealthInterval)
		defer ht.Stop()
		health = ht.C
	}
	for {
		select {
		case <-stop:
			return nil, true
		case <-tick.C:
		case <-s.kickCh:
		case <-health:
			if err := s.ping(pc); err != nil && !pc.Exited() {
				return fmt.Errorf("health check failed: %w", err), false
			}
		}
		if pc.Exited() {
			return errors.New("plugin process exited"), false
		}
	}
}

func (s *supervisor) ping(pc *plugin.Client) error {
	cp, err := pc.Client()
	if err != nil {
		return err
	}
	gc, ok := cp.(*plugin.GRPCClient)
	if !ok {
		return cp.Ping()
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.m.cfg.CallTimeout)
	defer cancel()
	_, err = grpc_health_v1.NewHealthClient(gc.Conn).Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: plugin.GRPCServiceName})
	return err
}

// launch starts one process, completes go-plugin's handshake (checksum,
// mTLS) and describes the connector.
func (s *supervisor) launch() (*plugin.Client, plugins.Client, *plugins.Description, error) {
	cfg := s.m.cfg
	exe := s.cmd.Path
	if s.sum != nil {
		// An external connector runs from a private copy of the bytes
		// that were hashed (see verify.go), not from its path, which
		// could be swapped between the check and the exec.
		verified, release, err := verifiedExecutable(s.cmd.Path, s.sum)
		if err != nil {
			if errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
				return nil, nil, nil, permanentError{err}
			}
			return nil, nil, nil, err
		}
		// The child has executed it once Client returns (or failed to).
		defer release()
		exe = verified
	}
	cmd := exec.Command(exe, s.cmd.Args...)
	cmd.Env = pluginEnv(s.cmd.Env, cfg.Destinations, s.log)
	setDeathSignal(cmd)
	hl := newHCLog(s.log)
	pc := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  plugins.Handshake,
		Plugins:          plugins.PluginSet(nil),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true,
		StartTimeout:     cfg.StartTimeout,
		Logger:           hl,
		SyncStdout:       newLineWriter(func(line string) { s.log.Info(line, "stream", "stdout") }),
		SyncStderr:       newLineWriter(func(line string) { s.log.Warn(line, "stream", "stderr") }),
		GRPCDialOptions: []grpc.DialOption{grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(plugins.MaxMessageSize), grpc.MaxCallSendMsgSize(plugins.MaxMessageSize))},
	})
	cp, err := pc.Client()
	if err != nil {
		pc.Kill()
		if errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
			return nil, nil, nil, permanentError{fmt.Errorf("%s: %w", s.cmd.Path, err)}
		}
		return nil, nil, nil, fmt.Errorf("launching %s: %w", s.cmd.Path, err)
	}
	pid := pidOf(pc)
	c, err := plugins.Dispense(cp)
	if err != nil {
		terminate(pc, pid)
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.StartTimeout)
	defer cancel()
	desc, err := c.Describe(ctx)
	if err != nil {
		terminate(pc, pid)
		return nil, nil, nil, fmt.Errorf("describing: %w", err)
	}
	if err := desc.Validate(); err != nil {
		terminate(pc, pid)
		return nil, nil, nil, permanentError{fmt.Errorf("invalid description: %w", err)}
	}
	if desc.ID != s.id {
		terminate(pc, pid)
		return nil, nil, nil, permanentError{fmt.Errorf("launched as %q but describes itself as %q", s.id, desc.ID)}
	}
	return pc, c, desc, nil
}

func pidOf(pc *plugin.Client) int {
	pid, _ := strconv.Atoi(pc.ID())
	return pid
}

// terminate ends a plugin: go-plugin's graceful shutdown, then SIGKILL if
// that hangs (a frozen process never answers the shutdown call).
func terminate(pc *plugin.Client, pid int) {
	done := make(chan struct{})
	go func() {
		pc.Kill()
		close(done)
	}()
	t := time.NewTimer(killGrace)
	defer t.Stop()
	select {
	case <-done:
		return
	case <-t.C:
	}
	if p, err := os.FindProcess(pid); err == nil && pid > 0 {
		_ = p.Kill()
	}
	<-done
}

// envAllowed lists what a plugin inherits from the hub's environment: what
// a program needs to run and reach providers, none of the hub's own
// configuration (database URL, API key, master key).
var envAllowed = map[string]bool{
	"PATH": true, "HOME": true, "USER": true, "LOGNAME": true, "TMPDIR": true, "TZ": true, "LANG": true,
	"SSL_CERT_FILE": true, "SSL_CERT_DIR": true,
	"HTTP_PROXY": true, "HTTPS_PROXY": true, "NO_PROXY": true, "http_proxy": true, "https_proxy": true, "no_proxy": true,
	"GODEBUG": true, "GOTRACEBACK": true, "GOMAXPROCS": true, "GOMEMLIMIT": true, "GOGC": true, "GORACE": true, "GOCOVERDIR": true,
}

// pluginEnv is a plugin's environment: the allowed part of the hub's, the
// plugin protocol's variables, the destination policy (always set, so a
// plugin never inherits or guesses one), then extra.
func pluginEnv(extra []string, policy netguard.Policy, log *slog.Logger) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if envAllowed[k] || strings.HasPrefix(k, "LC_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		plugins.EnvLogLevel+"="+plugins.LevelName(lowestLevel(log)),
		plugins.EnvParentPID+"="+strconv.Itoa(os.Getpid()))
	env = append(env, policy.Env()...)
	return append(env, extra...)
}

// lowestLevel is the lowest level log emits, so plugins skip the rest.
func lowestLevel(log *slog.Logger) slog.Level {
	for _, l := range []slog.Level{plugins.LevelTrace, slog.LevelDebug, slog.LevelInfo, slog.LevelWarn} {
		if log.Enabled(context.Background(), l) {
			return l
		}
	}
	return slog.LevelError
}
