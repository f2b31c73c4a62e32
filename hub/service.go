package hub

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/switchboardhq/switchboard/hub/delivery"
	"github.com/switchboardhq/switchboard/hub/mapping"
	"github.com/switchboardhq/switchboard/hub/metric"
	"github.com/switchboardhq/switchboard/hub/store"
	"github.com/switchboardhq/switchboard/hub/vault"
	"github.com/switchboardhq/switchboard/plugins/host"
)

// httpService is the ingress: the API and inbound webhooks.
type httpService struct {
	name   string
	ln     net.Listener
	srv    *http.Server
	logger *slog.Logger
	done   chan struct{}
}

func (s *httpService) Name() string { return s.name }

func (s *httpService) Start(context.Context) error {
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("http server stopped", "error", err)
		}
	}()
	return nil
}

// Stop refuses new connections and waits for in-flight requests, so an
// event being stored is either committed and answered or never acknowledged.
func (s *httpService) Stop(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	<-s.done
	return err
}

// queueService works River jobs: the deliveries.
type queueService struct {
	store store.Store
	cfg   store.QueueConfig
}

func (s *queueService) Name() string { return "queue" }

func (s *queueService) Start(ctx context.Context) error { return s.store.StartQueue(ctx, s.cfg) }

func (s *queueService) Stop(ctx context.Context) error { return s.store.StopQueue(ctx) }

// dispatchService stops the in-process first tries before the queue stops,
// because their outcomes are written with the queue's help.
type dispatchService struct {
	dispatcher *delivery.Dispatcher
}

func (s *dispatchService) Name() string { return "dispatch" }

func (s *dispatchService) Start(context.Context) error { return nil }

func (s *dispatchService) Stop(ctx context.Context) error { return s.dispatcher.Stop(ctx) }

// statsService samples the queue backlog into the metrics.
type statsService struct {
	store   store.Store
	metrics *metric.Metrics
	logger  *slog.Logger
	every   time.Duration

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (s *statsService) Name() string { return "queue-stats" }

func (s *statsService) Start(ctx context.Context) error {
	ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(s.every)
		defer t.Stop()
		for {
			s.sample(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return nil
}

func (s *statsService) sample(ctx context.Context) {
	st, err := s.store.QueueStats(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.logger.Warn("sampling queue stats", "error", err)
		}
		return
	}
	s.metrics.QueuePending.Set(float64(st.Pending))
	s.metrics.QueueOldestSeconds.Set(st.OldestPending.Seconds())
}

func (s *statsService) Stop(context.Context) error {
	s.cancel()
	s.wg.Wait()
	return nil
}

// mappingService watches the mappings directory and hot-reloads edits.
type mappingService struct {
	registry *mapping.Registry
	logger   *slog.Logger
	cancel   context.CancelFunc
	done     chan struct{}
}

func (s *mappingService) Name() string { return "mappings" }

func (s *mappingService) Start(ctx context.Context) error {
	ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		if err := s.registry.Watch(ctx); err != nil && ctx.Err() == nil {
			s.logger.Error("watching mappings stopped; edits need SIGHUP now", "error", err)
		}
	}()
	return nil
}

func (s *mappingService) Stop(context.Context) error {
	s.cancel()
	<-s.done
	return nil
}

// connectorService runs the connector plugins. It starts before the API so
// inbound webhooks find their connector, and stops after it.
type connectorService struct {
	manager  *host.Manager
	logger   *slog.Logger
	mappings func() *mapping.Set
}

func (s *connectorService) Name() string { return "connectors" }

// Start launches every connector. One that fails to start is logged and
// retried in the background: the hub still serves, and that connector's
// webhooks answer 503 until it runs.
func (s *connectorService) Start(ctx context.Context) error {
	if err := s.manager.Start(ctx); err != nil {
		s.logger.Error("some connectors did not start; retrying in the background", "error", err)
	}
	s.warnUnmapped()
	return nil
}

// warnUnmapped names every connector without a mapping: its webhooks are
// accepted but cannot be turned into unified events, a plugin author's
// most likely first mistake.
func (s *connectorService) warnUnmapped() {
	if s.mappings == nil {
		return
	}
	set := s.mappings()
	for _, st := range s.manager.Status() {
		if !set.Has(st.ID) {
			s.logger.Warn("connector has no mapping: its webhooks cannot be unified; add "+st.ID+".json to --mappings-dir",
				"connector", st.ID, "source", st.Source, "mappings", set.Services())
		}
	}
}

func (s *connectorService) Stop(ctx context.Context) error { return s.manager.Stop(ctx) }

// connectorCatalog shows the plugin manager to the vault as its catalogue:
// each connector's state and its description as of its last start.
type connectorCatalog struct{ *host.Manager }

func (c connectorCatalog) List() []vault.Info {
	var out []vault.Info
	for _, st := range c.Status() {
		out = append(out, c.info(st))
	}
	return out
}

func (c connectorCatalog) Get(serviceID string) (vault.Info, bool) {
	for _, st := range c.Status() {
		if st.ID == serviceID {
			return c.info(st), true
		}
	}
	return vault.Info{}, false
}

func (c connectorCatalog) info(st host.Status) vault.Info {
	info := vault.Info{ID: st.ID, Status: string(st.State)}
	if d, err := c.Describe(st.ID); err == nil {
		info.Description = d
	}
	return info
}

// debugHandler serves the runtime profiles (CPU, heap, goroutines, mutex,
// block, trace) that `go tool pprof` reads.
func debugHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
