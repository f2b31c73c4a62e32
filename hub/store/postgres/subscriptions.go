package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/switchboardhq/switchboard/hub/store"
)

const subscriptionColumns = `id, description, unified_api, status, disabled_reason, delivery_url,
	events, consumer_id, retry_schedule, secret_sealed, previous_secret_sealed,
	previous_secret_expires_at, fail_streak, fail_streak_started_at, last_failed_at,
	last_succeeded_at, created_at, updated_at, delivery_format, signing_key_sealed`

// subscriptionRow holds a subscriptions row while it is scanned.
type subscriptionRow struct {
	sub store.SealedSubscription
}

func (r *subscriptionRow) dest() []any {
	s := &r.sub
	return []any{&s.ID, &s.Description, &s.UnifiedAPI, &s.Status, &s.DisabledReason, &s.DeliveryURL,
		&s.Events, &s.ConsumerID, &s.RetrySchedule, &s.SealedSecret, &s.SealedPrevious,
		&s.PreviousSecretExpiresAt, &s.FailStreak, &s.FailStreakStartedAt, &s.LastFailedAt,
		&s.LastSucceededAt, &s.CreatedAt, &s.UpdatedAt, &s.DeliveryFormat, &s.SealedSigningKey}
}

func (r *subscriptionRow) subscription() *store.SealedSubscription {
	sub := &r.sub
	if sub.Events == nil {
		sub.Events = []string{} // never NULL; as the SQLite store reads "[]"
	}
	sub.PreviousSecretExpiresAt = utcOrNil(sub.PreviousSecretExpiresAt)
	sub.FailStreakStartedAt = utcOrNil(sub.FailStreakStartedAt)
	sub.LastFailedAt = utcOrNil(sub.LastFailedAt)
	sub.LastSucceededAt = utcOrNil(sub.LastSucceededAt)
	sub.CreatedAt = utc(sub.CreatedAt)
	sub.UpdatedAt = utc(sub.UpdatedAt)
	return sub
}

func scanSubscription(row scanner) (*store.SealedSubscription, error) {
	var r subscriptionRow
	if err := row.Scan(r.dest()...); err != nil {
		return nil, err
	}
	return r.subscription(), nil
}

// subscriptionArgs normalises sub's times and returns the values of every
// column but id and created_at, in subscriptionColumns order, with the
// secrets sealed.
func (s *Store) subscriptionArgs(sub *store.Subscription) ([]any, error) {
	events := sub.Events
	if events == nil {
		events = []string{} // NULL would be refused; no events is []
	}
	secret, previous, err := store.SealSubscription(s.sealer, sub)
	if err != nil {
		return nil, err
	}
	return []any{sub.Description, sub.UnifiedAPI, sub.Status, sub.DisabledReason, sub.DeliveryURL,
		events, sub.ConsumerID, sub.RetrySchedule, secret, previous,
		sub.PreviousSecretExpiresAt, sub.FailStreak, sub.FailStreakStartedAt, sub.LastFailedAt,
		sub.LastSucceededAt}, nil
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
	args = append(args, sub.CreatedAt, sub.UpdatedAt, format, key)
	_, err = s.pool.Exec(ctx, `INSERT INTO subscriptions (`+subscriptionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)`, args...)
	if err != nil {
		return fmt.Errorf("inserting subscription %s: %w", sub.ID, unavailable(err))
	}
	return nil
}

// GetSubscription loads one subscription in sc with its secrets opened.
func (s *Store) GetSubscription(ctx context.Context, sc store.Scope, id string) (*store.Subscription, error) {
	w := byID(id, "consumer_id", sc)
	sealed, err := scanSubscription(s.pool.QueryRow(ctx,
		`SELECT `+subscriptionColumns+` FROM subscriptions`+w.Clause(), w.Args()...))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("subscription", id)
	}
	if err != nil {
		return nil, fmt.Errorf("loading subscription %s: %w", id, unavailable(err))
	}
	return sealed.Open(s.sealer)
}

// ListSubscriptions lists the subscriptions in sc newest first.
func (s *Store) ListSubscriptions(ctx context.Context, sc store.Scope, p store.Page) ([]*store.Subscription, error) {
	w := newWhere()
	w.Scope("consumer_id", sc)
	query, args, reverse := w.Page(`SELECT `+subscriptionColumns+` FROM subscriptions`, p)
	sealed, err := queryAll(ctx, s.pool, scanSubscription, query, args...)
	if err != nil {
		return nil, fmt.Errorf("listing subscriptions: %w", unavailable(err))
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
	args = append(args[:11], sub.UpdatedAt, sub.ID)
	scope := newWhereAfter(16)
	scope.Scope("consumer_id", sc)
	disabling := sub.Status == store.StatusDisabled
	return s.write(ctx, func(ctx context.Context, w *writeTx) error {
		if disabling {
			// Wait for the publishes adding deliveries to it, so that
			// cancelPending below sees them; publishes after it see it
			// disabled (gate.go).
			if err := closeGates(ctx, w, sub.ID); err != nil {
				return err
			}
		}
		err := w.QueryRow(ctx, `UPDATE subscriptions SET
			fail_streak = CASE WHEN status <> 'enabled' AND $1 = 'enabled' THEN 0 ELSE fail_streak END,
			fail_streak_started_at = CASE WHEN status <> 'enabled' AND $1 = 'enabled' THEN NULL ELSE fail_streak_started_at END,
			description = $2, unified_api = $3, status = $1, disabled_reason = $4, delivery_url = $5,
			events = $6, consumer_id = $7, retry_schedule = $8, secret_sealed = CASE WHEN $14 THEN secret_sealed ELSE $9 END,
			previous_secret_sealed = CASE WHEN $14 THEN previous_secret_sealed ELSE $10 END,
			previous_secret_expires_at = $11, updated_at = $12, delivery_format = $15,
			signing_key_sealed = CASE WHEN $14 AND $16::bytea IS NULL THEN signing_key_sealed ELSE $16 END
			WHERE id = $13`+scope.And()+`
			RETURNING created_at, fail_streak, fail_streak_started_at, last_failed_at, last_succeeded_at`,
			append([]any{args[2], args[0], args[1], args[3], args[4], args[5], args[6], args[7], args[8], args[9], args[10], args[11], args[12], keep, format, key},
				scope.Args()...)...,
		).Scan(&sub.CreatedAt, &sub.FailStreak, &sub.FailStreakStartedAt, &sub.LastFailedAt, &sub.LastSucceededAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("subscription", sub.ID)
		}
		if err != nil {
			return fmt.Errorf("updating subscription %s: %w", sub.ID, err)
		}
		sub.CreatedAt = utc(sub.CreatedAt)
		sub.SecretUnreadable = keep // what was written opens, unless kept
		sub.FailStreakStartedAt = utcOrNil(sub.FailStreakStartedAt)
		sub.LastFailedAt = utcOrNil(sub.LastFailedAt)
		sub.LastSucceededAt = utcOrNil(sub.LastSucceededAt)
		if disabling {
			return cancelPending(ctx, w, sub.ID, sub.UpdatedAt)
		}
		return nil
	})
}

// DeleteSubscription removes a subscription and cancels its pending
// deliveries; its deliveries and attempt log stay as history. Like
// disabling, it first closes the subscription's gate (gate.go).
func (s *Store) DeleteSubscription(ctx context.Context, sc store.Scope, id string) error {
	now := store.Now()
	where := byID(id, "consumer_id", sc)
	return s.write(ctx, func(ctx context.Context, w *writeTx) error {
		if err := closeGates(ctx, w, id); err != nil {
			return err
		}
		tag, err := w.Exec(ctx, `DELETE FROM subscriptions`+where.Clause(), where.Args()...)
		if err != nil {
			return fmt.Errorf("deleting subscription %s: %w", id, err)
		}
		if tag.RowsAffected() == 0 {
			return notFound("subscription", id)
		}
		return cancelPending(ctx, w, id, now)
	})
}

// CountSubscriptions counts consumerID's subscriptions and the hub's.
func (s *Store) CountSubscriptions(ctx context.Context, consumerID string) (store.SubscriptionCounts, error) {
	var c store.SubscriptionCounts
	err := s.pool.QueryRow(ctx,
		`SELECT count(*) FILTER (WHERE consumer_id = $1), count(*) FROM subscriptions`, consumerID).Scan(&c.Consumer, &c.Total)
	if err != nil {
		return c, fmt.Errorf("counting subscriptions: %w", unavailable(err))
	}
	return c, nil
}
