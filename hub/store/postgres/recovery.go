package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/job"
	"github.com/switchboardhq/switchboard/hub/store"
)

const recoveryColumns = `id, subscription_id, consumer_id, status, since, until, total, done, error, cursor, created_at, updated_at`

func scanRecovery(row scanner) (*store.Recovery, error) {
	var r store.Recovery
	if err := row.Scan(&r.ID, &r.SubscriptionID, &r.ConsumerID, &r.Status, &r.Since, &r.Until, &r.Total, &r.Done,
		&r.Error, &r.Cursor, &r.CreatedAt, &r.UpdatedAt); err != nil {
		return nil, err
	}
	r.Since, r.Until = store.Time(r.Since), store.Time(r.Until)
	r.CreatedAt, r.UpdatedAt = store.Time(r.CreatedAt), store.Time(r.UpdatedAt)
	return &r, nil
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
	w.Add("created_at", ">=", since)
	w.Add("created_at", "<", until)
	w.Add("event_source", "<>", event.SourceTest)
	// Operational events are not recovered: one may be about sub itself.
	w.Add("event_source", "<>", event.SourceHub)
	if sub.ConsumerID != "" {
		w.Add("consumer_id", "=", sub.ConsumerID)
	}
	w.Cond(`NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id AND d.subscription_id = %s
		AND d.status IN ('delivered', 'pending'))`, sub.ID)
	args := append(w.Args(), limit)
	rows, err := q.Query(ctx, `SELECT id, event_type, base_event_type, unified_api, service_id, consumer_id
		FROM events`+w.Clause()+fmt.Sprintf(` ORDER BY id LIMIT $%d`, len(args)), args...)
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
	sub, err := scanSubscription(s.pool.QueryRow(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions`+w.Clause(), w.Args()...))
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, notFound("subscription", subscriptionID)
	}
	if err != nil {
		return 0, fmt.Errorf("loading subscription %s: %w", subscriptionID, unavailable(err))
	}
	since = store.RecoveryStart(since, sub.CreatedAt)
	return store.CountRecoverablePages(limit, func(cursor string, page int) (int, int, string, error) {
		ids, read, last, err := eligibleEvents(ctx, s.pool, sub, since, until, cursor, page)
		if err != nil {
			return 0, 0, "", unavailable(err)
		}
		return len(ids), read, last, nil
	})
}

// StartRecovery stores a running recovery and its job. The partial unique
// index on running recoveries settles two starts racing on two nodes.
func (s *Store) StartRecovery(ctx context.Context, sc store.Scope, r *store.Recovery) error {
	if _, err := s.queue(); err != nil {
		return err
	}
	now := store.Now()
	subWhere := byID(r.SubscriptionID, "consumer_id", sc)
	err := s.write(ctx, func(ctx context.Context, w *writeTx) error {
		sub, err := scanSubscription(w.QueryRow(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions`+subWhere.Clause(), subWhere.Args()...))
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("subscription", r.SubscriptionID)
		}
		if err != nil {
			return fmt.Errorf("loading subscription %s: %w", r.SubscriptionID, err)
		}
		r.ConsumerID, r.Status, r.Done, r.Cursor, r.Error = sub.ConsumerID, store.RecoveryRunning, 0, "", ""
		r.Since, r.Until = store.RecoveryStart(r.Since, sub.CreatedAt), store.Time(r.Until)
		r.CreatedAt, r.UpdatedAt = now, now
		if _, err := w.Exec(ctx, `INSERT INTO recoveries (`+recoveryColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			r.ID, r.SubscriptionID, r.ConsumerID, r.Status, r.Since, r.Until, r.Total, r.Done,
			r.Error, r.Cursor, now, now); err != nil {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "recoveries_running" {
				return store.ErrRecoveryRunning
			}
			return fmt.Errorf("inserting recovery %s: %w", r.ID, err)
		}
		w.enqueue(job.Recover{RecoveryID: r.ID}, nil)
		return nil
	})
	if err != nil {
		return fmt.Errorf("starting a recovery of subscription %s: %w", r.SubscriptionID, unavailable(err))
	}
	return nil
}

// GetRecovery loads one recovery in sc.
func (s *Store) GetRecovery(ctx context.Context, sc store.Scope, id string) (*store.Recovery, error) {
	w := byID(id, "consumer_id", sc)
	r, err := scanRecovery(s.pool.QueryRow(ctx, `SELECT `+recoveryColumns+` FROM recoveries`+w.Clause(), w.Args()...))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("recovery", id)
	}
	if err != nil {
		return nil, fmt.Errorf("loading recovery %s: %w", id, unavailable(err))
	}
	return r, nil
}

// RecoverBatch works the next batch of a running recovery. The recovery's
// row is locked for the batch, so two runs of its job (a rescued one and
// its successor) never read the same cursor.
func (s *Store) RecoverBatch(ctx context.Context, id string) (*store.Recovery, error) {
	if _, err := s.queue(); err != nil {
		return nil, err
	}
	var out *store.Recovery
	err := s.write(ctx, func(ctx context.Context, w *writeTx) error {
		r, err := scanRecovery(w.QueryRow(ctx, `SELECT `+recoveryColumns+` FROM recoveries WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
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
		sub, err := scanSubscription(w.QueryRow(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions WHERE id = $1`, r.SubscriptionID))
		switch {
		case errors.Is(err, pgx.ErrNoRows):
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
			want := make([]newDelivery, len(ids))
			for i, evID := range ids {
				want[i] = newDelivery{eventID: evID, subID: sub.ID}
			}
			deliveryOf, err := insertDeliveries(ctx, w, want, now)
			if err != nil {
				return err
			}
			for _, evID := range ids {
				if _, ok := deliveryOf[[2]string{evID, sub.ID}]; ok {
					w.enqueue(job.Fanout{EventID: evID}, store.FanoutInsertOpts())
				}
			}
			r.Done += len(deliveryOf)
			if last != "" {
				r.Cursor = last
			}
			if store.RecoveryDone(r, read) {
				r.Status = store.RecoveryCompleted
			}
		}
		r.UpdatedAt = now
		if _, err := w.Exec(ctx, `UPDATE recoveries SET status = $1, done = $2, error = $3, cursor = $4, updated_at = $5 WHERE id = $6`,
			r.Status, r.Done, r.Error, r.Cursor, now, r.ID); err != nil {
			return fmt.Errorf("updating recovery %s: %w", r.ID, err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("recovering a batch of recovery %s: %w", id, unavailable(err))
	}
	return out, nil
}

// FailRecovery marks a running recovery failed.
func (s *Store) FailRecovery(ctx context.Context, id, reason string) error {
	err := s.write(ctx, func(ctx context.Context, w *writeTx) error {
		_, err := w.Exec(ctx, `UPDATE recoveries SET status = 'failed', error = $1, updated_at = $2
			WHERE id = $3 AND status = 'running'`, reason, store.Now(), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("failing recovery %s: %w", id, unavailable(err))
	}
	return nil
}
