package sqlite

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/switchboardhq/switchboard/hub/store"
)

// purgeSQL picks the oldest events past the cutoff that no retry still needs,
// through the primary key (ids are UUIDv7, ordered by creation time; see
// store.IDBefore), so a round with nothing to purge reads one index entry
// instead of every event, and publishing maintains no extra index.
const purgeSQL = `SELECT id FROM events e
	WHERE e.id < ?
		AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.status = 'pending')
	ORDER BY id LIMIT ?`

// Purge deletes up to limit old events without a pending delivery, with
// their deliveries and attempts, in one write transaction.
func (s *Store) Purge(ctx context.Context, before time.Time, limit int) (store.PurgeCounts, error) {
	if limit <= 0 {
		limit = store.PurgeBatch
	}
	var counts store.PurgeCounts
	err := s.write(ctx, func(ctx context.Context, w *writeTx) error {
		// The batcher may run fn again alone after a failed batch.
		counts = store.PurgeCounts{}
		ids, err := selectIDs(ctx, w, purgeSQL, store.IDBefore(before), limit)
		if err != nil {
			return fmt.Errorf("selecting events to purge: %w", err)
		}
		counts.Events, counts.Deliveries, counts.Attempts, err = deleteEvents(ctx, w, ids)
		return err
	})
	if err != nil {
		return store.PurgeCounts{}, fmt.Errorf("purging events before %s: %w", before.Format(time.RFC3339), err)
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
		if err := s.writer.QueryRowContext(ctx,
			`SELECT count(*) FROM connections WHERE consumer_id = ? AND registrations IS NOT NULL`, consumerID,
		).Scan(&registered); err != nil {
			return total, fmt.Errorf("erasing consumer %s: counting registered connections: %w", consumerID, err)
		}
		if registered > 0 {
			return total, fmt.Errorf("erasing consumer %s: %d connection(s) still registered at the provider: %w", consumerID, registered, store.ErrRegistered)
		}
	}
	for {
		var n, d, a int
		err := s.write(ctx, func(ctx context.Context, w *writeTx) error {
			ids, err := selectIDs(ctx, w, `SELECT id FROM events WHERE consumer_id = ? ORDER BY id LIMIT ?`, consumerID, store.PurgeBatch)
			if err != nil {
				return fmt.Errorf("selecting events: %w", err)
			}
			n, d, a, err = deleteEvents(ctx, w, ids)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("erasing consumer %s: %w", consumerID, err)
		}
		total.Events, total.Deliveries, total.Attempts = total.Events+n, total.Deliveries+d, total.Attempts+a
		if n < store.PurgeBatch {
			break
		}
	}
	if !opts.Connections && !opts.Subscriptions {
		return total, nil
	}
	if opts.Connections {
		defer s.tokens.invalidate()
	}
	var conns, subs int
	err = s.write(ctx, func(ctx context.Context, w *writeTx) error {
		conns, subs = 0, 0
		if opts.Connections {
			// Registered ones were refused above; one registered since is
			// kept rather than orphaned at its provider.
			if conns, err = execCount(ctx, w, `DELETE FROM connections WHERE consumer_id = ? AND registrations IS NULL`, consumerID); err != nil {
				return fmt.Errorf("deleting connections: %w", err)
			}
		}
		if opts.Subscriptions {
			if subs, err = execCount(ctx, w, `DELETE FROM subscriptions WHERE consumer_id = ?`, consumerID); err != nil {
				return fmt.Errorf("deleting subscriptions: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return total, fmt.Errorf("erasing consumer %s: %w", consumerID, err)
	}
	total.Connections, total.Subscriptions = conns, subs
	return total, nil
}

func selectIDs(ctx context.Context, w *writeTx, query string, args ...any) ([]string, error) {
	rows, err := w.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("reading row: %w", err)
		}
		ids = append(ids, id)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	return ids, nil
}

// deleteEvents deletes the events ids with their attempts and deliveries,
// counting each (the foreign keys would cascade, but would not count).
func deleteEvents(ctx context.Context, w *writeTx, ids []string) (events, deliveries, attempts int, err error) {
	if len(ids) == 0 {
		return 0, 0, 0, nil
	}
	in := "(" + strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",") + ")"
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	if attempts, err = execCount(ctx, w, `DELETE FROM attempts WHERE event_id IN `+in, args...); err != nil {
		return 0, 0, 0, fmt.Errorf("deleting attempts: %w", err)
	}
	if deliveries, err = execCount(ctx, w, `DELETE FROM deliveries WHERE event_id IN `+in, args...); err != nil {
		return 0, 0, 0, fmt.Errorf("deleting deliveries: %w", err)
	}
	if events, err = execCount(ctx, w, `DELETE FROM events WHERE id IN `+in, args...); err != nil {
		return 0, 0, 0, fmt.Errorf("deleting events: %w", err)
	}
	return events, deliveries, attempts, nil
}

func execCount(ctx context.Context, w *writeTx, query string, args ...any) (int, error) {
	res, err := w.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}
