package hub

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/switchboardhq/switchboard/hub/metric"
	"github.com/switchboardhq/switchboard/hub/store"
)

// httpService is the ingress: the API and inbound webhooks.
type httpService struct {
	ln     net.Listener
	srv    *http.Server
	logger *slog.Logger
	done   chan struct{}
}

func (s *httpService) Name() string { return "http" }

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
