package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboardhq/switchboard/hub/store"
)

// purgeLockKey makes one node purge at a time: a node whose purge finds the
// lock taken skips its turn (Busy) instead of deleting the same rows.
const purgeLockKey int64 = 0x5377_6264_5072_6765 // "SwbdPrge"

// purgeSQL picks the oldest events past the cutoff that no retry still needs,
// through the primary key (ids are UUIDv7, ordered by creation time; see
// store.IDBefore), adding no index to publishing. FOR UPDATE
// SKIP LOCKED passes over an event a replay is adding a delivery to right
// now (the insert holds a key-share lock on it), so a new pending delivery
// is never deleted with its event.
const purgeSQL = `SELECT id FROM events e
	WHERE e.id < $1
		AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.status = 'pending')
	ORDER BY id LIMIT $2
	FOR UPDATE SKIP LOCKED`

func scanID(r scanner) (string, error) {
	var id string
	return id, r.Scan(&id)
}

// Purge deletes up to limit old events without a pending delivery, with
// their deliveries and attempts, in one transaction under purgeLockKey.
func (s *Store) Purge(ctx context.Context, before time.Time, limit int) (store.PurgeCounts, error) {
	if limit <= 0 {
		limit = store.PurgeBatch
	}
	var counts store.PurgeCounts
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		counts = store.PurgeCounts{}
		var locked bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, purgeLockKey).Scan(&locked); err != nil {
			return fmt.Errorf("taking the purge lock: %w", err)
		}
		if !locked {
			counts.Busy = true
			return nil
		}
		ids, err := queryAll(ctx, tx, scanID, purgeSQL, store.IDBefore(before), limit)
		if err != nil {
			return fmt.Errorf("selecting events to purge: %w", err)
		}
		counts.Events, counts.Deliveries, counts.Attempts, err = deleteEvents(ctx, tx, ids)
		return err
	})
	if err != nil {
		return store.PurgeCounts{}, fmt.Errorf("purging events before %s: %w", before.Format(time.RFC3339), unavailable(err))
	}
	return counts, nil
}

// EraseConsumer deletes one consumer's events (with their deliveries and
// attempts) batch by batch, then its connections and subscriptions if asked.
func (s *Store) EraseConsumer(ctx context.Context, sc store.Scope, opts store.EraseOptions) (store.EraseCounts, error) {
	consumerID, err := store.CheckErase(sc)
	if err != nil {
		return store.EraseCounts{}, err
	}
	var total store.EraseCounts
	if opts.Connections {
		var registered int
		if err := s.pool.QueryRow(ctx,
			`SELECT count(*) FROM connections WHERE consumer_id = $1 AND registrations IS NOT NULL`, consumerID,
		).Scan(&registered); err != nil {
			return total, fmt.Errorf("erasing consumer %s: counting registered connections: %w", consumerID, unavailable(err))
		}
		if registered > 0 {
			return total, fmt.Errorf("erasing consumer %s: %d connection(s) still registered at the provider: %w", consumerID, registered, store.ErrRegistered)
		}
	}
	for {
		var n, d, a int
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			ids, err := queryAll(ctx, tx, scanID,
				`SELECT id FROM events WHERE consumer_id = $1 ORDER BY id LIMIT $2 FOR UPDATE`, consumerID, store.PurgeBatch)
			if err != nil {
				return fmt.Errorf("selecting events: %w", err)
			}
			n, d, a, err = deleteEvents(ctx, tx, ids)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("erasing consumer %s: %w", consumerID, unavailable(err))
		}
		total.Events, total.Deliveries, total.Attempts = total.Events+n, total.Deliveries+d, total.Attempts+a
		if n < store.PurgeBatch {
			break
		}
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		total.Connections, total.Subscriptions = 0, 0
		if opts.Connections {
			// Registered ones were refused above; one registered since is
			// kept rather than orphaned at its provider.
			tag, err := tx.Exec(ctx, `DELETE FROM connections WHERE consumer_id = $1 AND registrations IS NULL`, consumerID)
			if err != nil {
				return fmt.Errorf("deleting connections: %w", err)
			}
			total.Connections = int(tag.RowsAffected())
		}
		if opts.Subscriptions {
			tag, err := tx.Exec(ctx, `DELETE FROM subscriptions WHERE consumer_id = $1`, consumerID)
			if err != nil {
				return fmt.Errorf("deleting subscriptions: %w", err)
			}
			total.Subscriptions = int(tag.RowsAffected())
		}
		return nil
	})
	if err != nil {
		return total, fmt.Errorf("erasing consumer %s: %w", consumerID, unavailable(err))
	}
	return total, nil
}

// deleteEvents deletes the events ids with their attempts and deliveries,
// counting each (the foreign keys would cascade, but would not count).
func deleteEvents(ctx context.Context, tx pgx.Tx, ids []string) (events, deliveries, attempts int, err error) {
	if len(ids) == 0 {
		return 0, 0, 0, nil
	}
	tag, err := tx.Exec(ctx, `DELETE FROM attempts WHERE event_id = ANY($1)`, ids)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("deleting attempts: %w", err)
	}
	attempts = int(tag.RowsAffected())
	if tag, err = tx.Exec(ctx, `DELETE FROM deliveries WHERE event_id = ANY($1)`, ids); err != nil {
		return 0, 0, 0, fmt.Errorf("deleting deliveries: %w", err)
	}
	deliveries = int(tag.RowsAffected())
	if tag, err = tx.Exec(ctx, `DELETE FROM events WHERE id = ANY($1)`, ids); err != nil {
		return 0, 0, 0, fmt.Errorf("deleting events: %w", err)
	}
	return int(tag.RowsAffected()), deliveries, attempts, nil
}
