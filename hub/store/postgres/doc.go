// Package postgres is the distributed store: the hub's tables and River's
// job queue in one PostgreSQL database (pgx/v5 pool, River through
// riverpgxv5), shared by any number of `switchboard serve` nodes. It passes
// the same conformance suite (store/storetest) as the embedded SQLite store
// and behaves the same way; what differs follows from PostgreSQL having
// many writers and the store having many nodes:
//
//   - No single writer. SQLite's store funnels every write through one
//     connection and batches concurrent transactions into shared commits
//     (sqlite's batch.go); here each write is a plain pgx transaction on a
//     pool, and the order SQLite got for free is taken with locks where
//     correctness needs it: a dedupe key is claimed with INSERT ... ON
//     CONFLICT, so concurrent publishes of one key store one event; a
//     publish holds its matched subscriptions' gates (advisory locks,
//     gate.go) shared, so a concurrent delete or disable, which closes the
//     gate, cancels every delivery the publish adds; RecordOutcomes touches
//     subscriptions and then deliveries in id order, so health counters
//     lose no update and concurrent batches never deadlock, and it locks or
//     writes a subscription's row only for a failure, a disable or a
//     success that changes its health, so the outcomes of a healthy
//     subscription do not queue for its row.
//   - No statement cache: pgx prepares and caches statements per connection
//     itself.
//   - No connection cache. The SQLite store may keep inbound connections in
//     memory because one process makes every write and invalidates it;
//     here an invalidation would be node-local, and another node's update
//     or delete would go unseen.
//   - No reset of orphaned jobs at open. On one node a job left running at
//     start was cut off by a crash; here it may be running on another node.
//     River's rescuer (QueueConfig.RescueStuckJobsAfter) retries jobs whose
//     node died.
//   - Migrations run under a PostgreSQL advisory lock, so nodes starting
//     together against a fresh database take turns instead of racing.
//   - The sweep of deliveries a dispatcher left untried runs at StartQueue
//     and then every SweepInterval, and skips those whose dispatching node
//     is still alive (it holds an advisory lock for as long as its
//     dispatcher runs, and takes it again if its session ends; see
//     nodeLock), so no node repeats the first tries in another live node's
//     hands, and a dead node's are queued by the others, as are a live
//     node's untried for StrandedAfter.
//   - Transient failures (connection refused or lost, server shutting
//     down or starting, too many connections, disk full, lock_timeout,
//     statement_timeout, deadlock) are reported as store.ErrUnavailable,
//     reads included.
package postgres
