package postgres

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/store"
)

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

// PublishTogether publishes evs as one group, as concurrent PublishEvent
// calls that the combiner put together would be, and returns each one's
// result and error.
func PublishTogether(ctx context.Context, s *Store, evs ...*event.Event) ([]*store.PublishResult, []error) {
	group := make([]*publishReq, len(evs))
	for i, ev := range evs {
		if err := prepareEvent(ev); err != nil {
			panic(err)
		}
		group[i] = &publishReq{ev: ev}
	}
	s.publishGroup(ctx, group)
	results, errs := make([]*store.PublishResult, len(evs)), make([]error, len(evs))
	for i, r := range group {
		results[i], errs[i] = r.res, r.err
	}
	return results, errs
}

// PurgeLockKey is the advisory lock one node's purge holds.
const PurgeLockKey = purgeLockKey
