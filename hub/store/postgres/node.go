package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
)

// dispatchLockClass is the first key of the advisory locks (the two-key
// form, apart from the one-key migration and sweep locks) by which nodes
// running a dispatcher say they are alive; the second key is the node's
// number, stamped on the deliveries its dispatcher takes.
const dispatchLockClass int32 = 0x53776264 // "Swbd"

// Server-side TCP keepalive of the lock's session: if a node's host dies
// without closing the connection, PostgreSQL ends the session (and so
// releases the lock) after about idle + interval × count seconds instead of
// the system default of hours.
const (
	lockKeepaliveIdle     = "30"
	lockKeepaliveInterval = "10"
	lockKeepaliveCount    = "3"
)

// lockCheckTimeout bounds keepNode's check of a lock whose connection may
// be silently gone.
const lockCheckTimeout = 5 * time.Second

// nodeLock is a node's dispatcher lock: a session-level advisory lock held
// on a connection of its own (not the pool's, which come and go) for as long
// as the node's dispatcher may hold first tries.
//
// The embedded store sweeps untried deliveries at start knowing no other
// process can be trying them. Here other nodes may be: a node starting
// while another's dispatcher is mid-way would queue a second first try of
// everything that dispatcher holds. Stamping deliveries with the number of
// the node that took them, and that number being locked while the node
// lives, lets the sweep tell stranded deliveries (their node's session is
// gone) from ones in hand.
type nodeLock struct {
	conn *pgx.Conn
	id   int32
}

// lockNode connects and takes a free node number.
func (s *Store) lockNode(ctx context.Context) (*nodeLock, error) {
	conn, err := s.connectForLock(ctx)
	if err != nil {
		return nil, err
	}
	// Random numbers rarely collide; a taken one is simply passed over.
	for range 16 {
		id := rand.Int32N(math.MaxInt32) + 1
		ok, err := tryLock(ctx, conn, id)
		if err != nil {
			return nil, errors.Join(err, conn.Close(ctx))
		}
		if ok {
			return &nodeLock{conn: conn, id: id}, nil
		}
	}
	return nil, errors.Join(errors.New("taking the dispatcher lock: no free node number"), conn.Close(ctx))
}

// relockNode connects and takes node number id again, for a node whose
// lock's session ended while the node lives on.
func (s *Store) relockNode(ctx context.Context, id int32) (*nodeLock, error) {
	conn, err := s.connectForLock(ctx)
	if err != nil {
		return nil, err
	}
	ok, err := tryLock(ctx, conn, id)
	switch {
	case err != nil:
		return nil, errors.Join(err, conn.Close(ctx))
	case !ok:
		return nil, errors.Join(fmt.Errorf("taking the dispatcher lock: node number %d is taken", id), conn.Close(ctx))
	}
	return &nodeLock{conn: conn, id: id}, nil
}

// connectForLock opens the session a node lock lives in.
func (s *Store) connectForLock(ctx context.Context) (*pgx.Conn, error) {
	cfg := s.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["tcp_keepalives_idle"] = lockKeepaliveIdle
	cfg.RuntimeParams["tcp_keepalives_interval"] = lockKeepaliveInterval
	cfg.RuntimeParams["tcp_keepalives_count"] = lockKeepaliveCount
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting for the dispatcher lock: %w", unavailable(err))
	}
	return conn, nil
}

func tryLock(ctx context.Context, conn *pgx.Conn, id int32) (bool, error) {
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1::int4, $2::int4)`, dispatchLockClass, id).Scan(&ok); err != nil {
		return false, fmt.Errorf("taking the dispatcher lock: %w", unavailable(err))
	}
	return ok, nil
}

// held reports whether the lock's session is alive and holds the lock.
func (n *nodeLock) held(ctx context.Context) (bool, error) {
	var ok bool
	err := n.conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()
			AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 2)`,
		int64(dispatchLockClass), int64(n.id)).Scan(&ok)
	return ok, err
}

// keepNode checks, before each sweep, that this node still holds its
// dispatcher lock. The lock lives in a session of its own; should that
// session end while the process lives (the server restarted, the
// connection dropped), every node's sweep would take the deliveries this
// node's dispatcher is trying, and try them a second time. It takes the
// same number again on a new session, which puts the deliveries stamped
// with it back in hand; if it cannot, first tries go through the queue
// until a later check gets a lock again. Between the loss and the next
// check (SweepInterval), first tries may be made twice.
func (s *Store) keepNode(ctx context.Context) {
	s.mu.Lock()
	node, dispatching := s.node, s.dispatch != nil
	s.mu.Unlock()
	if !dispatching {
		return
	}
	var (
		fresh *nodeLock
		err   error
	)
	if node != nil {
		hctx, cancel := context.WithTimeout(ctx, lockCheckTimeout)
		held, herr := node.held(hctx)
		cancel()
		if herr == nil && held {
			return
		}
		if ctx.Err() != nil {
			return
		}
		s.logger.ErrorContext(ctx, "this node's dispatcher lock is gone; taking it again", "node", node.id, "error", herr)
		fresh, err = s.relockNode(ctx, node.id)
	} else {
		fresh, err = s.lockNode(ctx)
	}
	s.mu.Lock()
	if !s.running || s.node != node {
		s.mu.Unlock() // stopped meanwhile
		_ = fresh.release(context.WithoutCancel(ctx))
		return
	}
	s.node = fresh // nil if no lock was taken
	s.mu.Unlock()
	if err != nil && node != nil {
		s.logger.ErrorContext(ctx, "no dispatcher lock: first tries go through the queue until one is taken", "error", err)
	}
	if err == nil && node == nil {
		s.logger.InfoContext(ctx, "dispatcher lock taken again: first tries are made in process", "node", fresh.id)
	}
	_ = node.release(context.WithoutCancel(ctx)) // its session is gone already
}

// release ends the lock's session, which releases the lock. A nil lock
// releases nothing.
func (n *nodeLock) release(ctx context.Context) error {
	if n == nil {
		return nil
	}
	if err := n.conn.Close(ctx); err != nil {
		return fmt.Errorf("closing the dispatcher lock's connection: %w", err)
	}
	return nil
}
