package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/switchboardhq/switchboard/hub/store"
)

const subscriptionColumns = `id, description, unified_api, status, disabled_reason, delivery_url,
	events, consumer_id, retry_schedule, secret_sealed, previous_secret_sealed,
	previous_secret_expires_at, fail_streak, fail_streak_started_at, last_failed_at,
	last_succeeded_at, created_at, updated_at, delivery_format, signing_key_sealed`

// subscriptionRow holds a subscriptions row while it is scanned.
type subscriptionRow struct {
	sub                                    store.SealedSubscription
	events                                 string
	retry                                  sql.NullString
	prevExpires, streakStarted, lastFailed sql.NullInt64
	lastSucceeded                          sql.NullInt64
	created, updated                       int64
}

func (r *subscriptionRow) dest() []any {
	s := &r.sub
	return []any{&s.ID, &s.Description, &s.UnifiedAPI, &s.Status, &s.DisabledReason, &s.DeliveryURL,
		&r.events, &s.ConsumerID, &r.retry, &s.SealedSecret, &s.SealedPrevious,
		&r.prevExpires, &s.FailStreak, &r.streakStarted, &r.lastFailed,
		&r.lastSucceeded, &r.created, &r.updated, &s.DeliveryFormat, &s.SealedSigningKey}
}

func (r *subscriptionRow) subscription() (*store.SealedSubscription, error) {
	sub := &r.sub
	if err := json.Unmarshal([]byte(r.events), &sub.Events); err != nil {
		return nil, fmt.Errorf("reading events of subscription %s: %w", sub.ID, err)
	}
	if r.retry.Valid {
		if err := json.Unmarshal([]byte(r.retry.String), &sub.RetrySchedule); err != nil {
			return nil, fmt.Errorf("reading retry schedule of subscription %s: %w", sub.ID, err)
		}
	}
	sub.PreviousSecretExpiresAt = fromNullMicros(r.prevExpires)
	sub.FailStreakStartedAt = fromNullMicros(r.streakStarted)
	sub.LastFailedAt = fromNullMicros(r.lastFailed)
	sub.LastSucceededAt = fromNullMicros(r.lastSucceeded)
	sub.CreatedAt = fromMicros(r.created)
	sub.UpdatedAt = fromMicros(r.updated)
	return sub, nil
}

func scanSubscription(row scanner) (*store.SealedSubscription, error) {
	var r subscriptionRow
	if err := row.Scan(r.dest()...); err != nil {
		return nil, err
	}
	return r.subscription()
}

// subscriptionArgs normalises sub's times and returns the values of every
// column but id and created_at, in subscriptionColumns order, with the
// secrets sealed.
func (s *Store) subscriptionArgs(sub *store.Subscription) ([]any, error) {
	events, err := jsonList(sub.Events)
	if err != nil {
		return nil, fmt.Errorf("encoding events of subscription %s: %w", sub.ID, err)
	}
	var retry any
	if sub.RetrySchedule != nil {
		b, err := json.Marshal(sub.RetrySchedule)
		if err != nil {
			return nil, fmt.Errorf("encoding retry schedule of subscription %s: %w", sub.ID, err)
		}
		retry = string(b)
	}
	secret, previous, err := store.SealSubscription(s.sealer, sub)
	if err != nil {
		return nil, err
	}
	return []any{sub.Description, sub.UnifiedAPI, sub.Status, sub.DisabledReason, sub.DeliveryURL,
		events, sub.ConsumerID, retry, secret, previous,
		nullMicros(sub.PreviousSecretExpiresAt), sub.FailStreak, nullMicros(sub.FailStreakStartedAt), nullMicros(sub.LastFailedAt),
		nullMicros(sub.LastSucceededAt)}, nil
}

// CreateSubscription stores sub, filling ID, CreatedAt and UpdatedAt.
func (s *Store) CreateSubscription(ctx context.Context, sc store.Scope, sub *store.Subscription) error {
	if err := store.CheckScope(sc, "creating a subscription", sub.ConsumerID); err != nil {
		return err
	}
	if sub.ID == "" {
		sub.ID = store.NewID()
	}
	if sub.CreatedAt.IsZero() {
		sub.CreatedAt = store.Now()
	}
	sub.CreatedAt = store.Time(sub.CreatedAt)
	sub.UpdatedAt = sub.CreatedAt
	args, err := s.subscriptionArgs(sub)
	if err != nil {
		return err
	}
	args = append([]any{sub.ID}, args...)
	format, key, err := store.SealFormat(s.sealer, sub)
	if err != nil {
		return err
	}
	args = append(args, micros(sub.CreatedAt), micros(sub.UpdatedAt), format, key)
	_, err = s.writer.ExecContext(ctx, `INSERT INTO subscriptions (`+subscriptionColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
	if err != nil {
		return fmt.Errorf("inserting subscription %s: %w", sub.ID, unavailable(err))
	}
	return nil
}

// GetSubscription loads one subscription in sc with its secrets opened.
func (s *Store) GetSubscription(ctx context.Context, sc store.Scope, id string) (*store.Subscription, error) {
	w := byID(id, "consumer_id", sc)
	sealed, err := scanSubscription(s.reader.QueryRowContext(ctx,
		`SELECT `+subscriptionColumns+` FROM subscriptions`+w.Clause(), w.Args()...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("subscription", id)
	}
	if err != nil {
		return nil, fmt.Errorf("loading subscription %s: %w", id, err)
	}
	return sealed.Open(s.sealer)
}

// ListSubscriptions lists the subscriptions in sc newest first.
func (s *Store) ListSubscriptions(ctx context.Context, sc store.Scope, p store.Page) ([]*store.Subscription, error) {
	w := newWhere()
	w.Scope("consumer_id", sc)
	query, args, reverse := w.Page(`SELECT `+subscriptionColumns+` FROM subscriptions`, p)
	sealed, err := queryAll(ctx, s.reader, scanSubscription, query, args...)
	if err != nil {
		return nil, fmt.Errorf("listing subscriptions: %w", err)
	}
	out := make([]*store.Subscription, 0, len(sealed))
	for _, sub := range sealed {
		opened, err := sub.Open(s.sealer)
		if err != nil {
			return nil, err
		}
		out = append(out, opened)
	}
	return store.Ordered(out, reverse), nil
}

// UpdateSubscription writes every mutable field of sub. Disabling a
// subscription cancels its pending deliveries, as deleting it does: nothing
// more will be sent to it.
func (s *Store) UpdateSubscription(ctx context.Context, sc store.Scope, sub *store.Subscription) error {
	if err := store.CheckScope(sc, "updating a subscription", sub.ConsumerID); err != nil {
		return err
	}
	sub.UpdatedAt = store.Now()
	args, err := s.subscriptionArgs(sub)
	if err != nil {
		return err
	}
	// Only the configuration is written. The health fields belong to
	// RecordOutcomes, which may run between this caller's read and write;
	// they are reset only when this update re-enables the subscription.
	// Secrets that did not open stay sealed as they are, unless replaced.
	keep := sub.KeepsSealedSecrets()
	format, key, err := store.SealFormat(s.sealer, sub)
	if err != nil {
		return err
	}
	args = append(args[:11], micros(sub.UpdatedAt), sub.ID)
	scope := newWhere()
	scope.Scope("consumer_id", sc)
	return s.write(ctx, func(ctx context.Context, w *writeTx) error {
		var (
			created             int64
			streakStart, failed sql.NullInt64
			succeeded           sql.NullInt64
		)
		err := w.QueryRowContext(ctx, `UPDATE subscriptions SET
			fail_streak = CASE WHEN status <> 'enabled' AND ?1 = 'enabled' THEN 0 ELSE fail_streak END,
			fail_streak_started_at = CASE WHEN status <> 'enabled' AND ?1 = 'enabled' THEN NULL ELSE fail_streak_started_at END,
			description = ?2, unified_api = ?3, status = ?1, disabled_reason = ?4, delivery_url = ?5,
			events = ?6, consumer_id = ?7, retry_schedule = ?8, secret_sealed = CASE WHEN ?14 THEN secret_sealed ELSE ?9 END,
			previous_secret_sealed = CASE WHEN ?14 THEN previous_secret_sealed ELSE ?10 END,
			previous_secret_expires_at = ?11, updated_at = ?12, delivery_format = ?15,
			signing_key_sealed = CASE WHEN ?14 AND ?16 IS NULL THEN signing_key_sealed ELSE ?16 END
			WHERE id = ?13`+scope.And()+`
			RETURNING created_at, fail_streak, fail_streak_started_at, last_failed_at, last_succeeded_at`,
			append([]any{args[2], args[0], args[1], args[3], args[4], args[5], args[6], args[7], args[8], args[9], args[10], args[11], args[12], keep, format, key},
				scope.Args()...)...,
		).Scan(&created, &sub.FailStreak, &streakStart, &failed, &succeeded)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("subscription", sub.ID)
		}
		if err != nil {
			return fmt.Errorf("updating subscription %s: %w", sub.ID, err)
		}
		sub.CreatedAt = fromMicros(created)
		sub.SecretUnreadable = keep // what was written opens, unless kept
		sub.FailStreakStartedAt = fromNullMicros(streakStart)
		sub.LastFailedAt = fromNullMicros(failed)
		sub.LastSucceededAt = fromNullMicros(succeeded)
		if sub.Status == store.StatusDisabled {
			return cancelPending(ctx, w.Tx, sub.ID, sub.UpdatedAt)
		}
		return nil
	})
}

// DeleteSubscription removes a subscription in sc and cancels its pending
// deliveries; its deliveries and attempt log stay as history.
func (s *Store) DeleteSubscription(ctx context.Context, sc store.Scope, id string) error {
	now := store.Now()
	where := byID(id, "consumer_id", sc)
	return s.write(ctx, func(ctx context.Context, w *writeTx) error {
		res, err := w.ExecContext(ctx, `DELETE FROM subscriptions`+where.Clause(), where.Args()...)
		if err != nil {
			return fmt.Errorf("deleting subscription %s: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("deleting subscription %s: %w", id, err)
		} else if n == 0 {
			return notFound("subscription", id)
		}
		return cancelPending(ctx, w.Tx, id, now)
	})
}

// CountSubscriptions counts consumerID's subscriptions and the hub's.
func (s *Store) CountSubscriptions(ctx context.Context, consumerID string) (store.SubscriptionCounts, error) {
	var c store.SubscriptionCounts
	err := s.reader.QueryRowContext(ctx,
		`SELECT coalesce(sum(consumer_id = ?), 0), count(*) FROM subscriptions`, consumerID).Scan(&c.Consumer, &c.Total)
	if err != nil {
		return c, fmt.Errorf("counting subscriptions: %w", err)
	}
	return c, nil
}
