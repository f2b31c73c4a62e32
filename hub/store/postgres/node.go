package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

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
	cfg := s.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["tcp_keepalives_idle"] = lockKeepaliveIdle
	cfg.RuntimeParams["tcp_keepalives_interval"] = lockKeepaliveInterval
	cfg.RuntimeParams["tcp_keepalives_count"] = lockKeepaliveCount
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting for the dispatcher lock: %w", unavailable(err))
	}
	// Random numbers rarely collide; a taken one is simply passed over.
	for range 16 {
		id := rand.Int32N(math.MaxInt32) + 1
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1::int4, $2::int4)`, dispatchLockClass, id).Scan(&ok); err != nil {
			return nil, errors.Join(fmt.Errorf("taking the dispatcher lock: %w", unavailable(err)), conn.Close(ctx))
		}
		if ok {
			return &nodeLock{conn: conn, id: id}, nil
		}
	}
	return nil, errors.Join(errors.New("taking the dispatcher lock: no free node number"), conn.Close(ctx))
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
