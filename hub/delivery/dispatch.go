package delivery

import (
	"context"
	"sync"
	"time"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/store"
)

// DefaultDispatchLimit is how many events a Dispatcher holds at once before
// new ones go through the queue.
const DefaultDispatchLimit = 512

// Dispatcher makes the first try of freshly published events in this
// process, straight after their commit (store.Dispatcher): no queue job is
// inserted, fetched or completed and nothing is read back, so the common
// case costs the publish transaction and one batched outcome write. It is
// also the low-latency path: no queue poll stands between a commit and the
// first try.
//
// Nothing depends on it for durability. The deliveries are committed before
// they reach it; if the process dies or stops before their outcomes are
// recorded, they are still pending and untried, and the store's sweep
// queues their fan-out job: at the next start on the embedded store, from
// the live nodes on PostgreSQL. Retries go through the queue as always.
type Dispatcher struct {
	s     *Service
	limit int

	ctx    context.Context // cancelled when Stop gives up waiting
	cancel context.CancelFunc

	mu       sync.Mutex
	held     int  // reservations not yet finished
	stopping bool // refuse new reservations
	idle     chan struct{}
}

// NewDispatcher returns a dispatcher that holds at most limit events
// (DefaultDispatchLimit if limit <= 0). Pass it as
// store.QueueConfig.Dispatcher and Stop it before the queue.
func (s *Service) NewDispatcher(limit int) *Dispatcher {
	if limit <= 0 {
		limit = DefaultDispatchLimit
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Dispatcher{s: s, limit: limit, ctx: ctx, cancel: cancel}
}

var _ store.Dispatcher = (*Dispatcher)(nil)

// Reserve implements store.Dispatcher.
func (d *Dispatcher) Reserve() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopping || d.held >= d.limit {
		return false
	}
	d.held++
	return true
}

// Release implements store.Dispatcher.
func (d *Dispatcher) Release() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.held--
	if d.held == 0 && d.idle != nil {
		close(d.idle)
		d.idle = nil
	}
}

// Dispatch implements store.Dispatcher: the tries run in their own goroutine.
func (d *Dispatcher) Dispatch(ev *event.Event, targets []*store.Target) {
	go func() {
		defer d.Release()
		d.first(ev, targets)
	}()
}

// InFlight is how many events the dispatcher holds, for metrics.
func (d *Dispatcher) InFlight() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.held
}

// first tries every target once, chunk by chunk, and records the outcomes.
// A failed write is retried until it succeeds or Stop gives up: the tries
// were made, and losing their outcomes would only mean sending them again.
func (d *Dispatcher) first(ev *event.Event, targets []*store.Target) {
	s := d.s
	for len(targets) > 0 {
		chunk := targets[:min(len(targets), s.cfg.FanoutChunkSize)]
		targets = targets[len(chunk):]
		outcomes, cut, err := s.deliverAll(d.ctx, ev, chunk, time.Time{})
		if err != nil {
			s.log.Error("first try of an event failed; the store's sweep queues it", "event_id", ev.ID, "error", err)
			return
		}
		if err := s.recordUntil(d.ctx, ev.ID, outcomes); err != nil {
			s.log.Warn("stopping before the first try's outcomes were written; the store's sweep queues the deliveries again",
				"event_id", ev.ID, "error", err)
			return
		}
		if cut {
			return // Stop gave up: the store's sweep queues the untried rest
		}
	}
}

// Stop refuses new events and waits for the held ones until ctx is done;
// then it cancels their tries and waits for them to return. What was not
// recorded stays pending and untried, for the store's sweep to queue.
func (d *Dispatcher) Stop(ctx context.Context) error {
	d.mu.Lock()
	d.stopping = true
	var idle chan struct{}
	if d.held > 0 {
		d.idle = make(chan struct{})
		idle = d.idle
	}
	d.mu.Unlock()
	if idle == nil {
		d.cancel()
		return nil
	}
	select {
	case <-idle:
		d.cancel()
		return nil
	case <-ctx.Done():
	}
	d.cancel()
	<-idle
	return ctx.Err()
}
