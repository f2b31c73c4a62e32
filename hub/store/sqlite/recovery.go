package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/job"
	"github.com/switchboardhq/switchboard/hub/store"
)

const recoveryColumns = `id, subscription_id, consumer_id, status, since, until, total, done, error, cursor, created_at, updated_at`

func scanRecovery(row scanner) (*store.Recovery, error) {
	var (
		r                              store.Recovery
		since, until, created, updated int64
	)
	if err := row.Scan(&r.ID, &r.SubscriptionID, &r.ConsumerID, &r.Status, &since, &until, &r.Total, &r.Done,
		&r.Error, &r.Cursor, &created, &updated); err != nil {
		return nil, err
	}
	r.Since, r.Until = fromMicros(since), fromMicros(until)
	r.CreatedAt, r.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &r, nil
}

// querier is what both the read pool and a write transaction offer.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// eligibleEvents reads up to limit events after cursor of sub's recovery
// range [since, until) with no delivered or pending delivery to sub, oldest
// first, and returns those sub takes now plus how many it read. Test sends
// are never recovered: they went to one subscription on purpose.
func eligibleEvents(ctx context.Context, q querier, sub *store.SealedSubscription, since, until time.Time, cursor string, limit int) (ids []string, read int, last string, err error) {
	lo, hi := store.RecoveryIDRange(since, until)
	w := newWhere()
	w.Add("id", ">=", lo)
	w.Add("id", "<", hi)
	w.Add("id", ">", cursor)
	w.Add("created_at", ">=", micros(since))
	w.Add("created_at", "<", micros(until))
	w.Add("event_source", "<>", event.SourceTest)
	// Operational events are not recovered: one may be about sub itself.
	w.Add("event_source", "<>", event.SourceHub)
	if sub.ConsumerID != "" {
		w.Add("consumer_id", "=", sub.ConsumerID)
	}
	w.Cond(`NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id AND d.subscription_id = %s
		AND d.status IN ('delivered', 'pending'))`, sub.ID)
	args := append(w.Args(), limit)
	rows, err := q.QueryContext(ctx, `SELECT id, event_type, base_event_type, unified_api, service_id, consumer_id
		FROM events`+w.Clause()+` ORDER BY id LIMIT ?`, args...)
	if err != nil {
		return nil, 0, "", fmt.Errorf("reading events to recover for subscription %s: %w", sub.ID, err)
	}
	defer rows.Close()
	matcher := sub.Subscriber()
	for rows.Next() {
		var ev event.Event
		if err := rows.Scan(&ev.ID, &ev.EventType, &ev.BaseEventType, &ev.UnifiedAPI, &ev.ServiceID, &ev.ConsumerID); err != nil {
			return nil, 0, "", fmt.Errorf("reading event to recover: %w", err)
		}
		read++
		last = ev.ID
		if matcher.Matches(&ev) {
			ids = append(ids, ev.ID)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, 0, "", fmt.Errorf("reading events to recover for subscription %s: %w", sub.ID, err)
	}
	return ids, read, last, nil
}

// CountRecoverable counts the eligible events, stopping at limit+1.
func (s *Store) CountRecoverable(ctx context.Context, sc store.Scope, subscriptionID string, since, until time.Time, limit int) (int, error) {
	w := byID(subscriptionID, "consumer_id", sc)
	sub, err := scanSubscription(s.reader.QueryRowContext(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions`+w.Clause(), w.Args()...))
	if errors.Is(err, sql.ErrNoRows) {
		return 0, notFound("subscription", subscriptionID)
	}
	if err != nil {
		return 0, fmt.Errorf("loading subscription %s: %w", subscriptionID, err)
	}
	since = store.RecoveryStart(since, sub.CreatedAt)
	return store.CountRecoverablePages(limit, func(cursor string, page int) (int, int, string, error) {
		ids, read, last, err := eligibleEvents(ctx, s.reader, sub, since, until, cursor, page)
		if err != nil {
			return 0, 0, "", err
		}
		return len(ids), read, last, nil
	})
}

// StartRecovery stores a running recovery and its job.
func (s *Store) StartRecovery(ctx context.Context, sc store.Scope, r *store.Recovery) error {
	if _, err := s.queue(); err != nil {
		return err
	}
	now := store.Now()
	subWhere := byID(r.SubscriptionID, "consumer_id", sc)
	err := s.write(ctx, func(ctx context.Context, w *writeTx) error {
		sub, err := scanSubscription(w.QueryRowContext(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions`+subWhere.Clause(), subWhere.Args()...))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("subscription", r.SubscriptionID)
		}
		if err != nil {
			return fmt.Errorf("loading subscription %s: %w", r.SubscriptionID, err)
		}
		var running string
		err = w.QueryRowContext(ctx, `SELECT id FROM recoveries WHERE subscription_id = ? AND status = 'running'`, r.SubscriptionID).Scan(&running)
		switch {
		case err == nil:
			return fmt.Errorf("recovery %s: %w", running, store.ErrRecoveryRunning)
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("looking for a running recovery: %w", err)
		}
		r.ConsumerID, r.Status, r.Done, r.Cursor, r.Error = sub.ConsumerID, store.RecoveryRunning, 0, "", ""
		r.Since, r.Until = store.RecoveryStart(r.Since, sub.CreatedAt), store.Time(r.Until)
		r.CreatedAt, r.UpdatedAt = now, now
		if _, err := w.ExecContext(ctx, `INSERT INTO recoveries (`+recoveryColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.SubscriptionID, r.ConsumerID, r.Status, micros(r.Since), micros(r.Until), r.Total, r.Done,
			r.Error, r.Cursor, micros(now), micros(now)); err != nil {
			return fmt.Errorf("inserting recovery %s: %w", r.ID, err)
		}
		w.enqueue(job.Recover{RecoveryID: r.ID}, nil)
		return nil
	})
	if err != nil {
		return fmt.Errorf("starting a recovery of subscription %s: %w", r.SubscriptionID, err)
	}
	return nil
}

// GetRecovery loads one recovery in sc.
func (s *Store) GetRecovery(ctx context.Context, sc store.Scope, id string) (*store.Recovery, error) {
	w := byID(id, "consumer_id", sc)
	r, err := scanRecovery(s.reader.QueryRowContext(ctx, `SELECT `+recoveryColumns+` FROM recoveries`+w.Clause(), w.Args()...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("recovery", id)
	}
	if err != nil {
		return nil, fmt.Errorf("loading recovery %s: %w", id, err)
	}
	return r, nil
}

// RecoverBatch works the next batch of a running recovery.
func (s *Store) RecoverBatch(ctx context.Context, id string) (*store.Recovery, error) {
	if _, err := s.queue(); err != nil {
		return nil, err
	}
	var out *store.Recovery
	err := s.write(ctx, func(ctx context.Context, w *writeTx) error {
		r, err := scanRecovery(w.QueryRowContext(ctx, `SELECT `+recoveryColumns+` FROM recoveries WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("recovery", id)
		}
		if err != nil {
			return fmt.Errorf("loading recovery %s: %w", id, err)
		}
		out = r
		if r.Status != store.RecoveryRunning {
			return nil
		}
		now := store.Now()
		sub, err := scanSubscription(w.QueryRowContext(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions WHERE id = ?`, r.SubscriptionID))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			r.Status, r.Error = store.RecoveryFailed, "the subscription was deleted"
		case err != nil:
			return fmt.Errorf("loading subscription %s: %w", r.SubscriptionID, err)
		case sub.Status != store.StatusEnabled:
			r.Status, r.Error = store.RecoveryFailed, "the subscription was disabled"
		default:
			ids, read, last, err := eligibleEvents(ctx, w, sub, r.Since, r.Until, r.Cursor, min(store.RecoveryBatch, store.MaxRecoveryEvents-r.Done))
			if err != nil {
				return err
			}
			for _, evID := range ids {
				if _, err := insertDeliveries(ctx, w, evID, []string{sub.ID}, now, true); err != nil {
					return err
				}
			}
			r.Done += len(ids)
			if last != "" {
				r.Cursor = last
			}
			if store.RecoveryDone(r, read) {
				r.Status = store.RecoveryCompleted
			}
		}
		r.UpdatedAt = now
		if _, err := w.ExecContext(ctx, `UPDATE recoveries SET status = ?, done = ?, error = ?, cursor = ?, updated_at = ? WHERE id = ?`,
			r.Status, r.Done, r.Error, r.Cursor, micros(now), r.ID); err != nil {
			return fmt.Errorf("updating recovery %s: %w", r.ID, err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("recovering a batch of recovery %s: %w", id, err)
	}
	return out, nil
}

// FailRecovery marks a running recovery failed.
func (s *Store) FailRecovery(ctx context.Context, id, reason string) error {
	err := s.write(ctx, func(ctx context.Context, w *writeTx) error {
		_, err := w.ExecContext(ctx, `UPDATE recoveries SET status = 'failed', error = ?, updated_at = ?
			WHERE id = ? AND status = 'running'`, reason, micros(store.Now()), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("failing recovery %s: %w", id, err)
	}
	return nil
}
