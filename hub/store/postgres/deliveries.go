package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/job"
	"github.com/switchboardhq/switchboard/hub/store"
)

const deliveryColumns = `id, event_id, subscription_id, status, attempts, next_attempt_at, created_at, updated_at`

func deliveryDest(d *store.Delivery) []any {
	return []any{&d.ID, &d.EventID, &d.SubscriptionID, &d.Status, &d.Attempts, &d.NextAttemptAt, &d.CreatedAt, &d.UpdatedAt}
}

func normaliseDelivery(d *store.Delivery) *store.Delivery {
	d.NextAttemptAt = utcOrNil(d.NextAttemptAt)
	d.CreatedAt = utc(d.CreatedAt)
	d.UpdatedAt = utc(d.UpdatedAt)
	return d
}

func scanDelivery(row scanner) (*store.Delivery, error) {
	var d store.Delivery
	if err := row.Scan(deliveryDest(&d)...); err != nil {
		return nil, err
	}
	return normaliseDelivery(&d), nil
}

// prefixed qualifies every column of a column list with a table alias.
func prefixed(alias, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

var fanoutTargetsQuery = `SELECT ` + prefixed("d", deliveryColumns) + `, ` + prefixed("s", subscriptionColumns) + `
	FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id
	WHERE d.event_id = $1 AND d.status = 'pending' AND d.attempts = 0 AND s.status = 'enabled'
	ORDER BY d.id`

// target is a delivery with its sealed subscription.
type target struct {
	d   *store.Delivery
	sub *sealedSubscription
}

// FanoutTargets returns the event and its untried pending deliveries to
// enabled subscriptions. Secrets are opened once per subscription, after the
// rows are read.
func (s *Store) FanoutTargets(ctx context.Context, eventID string) (*event.Event, []*store.Target, error) {
	ev, err := s.GetEvent(ctx, eventID)
	if err != nil {
		return nil, nil, err
	}
	found, err := queryAll(ctx, s.pool, scanTarget, fanoutTargetsQuery, eventID)
	if err != nil {
		return nil, nil, fmt.Errorf("loading deliveries of event %s: %w", eventID, unavailable(err))
	}
	opened := make(map[string]*store.Subscription)
	targets := make([]*store.Target, 0, len(found))
	for _, r := range found {
		sub, ok := opened[r.sub.ID]
		if !ok {
			if sub, err = s.open(r.sub); err != nil {
				return nil, nil, err
			}
			opened[sub.ID] = sub
		}
		targets = append(targets, &store.Target{Delivery: *r.d, Subscription: *sub})
	}
	return ev, targets, nil
}

// scanTarget scans a delivery followed by its subscription.
func scanTarget(row scanner) (target, error) {
	var (
		d   store.Delivery
		sub subscriptionRow
	)
	if err := row.Scan(append(deliveryDest(&d), sub.dest()...)...); err != nil {
		return target{}, err
	}
	return target{normaliseDelivery(&d), sub.subscription()}, nil
}

// RetryTarget returns one delivery with its event and subscription. The
// subscription is returned whatever its status, for the worker to decide; if
// it was deleted, Target.Subscription is zero and the delivery is cancelled.
func (s *Store) RetryTarget(ctx context.Context, deliveryID string) (*event.Event, *store.Target, error) {
	d, err := s.GetDelivery(ctx, deliveryID)
	if err != nil {
		return nil, nil, err
	}
	ev, err := s.GetEvent(ctx, d.EventID)
	if err != nil {
		return nil, nil, fmt.Errorf("loading delivery %s: %w", deliveryID, err)
	}
	target := &store.Target{Delivery: *d}
	sub, err := s.GetSubscription(ctx, d.SubscriptionID)
	switch {
	case err == nil:
		target.Subscription = *sub
	case !errors.Is(err, store.ErrNotFound):
		return nil, nil, fmt.Errorf("loading delivery %s: %w", deliveryID, err)
	}
	return ev, target, nil
}

// RecordOutcomes applies a batch of outcomes in one transaction: for each,
// the delivery's new state, its attempt rows and its subscription's health;
// then the disabling of subscriptions, and the retry jobs.
//
// SQLite's one writer ran such batches one at a time. Here they run
// concurrently, so the transaction first locks the subscriptions of its
// deliveries (see lockForOutcomes) and then the deliveries, each in id
// order: concurrent batches touching the same subscriptions queue up or
// share a lock instead of deadlocking, and a delete or disable never
// crosses a batch. The per-outcome statements are then sent as one
// pipelined batch, the health updates last and in subscription order;
// PostgreSQL re-reads a row updated meanwhile, so fail_streak =
// fail_streak + 1 loses no failure.
func (s *Store) RecordOutcomes(ctx context.Context, outcomes []store.Outcome) error {
	if _, err := s.queue(); err != nil {
		return err
	}
	if len(outcomes) == 0 {
		return nil
	}
	now := store.Now()
	if err := store.PrepareOutcomes(outcomes, now); err != nil {
		return err
	}
	ids := make(map[string]bool, len(outcomes))
	for i := range outcomes {
		ids[outcomes[i].DeliveryID] = true
	}
	deliveryIDs := slices.Sorted(maps.Keys(ids))

	return s.write(ctx, func(ctx context.Context, w *writeTx) error {
		subOf, err := lockForOutcomes(ctx, w, outcomes, deliveryIDs)
		if err != nil {
			return err
		}
		for _, o := range outcomes {
			if _, ok := subOf[o.DeliveryID]; !ok {
				return notFound("delivery", o.DeliveryID)
			}
		}

		batch := &pgx.Batch{}
		for i := range outcomes {
			queueOutcome(batch, &outcomes[i], subOf[outcomes[i].DeliveryID], now)
		}
		health := healthOrder(outcomes, subOf)
		for _, i := range health {
			queueHealth(batch, &outcomes[i], subOf[outcomes[i].DeliveryID])
		}
		tries, err := readOutcomes(w.SendBatch(ctx, batch), outcomes, health, subOf)
		if err != nil {
			return err
		}

		type retry struct {
			deliveryID, subID string
			attempt           int
			at                time.Time
		}
		var (
			retries  []retry
			disabled = make(map[string]string) // subscription -> reason
		)
		for i := range outcomes {
			o := &outcomes[i]
			subID := subOf[o.DeliveryID]
			if o.Disable != "" {
				disabled[subID] = o.Disable
			}
			if o.Status == store.DeliveryPending {
				retries = append(retries, retry{o.DeliveryID, subID, tries[i] + 1, o.NextAttemptAt})
			}
		}
		for _, subID := range slices.Sorted(maps.Keys(disabled)) {
			if _, err := w.Exec(ctx, `UPDATE subscriptions
				SET status = 'disabled', disabled_reason = $1, updated_at = $2
				WHERE id = $3`, disabled[subID], now, subID); err != nil {
				return fmt.Errorf("disabling subscription %s: %w", subID, err)
			}
			if err := cancelPending(ctx, w, subID, now); err != nil {
				return err
			}
		}
		for _, r := range retries {
			if _, off := disabled[r.subID]; off {
				continue // cancelled with the subscription's other deliveries
			}
			w.enqueue(job.Retry{DeliveryID: r.deliveryID, Attempt: r.attempt}, store.RetryInsertOpts(r.at))
		}
		return nil
	})
}

// lockForOutcomes locks, in this order and each in id order, the
// subscriptions of the outcomes' deliveries and the deliveries, and returns
// each delivery's subscription. A delivery's subscription never changes, so
// reading it before the locks is safe.
//
// Each subscription is locked in the weakest mode its outcomes need (see
// subscriptionLock), one statement per subscription so that every batch
// takes its locks in the same order whatever their modes.
func lockForOutcomes(ctx context.Context, w *writeTx, outcomes []store.Outcome, deliveryIDs []string) (map[string]string, error) {
	subOf := make(map[string]string, len(deliveryIDs))
	rows, err := w.Query(ctx, `SELECT id, subscription_id FROM deliveries WHERE id = ANY($1)`, deliveryIDs)
	if err != nil {
		return nil, fmt.Errorf("loading deliveries: %w", err)
	}
	var deliveryID, subID string
	if _, err := pgx.ForEachRow(rows, []any{&deliveryID, &subID}, func() error {
		subOf[deliveryID] = subID
		return nil
	}); err != nil {
		return nil, fmt.Errorf("loading deliveries: %w", err)
	}

	modes := make(map[string]lockMode)
	for i := range outcomes {
		o := &outcomes[i]
		if sub, ok := subOf[o.DeliveryID]; ok {
			modes[sub] = max(modes[sub], subscriptionLock(o))
		}
	}
	batch := &pgx.Batch{}
	for _, sub := range slices.Sorted(maps.Keys(modes)) {
		batch.Queue(`SELECT id FROM subscriptions WHERE id = $1 FOR `+modes[sub].String(), sub)
	}
	if err := w.SendBatch(ctx, batch).Close(); err != nil {
		return nil, fmt.Errorf("locking subscriptions: %w", err)
	}
	if _, err := w.Exec(ctx, `SELECT id FROM deliveries WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE`, deliveryIDs); err != nil {
		return nil, fmt.Errorf("locking deliveries: %w", err)
	}
	return subOf, nil
}

// lockMode is a row lock strength, weakest first.
type lockMode int

const (
	keyShare lockMode = iota
	noKeyUpdate
	forUpdate
)

func (m lockMode) String() string {
	switch m {
	case forUpdate:
		return "UPDATE"
	case noKeyUpdate:
		return "NO KEY UPDATE"
	default:
		return "KEY SHARE"
	}
}

// subscriptionLock is the lock an outcome needs on its subscription for the
// whole transaction.
//
//   - Disabling it: FOR UPDATE, as a delete does. It waits for publishes
//     holding their matches FOR KEY SHARE (see matchingSubscriptions) and for
//     the other outcome batches of the subscription.
//   - A failed try: FOR NO KEY UPDATE, the lock its health update takes
//     anyway, taken here so that it is taken in order.
//   - A success, or no try: FOR KEY SHARE, which only a delete or disable
//     waits for. Outcome batches of a healthy subscription share it instead
//     of queueing for the row one commit at a time; a success writes the row
//     only when it ends a fail streak or once a second (see
//     store.SuccessResolution).
//
// Holding at least FOR KEY SHARE means a delete or disable, which locks the
// subscription before cancelling its pending deliveries, never crosses a
// batch.
func subscriptionLock(o *store.Outcome) lockMode {
	switch {
	case o.Disable != "":
		return forUpdate
	case len(o.Attempts) > 0 && o.Status != store.DeliveryDelivered:
		return noKeyUpdate
	default:
		return keyShare
	}
}

// queueOutcome adds one outcome's delivery statements to batch: the
// delivery's new state (its result gives the tries so far) and its attempt
// rows.
func queueOutcome(batch *pgx.Batch, o *store.Outcome, subID string, now time.Time) {
	var next *time.Time
	if o.Status == store.DeliveryPending && !o.NextAttemptAt.IsZero() {
		at := store.Time(o.NextAttemptAt)
		next = &at
	}
	batch.Queue(`UPDATE deliveries
		SET status = $1, attempts = attempts + $2, next_attempt_at = $3, updated_at = $4
		WHERE id = $5 RETURNING attempts`,
		o.Status, len(o.Attempts), next, now, o.DeliveryID)

	for i := range o.Attempts {
		a := o.Attempts[i]
		if a.DeliveryID == "" {
			a.DeliveryID = o.DeliveryID
		}
		if a.SubscriptionID == "" {
			a.SubscriptionID = subID
		}
		batch.Queue(insertAttemptSQL, attemptArgs(&a)...)
	}
}

// healthOrder returns the indexes of the outcomes that made a try (no try,
// no news of the endpoint's health), ordered by subscription and, for one
// subscription, as given.
func healthOrder(outcomes []store.Outcome, subOf map[string]string) []int {
	var order []int
	for i := range outcomes {
		if len(outcomes[i].Attempts) > 0 {
			order = append(order, i)
		}
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return strings.Compare(subOf[outcomes[a].DeliveryID], subOf[outcomes[b].DeliveryID])
	})
	return order
}

// queueHealth adds the update of a subscription's health after one try. A
// success writes the row only when it changes something that matters (see
// store.SuccessResolution).
func queueHealth(batch *pgx.Batch, o *store.Outcome, subID string) {
	if o.Status == store.DeliveryDelivered {
		batch.Queue(`UPDATE subscriptions
			SET fail_streak = 0, fail_streak_started_at = NULL, last_succeeded_at = $1
			WHERE id = $2 AND (fail_streak <> 0 OR fail_streak_started_at IS NOT NULL
				OR last_succeeded_at IS NULL OR last_succeeded_at < $3)`,
			o.At, subID, store.SuccessStale(o.At))
		return
	}
	batch.Queue(`UPDATE subscriptions
		SET fail_streak = fail_streak + 1,
		    fail_streak_started_at = coalesce(fail_streak_started_at, $1),
		    last_failed_at = $1
		WHERE id = $2`, o.At, subID)
}

// readOutcomes reads the results of the statements queueOutcome and
// queueHealth queued, in the same order, and returns each outcome's tries
// so far.
func readOutcomes(br pgx.BatchResults, outcomes []store.Outcome, health []int, subOf map[string]string) (tries []int, err error) {
	defer func() { err = errors.Join(err, br.Close()) }()
	tries = make([]int, len(outcomes))
	for i := range outcomes {
		o := &outcomes[i]
		err := br.QueryRow().Scan(&tries[i])
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, notFound("delivery", o.DeliveryID)
		}
		if err != nil {
			return nil, fmt.Errorf("updating delivery %s: %w", o.DeliveryID, err)
		}
		for _, a := range o.Attempts {
			if _, err := br.Exec(); err != nil {
				return nil, fmt.Errorf("inserting attempt %s: %w", a.ID, err)
			}
		}
	}
	for _, i := range health {
		if _, err := br.Exec(); err != nil {
			return nil, fmt.Errorf("updating health of subscription %s: %w", subOf[outcomes[i].DeliveryID], err)
		}
	}
	return tries, nil
}

// cancelPending cancels a subscription's pending deliveries: it was deleted
// or disabled, and nothing more will be sent to it.
func cancelPending(ctx context.Context, w *writeTx, subID string, now time.Time) error {
	_, err := w.Exec(ctx, `UPDATE deliveries SET status = 'cancelled', updated_at = $1
		WHERE subscription_id = $2 AND status = 'pending'`, now, subID)
	if err != nil {
		return fmt.Errorf("cancelling deliveries of subscription %s: %w", subID, err)
	}
	return nil
}

const insertAttemptSQL = `INSERT INTO attempts (` + attemptColumns + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`

const attemptColumns = `id, delivery_id, event_id, event_type, unified_api, subscription_id, consumer_id,
	service_id, endpoint, status_code, success, execution_attempt, timestamp, duration_ms,
	response_body, error, retry_scheduled`

// attemptArgs returns an attempt's column values. PostgreSQL's text refuses
// NUL bytes, which an endpoint's answer may hold (the body is valid UTF-8,
// not necessarily text), so NULs in the response body and the error become
// U+FFFD, the character that replaced invalid UTF-8 in the same body;
// refusing the write would lose the outcome of a try that was made.
func attemptArgs(a *store.Attempt) []any {
	return []any{a.ID, a.DeliveryID, a.EventID, a.EventType, a.UnifiedAPI, a.SubscriptionID, a.ConsumerID,
		a.ServiceID, a.Endpoint, a.StatusCode, a.Success, a.ExecutionAttempt, a.Timestamp, a.DurationMS,
		withoutNUL(a.ResponseBody), withoutNUL(a.Error), a.RetryScheduled}
}

func withoutNUL(s string) string { return strings.ReplaceAll(s, "\x00", "\uFFFD") }

func scanAttempt(row scanner) (*store.Attempt, error) {
	var a store.Attempt
	err := row.Scan(&a.ID, &a.DeliveryID, &a.EventID, &a.EventType, &a.UnifiedAPI, &a.SubscriptionID, &a.ConsumerID,
		&a.ServiceID, &a.Endpoint, &a.StatusCode, &a.Success, &a.ExecutionAttempt, &a.Timestamp, &a.DurationMS,
		&a.ResponseBody, &a.Error, &a.RetryScheduled)
	if err != nil {
		return nil, err
	}
	a.Timestamp = utc(a.Timestamp)
	return &a, nil
}

// GetDelivery loads one delivery.
func (s *Store) GetDelivery(ctx context.Context, id string) (*store.Delivery, error) {
	d, err := scanDelivery(s.pool.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("delivery", id)
	}
	if err != nil {
		return nil, fmt.Errorf("loading delivery %s: %w", id, unavailable(err))
	}
	return d, nil
}

// ListDeliveries lists an event's deliveries, newest first; none for an
// unknown event.
func (s *Store) ListDeliveries(ctx context.Context, eventID string) ([]*store.Delivery, error) {
	out, err := queryAll(ctx, s.pool, scanDelivery,
		`SELECT `+deliveryColumns+` FROM deliveries WHERE event_id = $1 ORDER BY id DESC`, eventID)
	if err != nil {
		return nil, fmt.Errorf("listing deliveries of event %s: %w", eventID, unavailable(err))
	}
	return out, nil
}

// ListAttempts lists the attempt log newest first.
func (s *Store) ListAttempts(ctx context.Context, f store.AttemptFilter, p store.Page) ([]*store.Attempt, error) {
	var w where
	w.eq("event_type", f.EventType)
	w.eq("consumer_id", f.ConsumerID)
	w.eq("service_id", f.ServiceID)
	w.eq("subscription_id", f.SubscriptionID)
	w.eq("event_id", f.EventID)
	if f.Success != nil {
		w.add("success", "=", *f.Success)
	}
	query, args, reverse := w.page(`SELECT `+attemptColumns+` FROM attempts`, p)
	out, err := queryAll(ctx, s.pool, scanAttempt, query, args...)
	if err != nil {
		return nil, fmt.Errorf("listing attempts: %w", unavailable(err))
	}
	return ordered(out, reverse), nil
}
