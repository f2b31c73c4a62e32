package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/store"
)

const deliveryColumns = `id, event_id, subscription_id, status, attempts, next_attempt_at, created_at, updated_at`

// deliveryRow holds a deliveries row while it is scanned.
type deliveryRow struct {
	d                store.Delivery
	next             sql.NullInt64
	created, updated int64
}

func (r *deliveryRow) dest() []any {
	return []any{&r.d.ID, &r.d.EventID, &r.d.SubscriptionID, &r.d.Status, &r.d.Attempts, &r.next, &r.created, &r.updated}
}

func (r *deliveryRow) delivery() *store.Delivery {
	r.d.NextAttemptAt = fromNullMicros(r.next)
	r.d.CreatedAt = fromMicros(r.created)
	r.d.UpdatedAt = fromMicros(r.updated)
	return &r.d
}

func scanDelivery(row scanner) (*store.Delivery, error) {
	var r deliveryRow
	if err := row.Scan(r.dest()...); err != nil {
		return nil, err
	}
	return r.delivery(), nil
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
	WHERE d.event_id = ? AND d.status = 'pending' AND d.attempts = 0 AND s.status = 'enabled'
	ORDER BY d.id`

// FanoutTargets returns the event and its untried pending deliveries to
// enabled subscriptions. The reads run on the read pool, and secrets are
// opened once per subscription, outside any transaction.
func (s *Store) FanoutTargets(ctx context.Context, eventID string) (*event.Event, []*store.Target, error) {
	ev, err := s.GetEvent(ctx, store.AllConsumers(), eventID)
	if err != nil {
		return nil, nil, err
	}
	rows, err := s.reader.QueryContext(ctx, fanoutTargetsQuery, eventID)
	if err != nil {
		return nil, nil, fmt.Errorf("loading deliveries of event %s: %w", eventID, err)
	}
	type row struct {
		d   *store.Delivery
		sub *store.SealedSubscription
	}
	var found []row
	for rows.Next() {
		d, sub, err := scanTarget(rows)
		if err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("reading delivery of event %s: %w", eventID, err)
		}
		found = append(found, row{d, sub})
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, nil, fmt.Errorf("loading deliveries of event %s: %w", eventID, err)
	}
	opened := make(map[string]*store.Subscription)
	targets := make([]*store.Target, 0, len(found))
	for _, r := range found {
		sub, ok := opened[r.sub.ID]
		if !ok {
			if sub, err = r.sub.Open(s.sealer); err != nil {
				return nil, nil, err
			}
			opened[sub.ID] = sub
		}
		targets = append(targets, &store.Target{Delivery: *r.d, Subscription: *sub})
	}
	return ev, targets, nil
}

// scanTarget scans a delivery followed by its subscription.
func scanTarget(row scanner) (*store.Delivery, *store.SealedSubscription, error) {
	var (
		d   deliveryRow
		sub subscriptionRow
	)
	if err := row.Scan(append(d.dest(), sub.dest()...)...); err != nil {
		return nil, nil, err
	}
	sealed, err := sub.subscription()
	if err != nil {
		return nil, nil, err
	}
	return d.delivery(), sealed, nil
}

// RetryTarget returns one delivery with its event and subscription. The
// subscription is returned whatever its status, for the worker to decide; if
// it was deleted, Target.Subscription is zero and the delivery is cancelled.
func (s *Store) RetryTarget(ctx context.Context, deliveryID string) (*event.Event, *store.Target, error) {
	return store.LoadRetryTarget(ctx, s, deliveryID)
}

// RecordOutcomes applies a batch of outcomes in one transaction: for each,
// the delivery's new state, its attempt rows and its subscription's health;
// then the disabling of subscriptions, and the retry jobs.
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

	return s.write(ctx, func(ctx context.Context, w *writeTx) error {
		subs, tries := make([]string, len(outcomes)), make([]int, len(outcomes))
		for i := range outcomes {
			var err error
			if subs[i], tries[i], err = recordOutcome(ctx, w, &outcomes[i], now); err != nil {
				return err
			}
		}
		disabled, retries := store.Followups(outcomes, subs, tries)
		wasEnabled := make(map[string]bool, len(disabled))
		for subID, reason := range disabled {
			var status string
			if err := w.QueryRowContext(ctx, `SELECT status FROM subscriptions WHERE id = ?`, subID).Scan(&status); err != nil {
				return fmt.Errorf("reading status of subscription %s: %w", subID, err)
			}
			wasEnabled[subID] = status == store.StatusEnabled
			if _, err := w.ExecContext(ctx, `UPDATE subscriptions
				SET status = 'disabled', disabled_reason = ?, updated_at = ?
				WHERE id = ?`, reason, micros(now), subID); err != nil {
				return fmt.Errorf("disabling subscription %s: %w", subID, err)
			}
			if err := cancelPending(ctx, w.Tx, subID, now); err != nil {
				return err
			}
		}
		if err := store.RecordNotices(ctx, noticeTx{w, now}, outcomes, subs, tries, disabled, wasEnabled, now); err != nil {
			return err
		}
		w.jobs = append(w.jobs, retries...)
		return nil
	})
}

// noticeTx is store.NoticeTx in a write transaction.
type noticeTx struct {
	w   *writeTx
	now time.Time
}

func (n noticeTx) ClaimFailing(ctx context.Context, subID string, since time.Time) (bool, error) {
	res, err := n.w.ExecContext(ctx, `UPDATE subscriptions SET notice_streak = fail_streak_started_at, notice_open = 1
		WHERE id = ? AND fail_streak_started_at IS NOT NULL AND fail_streak_started_at <= ?
			AND (notice_streak IS NULL OR notice_streak <> fail_streak_started_at)`, subID, micros(since))
	return claimed(res, err, "claiming the failing notice of subscription "+subID)
}

func (n noticeTx) ClaimRecovered(ctx context.Context, subID string) (bool, error) {
	res, err := n.w.ExecContext(ctx, `UPDATE subscriptions SET notice_open = 0 WHERE id = ? AND notice_open <> 0`, subID)
	return claimed(res, err, "claiming the recovered notice of subscription "+subID)
}

func (n noticeTx) OpenNotice(ctx context.Context, subID string) error {
	if _, err := n.w.ExecContext(ctx, `UPDATE subscriptions SET notice_open = 1 WHERE id = ?`, subID); err != nil {
		return fmt.Errorf("opening the notice of subscription %s: %w", subID, err)
	}
	return nil
}

func (n noticeTx) Subscription(ctx context.Context, subID string) (*store.SealedSubscription, error) {
	return scanSubscription(n.w.QueryRowContext(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions WHERE id = ?`, subID))
}

func (n noticeTx) Publish(ctx context.Context, ev *event.Event) error {
	if _, err := n.w.ExecContext(ctx, insertEventSQL, eventArgs(ev)...); err != nil {
		return fmt.Errorf("inserting event %s: %w", ev.ID, err)
	}
	subs, err := matchingSubscriptions(ctx, n.w, ev)
	if err != nil {
		return err
	}
	_, err = insertDeliveries(ctx, n.w, ev.ID, subIDs(subs), n.now, true)
	return err
}

// claimed reports whether a conditional update changed a row.
func claimed(res sql.Result, err error, doing string) (bool, error) {
	if err != nil {
		return false, fmt.Errorf("%s: %w", doing, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("%s: %w", doing, err)
	}
	return n > 0, nil
}

// recordOutcome writes one outcome's delivery state, attempts and
// subscription health, and returns the delivery's subscription and its tries
// so far.
func recordOutcome(ctx context.Context, w *writeTx, o *store.Outcome, now time.Time) (subID string, tries int, err error) {
	var next any
	if o.Status == store.DeliveryPending && !o.NextAttemptAt.IsZero() {
		next = micros(o.NextAttemptAt)
	}
	err = w.QueryRowContext(ctx, `UPDATE deliveries
		SET status = ?, attempts = attempts + ?, next_attempt_at = ?, updated_at = ?
		WHERE id = ? RETURNING attempts, subscription_id`,
		o.Status, len(o.Attempts), next, micros(now), o.DeliveryID).Scan(&tries, &subID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, notFound("delivery", o.DeliveryID)
	}
	if err != nil {
		return "", 0, fmt.Errorf("updating delivery %s: %w", o.DeliveryID, err)
	}
	if o.SubscriptionID != "" && o.SubscriptionID != subID {
		return "", 0, fmt.Errorf("recording outcome of delivery %s: it names subscription %s, the delivery is to %s", o.DeliveryID, o.SubscriptionID, subID)
	}

	for i := range o.Attempts {
		a := o.Attempts[i]
		if a.DeliveryID == "" {
			a.DeliveryID = o.DeliveryID
		}
		if a.SubscriptionID == "" {
			a.SubscriptionID = subID
		}
		if _, err := w.ExecContext(ctx, insertAttemptSQL, attemptArgs(&a)...); err != nil {
			return "", 0, fmt.Errorf("inserting attempt %s: %w", a.ID, err)
		}
	}

	if len(o.Attempts) == 0 {
		return subID, tries, nil // no try, no news of the endpoint's health
	}
	if o.Status == store.DeliveryDelivered {
		_, err = w.ExecContext(ctx, `UPDATE subscriptions
			SET fail_streak = 0, fail_streak_started_at = NULL, last_succeeded_at = ?
			WHERE id = ? AND (fail_streak <> 0 OR fail_streak_started_at IS NOT NULL
				OR last_succeeded_at IS NULL OR last_succeeded_at < ?)`,
			micros(o.At), subID, micros(store.SuccessStale(o.At)))
	} else {
		_, err = w.ExecContext(ctx, `UPDATE subscriptions
			SET fail_streak = fail_streak + 1,
			    fail_streak_started_at = coalesce(fail_streak_started_at, ?),
			    last_failed_at = ?
			WHERE id = ?`, micros(o.At), micros(o.At), subID)
	}
	if err != nil {
		return "", 0, fmt.Errorf("updating health of subscription %s: %w", subID, err)
	}
	return subID, tries, nil
}

// cancelPending cancels a subscription's pending deliveries: it was deleted
// or disabled, and nothing more will be sent to it.
func cancelPending(ctx context.Context, tx *sql.Tx, subID string, now time.Time) error {
	_, err := tx.ExecContext(ctx, `UPDATE deliveries SET status = 'cancelled', updated_at = ?
		WHERE subscription_id = ? AND status = 'pending'`, micros(now), subID)
	if err != nil {
		return fmt.Errorf("cancelling deliveries of subscription %s: %w", subID, err)
	}
	return nil
}

const insertAttemptSQL = `INSERT INTO attempts (` + attemptColumns + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

const attemptColumns = `id, delivery_id, event_id, event_type, unified_api, subscription_id, consumer_id,
	service_id, endpoint, status_code, success, execution_attempt, timestamp, duration_ms,
	response_body, error, retry_scheduled, subscription_consumer_id`

func attemptArgs(a *store.Attempt) []any {
	return []any{a.ID, a.DeliveryID, a.EventID, a.EventType, a.UnifiedAPI, a.SubscriptionID, a.ConsumerID,
		a.ServiceID, a.Endpoint, a.StatusCode, a.Success, a.ExecutionAttempt, micros(a.Timestamp), a.DurationMS,
		a.ResponseBody, a.Error, a.RetryScheduled, a.SubscriptionConsumerID}
}

func scanAttempt(row scanner) (*store.Attempt, error) {
	var (
		a  store.Attempt
		ts int64
	)
	err := row.Scan(&a.ID, &a.DeliveryID, &a.EventID, &a.EventType, &a.UnifiedAPI, &a.SubscriptionID, &a.ConsumerID,
		&a.ServiceID, &a.Endpoint, &a.StatusCode, &a.Success, &a.ExecutionAttempt, &ts, &a.DurationMS,
		&a.ResponseBody, &a.Error, &a.RetryScheduled, &a.SubscriptionConsumerID)
	if err != nil {
		return nil, err
	}
	a.Timestamp = fromMicros(ts)
	return &a, nil
}

// GetDelivery loads one delivery in sc.
func (s *Store) GetDelivery(ctx context.Context, sc store.Scope, id string) (*store.Delivery, error) {
	w := newWhere()
	w.Add("id", "=", id)
	w.ScopeVia(store.DeliveryScope, sc)
	d, err := scanDelivery(s.reader.QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries`+w.Clause(), w.Args()...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("delivery", id)
	}
	if err != nil {
		return nil, fmt.Errorf("loading delivery %s: %w", id, err)
	}
	return d, nil
}

// ListDeliveries lists an event's deliveries, newest first; none for an
// unknown event.
func (s *Store) ListDeliveries(ctx context.Context, sc store.Scope, eventID string) ([]*store.Delivery, error) {
	w := newWhere()
	w.Add("event_id", "=", eventID)
	w.ScopeVia(store.DeliveryScope, sc)
	out, err := queryAll(ctx, s.reader, scanDelivery,
		`SELECT `+deliveryColumns+` FROM deliveries`+w.Clause()+` ORDER BY id DESC`, w.Args()...)
	if err != nil {
		return nil, fmt.Errorf("listing deliveries of event %s: %w", eventID, err)
	}
	return out, nil
}

// ListAttempts lists the attempt log newest first.
func (s *Store) ListAttempts(ctx context.Context, sc store.Scope, f store.AttemptFilter, p store.Page) ([]*store.Attempt, error) {
	w := newWhere()
	store.AttemptsWhere(w, sc, f)
	query, args, reverse := w.Page(`SELECT `+attemptColumns+` FROM attempts`, p)
	out, err := queryAll(ctx, s.reader, scanAttempt, query, args...)
	if err != nil {
		return nil, fmt.Errorf("listing attempts: %w", err)
	}
	return store.Ordered(out, reverse), nil
}
