package postgres

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
)

// gateClass is the first key of the subscription gates (the two-key
// advisory locks, apart from the nodes' dispatchLockClass); the second is a
// hash of the subscription id.
const gateClass int32 = 0x53776247 // "SwbG"

// gateCount is how many gates the subscriptions share (see gateKeys).
const gateCount = 256

// A subscription's gate orders the publishes that add deliveries to it
// against the deletes and disables that cancel its pending deliveries.
// SQLite's one writer ordered them for free. Here a delete or disable could
// otherwise cancel the pending deliveries without seeing the one a
// concurrent publish is adding, leaving it pending for a subscription that
// is gone.
//
// A publish holds the gates of its matches shared until it commits; a
// delete or disable takes the gate exclusively first, so it waits for those
// publishes and its cancel sees their deliveries, and publishes after it
// wait for its commit and then find the subscription gone or disabled (see
// insertDeliveries).
//
// The gates are advisory locks, not row locks: a row lock writes the row
// and, with more than one holder, a multixact, and every publish of a busy
// subscription would do that to the same row (1.1 ms per lock, the
// costliest statement of a delivery in pg_stat_statements). An advisory lock
// lives in the lock table only. Ids share gateCount gates, so a publish to
// thousands of subscriptions holds at most that many locks (PostgreSQL's
// lock table holds 64 per connection by default, shared by all); two
// subscriptions that share a gate cost some waiting while one of them is
// deleted or disabled, and nothing else.
func gateKeys(ids []string) []int32 {
	keys := make([]int32, 0, len(ids))
	for _, id := range ids {
		h := fnv.New32a()
		h.Write([]byte(id))
		keys = append(keys, int32(h.Sum32()%gateCount))
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// Taking several gates in key order keeps two exclusive takers from
// deadlocking. unnest keeps the array's order.
const (
	gateSharedSQL    = `SELECT count(pg_advisory_xact_lock_shared($1::int4, k)) FROM unnest($2::int4[]) AS k`
	gateExclusiveSQL = `SELECT count(pg_advisory_xact_lock($1::int4, k)) FROM unnest($2::int4[]) AS k`
)

// closeGates takes the gates of the subscriptions ids exclusively, until the
// transaction ends: for a delete or disable of them.
func closeGates(ctx context.Context, w *writeTx, ids ...string) error {
	if _, err := w.Exec(ctx, gateExclusiveSQL, gateClass, gateKeys(ids)); err != nil {
		return fmt.Errorf("closing the gate of subscriptions %v: %w", ids, err)
	}
	return nil
}
