package postgres

import "github.com/jackc/pgx/v5/pgxpool"

// Internals the external tests (package postgres_test, which pgtest's
// import of this package requires) look at.

// PoolOf returns the store's connection pool.
func PoolOf(s *Store) *pgxpool.Pool { return s.pool }

// Unavailable is unavailable.
var Unavailable = unavailable

// DispatcherNode returns the number of the node lock held while a
// dispatcher runs, 0 without one.
func DispatcherNode(s *Store) int32 {
	_, node := s.dispatcher()
	return node
}

// DispatchLockClass is the first key of the nodes' advisory locks.
const DispatchLockClass = dispatchLockClass
