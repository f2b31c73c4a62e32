package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboardhq/switchboard/hub/store"
)

// maxBatch bounds how many write transactions share one commit.
const maxBatch = 128

// writerWait bounds how long a batch waits for the writer connection. The
// connection is free within milliseconds unless another process holds
// SQLite's write lock: then each of River's queries sits on it for the
// whole busy timeout, and a write queued behind several of them would hang
// for many times that. Past writerWait the batch fails as unavailable, so
// a write fails within about writerWait plus the busy timeout.
const writerWait = 2 * time.Second

// batcher runs concurrent write transactions together: the writes of up to
// maxBatch callers share one SQLite transaction, each in its own savepoint,
// and one commit.
//
// SQLite has one writer, so write transactions queue for it anyway. What a
// commit costs does not depend much on how many rows it carries: in WAL mode
// it writes every page the transaction dirtied, and consecutive inserts
// (UUIDv7 ids, append-only tables) dirty mostly the same pages. Measured,
// writing WAL frames was a fifth of the CPU of a delivery, at one commit per
// event. Sharing commits also lets the River jobs of a whole batch be
// inserted with one statement.
//
// There is no background goroutine: the first caller to find no batch
// running leads; it takes the queue, runs it, and hands leadership to the
// oldest waiting caller, so no caller runs more than one batch.
type batcher struct {
	db     *sql.DB
	insert func(ctx context.Context, tx *sql.Tx, jobs []river.InsertManyParams) error
	logger *slog.Logger

	mu      sync.Mutex
	queue   []*writeReq
	leading bool
}

// writeTx is a write transaction's view of the shared one: its statements
// and the jobs it queues, which are inserted with the batch.
type writeTx struct {
	*sql.Tx
	jobs []river.InsertManyParams
}

// enqueue inserts a job when the transaction commits.
func (w *writeTx) enqueue(args river.JobArgs, opts *river.InsertOpts) {
	w.jobs = append(w.jobs, river.InsertManyParams{Args: args, InsertOpts: opts})
}

type writeReq struct {
	ctx  context.Context
	fn   func(ctx context.Context, w *writeTx) error
	err  error
	done chan struct{} // closed once err is final
	lead chan struct{} // closed to make this caller the leader
}

// do runs fn in a write transaction shared with concurrent callers. fn's
// writes commit only if fn returns nil, and nothing fn did is visible to
// others if it fails. fn may run more than once (see runTx), so it must act
// only through w and must not keep w beyond its return.
//
// ctx is checked before fn starts; fn's statements then run to completion
// regardless of ctx, because interrupting a statement would roll back the
// transaction of the whole batch.
func (b *batcher) do(ctx context.Context, fn func(ctx context.Context, w *writeTx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	req := &writeReq{ctx: ctx, fn: fn, done: make(chan struct{}), lead: make(chan struct{})}
	b.mu.Lock()
	b.queue = append(b.queue, req)
	if !b.leading {
		b.leading = true
		close(req.lead)
	}
	b.mu.Unlock()

	select {
	case <-req.done:
		return req.err
	case <-req.lead:
	}

	// Leading: this request is at the head of the queue.
	b.mu.Lock()
	n := min(len(b.queue), maxBatch)
	batch := b.queue[:n:n]
	b.queue = b.queue[n:]
	if len(b.queue) == 0 {
		b.queue = nil // let the finished requests go
	}
	b.mu.Unlock()

	b.run(batch)

	// A batch the database refused for a while (locked past the busy
	// timeout, disk full) fails the requests that queued meanwhile too:
	// each would wait as long again only to fail the same way, so a caller
	// never waits for more than one such batch. The next request to come
	// starts a new batch, which finds out whether the database is back.
	var dropped []*writeReq
	cause := unavailableIn(batch)
	b.mu.Lock()
	if cause != nil {
		dropped, b.queue = b.queue, nil
	}
	if len(b.queue) > 0 {
		close(b.queue[0].lead)
	} else {
		b.leading = false
	}
	b.mu.Unlock()
	for _, r := range dropped {
		r.err = fmt.Errorf("not run, the write before it found the database unavailable: %w", cause)
		close(r.done)
	}
	return req.err
}

// unavailableIn returns the first error of the batch that says the
// database cannot write for now, or nil.
func unavailableIn(batch []*writeReq) error {
	for _, r := range batch {
		if err := unavailable(r.err); errors.Is(err, store.ErrUnavailable) {
			return err
		}
	}
	return nil
}

// run executes a batch in one transaction and finishes every request in it.
// A panic fails the whole batch instead of unwinding the leader: a caller
// that recovers it (an HTTP server does) would otherwise leave the batcher
// without a leader and every later write waiting forever.
func (b *batcher) run(batch []*writeReq) {
	errs := make([]error, len(batch))
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				b.logger.Error("write transaction panicked", "panic", r, "stack", string(debug.Stack()))
				err = fmt.Errorf("write transaction panicked: %v", r)
			}
		}()
		return b.runTx(batch, errs)
	}()
	for i, req := range batch {
		req.err = errs[i]
		if req.err == nil && err != nil {
			req.err = err
		}
		close(req.done)
	}
}

// runTx runs the batch optimistically, every request straight in the shared
// transaction. If one fails, the transaction is rolled back and the batch run
// again without it, each request in a savepoint this time. Savepoints are
// not the default because they cost: SQLite copies every page a savepoint
// modifies into a statement journal first, measured at an eighth of the CPU
// of a delivery. Requests fail rarely (an idempotency conflict, an unknown
// id), and a rerun is correct because a request's function only acts through
// the transaction.
func (b *batcher) runTx(batch []*writeReq, errs []error) error {
	for i, req := range batch {
		errs[i] = req.ctx.Err()
	}
	committed, err := b.attempt(batch, errs, false)
	if err != nil || committed {
		return err
	}
	_, err = b.attempt(batch, errs, true)
	return err
}

// attempt runs the requests that have not failed yet in one transaction and
// reports whether it committed. Without savepoints it stops at the first
// failing request and rolls back; with them it rolls back only that
// request's savepoint and goes on.
func (b *batcher) attempt(batch []*writeReq, errs []error, savepoints bool) (committed bool, err error) {
	// No caller's context may end the shared transaction.
	ctx := context.WithoutCancel(batch[0].ctx)
	connCtx, cancel := context.WithTimeout(ctx, writerWait)
	conn, err := b.db.Conn(connCtx)
	cancel()
	if errors.Is(err, context.DeadlineExceeded) {
		return false, fmt.Errorf("waiting %s for the writer connection: %w: %w", writerWait, store.ErrUnavailable, err)
	}
	if err != nil {
		return false, fmt.Errorf("getting the writer connection: %w", err)
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("beginning transaction: %w", err)
	}
	defer func() {
		if !committed {
			err = errors.Join(err, ignoreDone(tx.Rollback()))
		}
	}()

	w := &writeTx{Tx: tx}
	ran := 0
	for i, req := range batch {
		if errs[i] != nil {
			continue
		}
		if !savepoints {
			if errs[i] = req.fn(context.WithoutCancel(req.ctx), w); errs[i] != nil {
				return false, nil
			}
			ran++
			continue
		}
		if _, err := tx.ExecContext(ctx, `SAVEPOINT write`); err != nil {
			return false, fmt.Errorf("starting savepoint: %w", err)
		}
		jobs := len(w.jobs)
		if errs[i] = req.fn(context.WithoutCancel(req.ctx), w); errs[i] != nil {
			w.jobs = w.jobs[:jobs]
			if _, err := tx.ExecContext(ctx, `ROLLBACK TO write`); err != nil {
				return false, fmt.Errorf("rolling back to savepoint after %w: %w", errs[i], err)
			}
		} else {
			ran++
		}
		if _, err := tx.ExecContext(ctx, `RELEASE write`); err != nil {
			return false, fmt.Errorf("releasing savepoint: %w", err)
		}
	}
	if ran == 0 {
		return false, nil
	}
	if len(w.jobs) > 0 {
		if err := b.insert(ctx, tx, w.jobs); err != nil {
			return false, fmt.Errorf("queueing %d jobs: %w", len(w.jobs), err)
		}
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("committing: %w", err)
	}
	return true, nil
}
