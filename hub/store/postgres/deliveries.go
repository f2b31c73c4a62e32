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
		AND d.dispatcher_node IS NULL
	ORDER BY d.id`

// target is a delivery with its sealed subscription.
type target struct {
	d   *store.Delivery
	sub *store.SealedSubscription
}

// FanoutTargets returns the event and its untried pending deliveries to
// enabled subscriptions that no node's dispatcher holds (those are its to
// try, until the sweep releases them). Secrets are opened once per
// subscription, after the rows are read.
func (s *Store) FanoutTargets(ctx context.Context, eventID string) (*event.Event, []*store.Target, error) {
	ev, err := s.GetEvent(ctx, store.AllConsumers(), eventID)
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
	return store.LoadRetryTarget(ctx, s, deliveryID)
}

// RecordOutcomes applies a batch of outcomes in one transaction, shared
// with concurrent calls (see combiner): for each, the delivery's new state,
// its attempt rows and its subscription's health; then the disabling of
// subscriptions, and the retry jobs. The statements go to the server as one
// pipelined batch.
//
// SQLite's one writer ran such batches one at a time. Here they run
// concurrently, so every batch touches rows in one order: gates, then
// subscriptions in id order (see healthPlan for how each is locked or
// written), then deliveries in id order; a delete or disable closes the
// gate, writes the subscription's row, then locks its pending deliveries in
// id order (cancelPending). So concurrent batches, deletes and disables
// queue up instead of deadlocking, a delete or disable never crosses a
// batch that records a failure, and fail_streak = fail_streak + 1 loses no
// failure, as PostgreSQL re-reads a row updated meanwhile.
func (s *Store) RecordOutcomes(ctx context.Context, outcomes []store.Outcome) error {
	if _, err := s.queue(); err != nil {
		return err
	}
	if len(outcomes) == 0 {
		return nil
	}
	if err := store.PrepareOutcomes(outcomes, store.Now()); err != nil {
		return err
	}
	req := &outcomeReq{outcomes: outcomes}
	s.outcomes.do(ctx, req)
	return req.err
}

// maxCombinedOutcomes bounds how many outcomes one transaction carries.
const maxCombinedOutcomes = 256

// outcomeReq is one RecordOutcomes call's share of a combined write.
type outcomeReq struct {
	outcomes []store.Outcome
	err      error
}

func (r *outcomeReq) fail(err error) { r.err = err }

func newOutcomeCombiner(s *Store) *combiner[*outcomeReq] {
	return &combiner[*outcomeReq]{
		run:      s.recordGroup,
		size:     func(r *outcomeReq) int { return len(r.outcomes) },
		max:      maxCombinedOutcomes,
		parallel: parallelWrites,
	}
}

// recordGroup writes the outcomes of a group of calls in one transaction.
// If that fails for a reason other than the database being unavailable
// (which every caller retries alike), one call's outcomes may be at fault
// (an unknown delivery): each call's are then written on their own, so
// that only its own error reaches it.
func (s *Store) recordGroup(ctx context.Context, group []*outcomeReq) {
	if len(group) > 1 {
		var all []store.Outcome
		for _, r := range group {
			all = append(all, r.outcomes...)
		}
		err := s.recordOutcomes(ctx, all)
		if err == nil || errors.Is(err, store.ErrUnavailable) {
			i := 0
			for _, r := range group {
				r.err = err
				for j := range r.outcomes { // all holds copies: hand back what they published
					r.outcomes[j].Published = all[i].Published
					i++
				}
			}
			return
		}
	}
	for _, r := range group {
		r.err = s.recordOutcomes(ctx, r.outcomes)
	}
}

// recordOutcomes is RecordOutcomes for the outcomes of one or more calls
// (see combiner).
func (s *Store) recordOutcomes(ctx context.Context, outcomes []store.Outcome) error {
	now := store.Now()
	return s.write(ctx, func(ctx context.Context, w *writeTx) error {
		subOf, err := subscriptionsOf(ctx, w, outcomes)
		if err != nil {
			return err
		}
		plan := planHealth(outcomes, subOf)
		p := &pipeline{}
		plan.queueFirst(p)
		if len(plan.disable) > 0 {
			// Disabling cancels the subscription's other pending deliveries
			// below: lock them now, with the batch's own, in id order (as
			// cancelPending does for a delete), so that two batches
			// disabling each other's subscriptions never wait crosswise.
			ids := make([]string, len(outcomes))
			for i := range outcomes {
				ids[i] = outcomes[i].DeliveryID
			}
			p.exec("locking deliveries", `SELECT id FROM deliveries
				WHERE id = ANY($1) OR (subscription_id = ANY($2) AND status = 'pending')
				ORDER BY id FOR NO KEY UPDATE`, ids, slices.Sorted(maps.Keys(plan.disable)))
		}
		tries := make([]int, len(outcomes))
		for _, i := range byDelivery(outcomes) {
			queueOutcome(p, &outcomes[i], subOf[outcomes[i].DeliveryID], now, &tries[i])
		}
		plan.queueLast(p, outcomes, subOf)
		if err := p.run(ctx, w); err != nil {
			return err
		}

		subs := make([]string, len(outcomes))
		for i := range outcomes {
			subs[i] = subOf[outcomes[i].DeliveryID]
		}
		disabled, retries := store.Followups(outcomes, subs, tries)
		wasEnabled := make(map[string]bool, len(disabled))
		for _, subID := range slices.Sorted(maps.Keys(disabled)) {
			// The row is locked already: the failure that disables it
			// was recorded above, in this transaction.
			var status string
			if err := w.QueryRow(ctx, `SELECT status FROM subscriptions WHERE id = $1`, subID).Scan(&status); err != nil {
				return fmt.Errorf("reading status of subscription %s: %w", subID, err)
			}
			wasEnabled[subID] = status == store.StatusEnabled
			if _, err := w.Exec(ctx, `UPDATE subscriptions
				SET status = 'disabled', disabled_reason = $1, updated_at = $2
				WHERE id = $3`, disabled[subID], now, subID); err != nil {
				return fmt.Errorf("disabling subscription %s: %w", subID, err)
			}
			if err := cancelPending(ctx, w, subID, now); err != nil {
				return err
			}
		}
		if err := store.RecordNotices(ctx, noticeTx{w}, outcomes, subs, tries, disabled, wasEnabled, now); err != nil {
			return err
		}
		w.jobs = append(w.jobs, retries...)
		return nil
	})
}

// noticeTx is store.NoticeTx in a write transaction. Every claim is one
// conditional UPDATE: a second node's claim of the same transition waits
// for the row and then finds it taken.
type noticeTx struct{ w *writeTx }

func (n noticeTx) ClaimFailing(ctx context.Context, subID string, since time.Time) (bool, error) {
	tag, err := n.w.Exec(ctx, `UPDATE subscriptions SET notice_streak = fail_streak_started_at, notice_open = true
		WHERE id = $1 AND fail_streak_started_at <= $2
			AND notice_streak IS DISTINCT FROM fail_streak_started_at`, subID, since)
	if err != nil {
		return false, fmt.Errorf("claiming the failing notice of subscription %s: %w", subID, err)
	}
	return tag.RowsAffected() > 0, nil
}

func (n noticeTx) ClaimRecovered(ctx context.Context, subID string) (bool, error) {
	tag, err := n.w.Exec(ctx, `UPDATE subscriptions SET notice_open = false WHERE id = $1 AND notice_open`, subID)
	if err != nil {
		return false, fmt.Errorf("claiming the recovered notice of subscription %s: %w", subID, err)
	}
	return tag.RowsAffected() > 0, nil
}

func (n noticeTx) OpenNotice(ctx context.Context, subID string) error {
	if _, err := n.w.Exec(ctx, `UPDATE subscriptions SET notice_open = true WHERE id = $1`, subID); err != nil {
		return fmt.Errorf("opening the notice of subscription %s: %w", subID, err)
	}
	return nil
}

func (n noticeTx) Subscription(ctx context.Context, subID string) (*store.SealedSubscription, error) {
	return scanSubscription(n.w.QueryRow(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions WHERE id = $1`, subID))
}

func (n noticeTx) Publish(ctx context.Context, ev *event.Event) error {
	r := &publishReq{ev: ev}
	if err := publishAll(ctx, n.w, []*publishReq{r}); err != nil {
		return err
	}
	return r.err
}

// subscriptionsOf returns each outcome's subscription: the one it names
// (queueOutcome checks it is the delivery's), or else the delivery's, read
// here. A delivery's subscription never changes, so reading it before any
// lock is safe.
func subscriptionsOf(ctx context.Context, w *writeTx, outcomes []store.Outcome) (map[string]string, error) {
	subOf := make(map[string]string, len(outcomes))
	var unnamed []string
	for i := range outcomes {
		o := &outcomes[i]
		if o.SubscriptionID != "" {
			subOf[o.DeliveryID] = o.SubscriptionID
		} else {
			unnamed = append(unnamed, o.DeliveryID)
		}
	}
	if len(unnamed) == 0 {
		return subOf, nil
	}
	rows, err := w.Query(ctx, `SELECT id, subscription_id FROM deliveries WHERE id = ANY($1)`, unnamed)
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
	for _, id := range unnamed {
		if _, ok := subOf[id]; !ok {
			return nil, notFound("delivery", id)
		}
	}
	return subOf, nil
}

// byDelivery returns the outcomes' indexes in delivery id order (stable).
func byDelivery(outcomes []store.Outcome) []int {
	order := make([]int, len(outcomes))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return strings.Compare(outcomes[a].DeliveryID, outcomes[b].DeliveryID)
	})
	return order
}

// healthPlan says how a batch treats each subscription's row.
//
//   - Disabled by an outcome: its gate is closed and its row locked FOR
//     UPDATE, as a delete does; then one health update per try.
//   - Some try failed: the row is locked FOR NO KEY UPDATE, the lock its
//     health updates take anyway, taken first so that it is taken in order;
//     then one health update per try.
//   - Every try succeeded: no lock, and one update that writes the row only
//     when it ends a fail streak or last_succeeded_at is stale (see
//     store.SuccessResolution). The outcome batches of a healthy
//     subscription so share nothing. Such a batch may cross a delete or
//     disable: it marks a delivery delivered that was, which the cancel
//     either sees or does not need to.
//   - No try (cancelled): nothing.
type healthPlan struct {
	subs    []string // in id order
	disable map[string]bool
	failed  map[string]bool
	success map[string]time.Time // every try succeeded: the latest
}

func planHealth(outcomes []store.Outcome, subOf map[string]string) *healthPlan {
	h := &healthPlan{disable: map[string]bool{}, failed: map[string]bool{}, success: map[string]time.Time{}}
	for i := range outcomes {
		o := &outcomes[i]
		sub := subOf[o.DeliveryID]
		switch {
		case o.Disable != "":
			h.disable[sub] = true
		case len(o.Attempts) == 0:
			continue
		case o.Status != store.DeliveryDelivered:
			h.failed[sub] = true
		case o.At.After(h.success[sub]):
			h.success[sub] = o.At
		}
	}
	for sub := range h.disable {
		h.failed[sub] = true
	}
	for sub := range h.failed {
		delete(h.success, sub)
	}
	h.subs = append(slices.Collect(maps.Keys(h.failed)), slices.Collect(maps.Keys(h.success))...)
	slices.Sort(h.subs)
	return h
}

// queueFirst queues what comes before the deliveries: the gates of the
// subscriptions to disable, then each subscription's lock or success
// update, in id order.
func (h *healthPlan) queueFirst(p *pipeline) {
	if len(h.disable) > 0 {
		p.exec("closing gates", gateExclusiveSQL, gateClass, gateKeys(slices.Collect(maps.Keys(h.disable))))
	}
	for _, sub := range h.subs {
		switch {
		case h.disable[sub]:
			p.exec("locking subscription "+sub, `SELECT id FROM subscriptions WHERE id = $1 FOR UPDATE`, sub)
		case h.failed[sub]:
			p.exec("locking subscription "+sub, `SELECT id FROM subscriptions WHERE id = $1 FOR NO KEY UPDATE`, sub)
		default:
			queueSuccess(p, sub, h.success[sub])
		}
	}
}

// queueLast queues the health updates of the subscriptions with a failure,
// one per try, in subscription order and, for one subscription, as given.
func (h *healthPlan) queueLast(p *pipeline, outcomes []store.Outcome, subOf map[string]string) {
	for _, sub := range h.subs {
		if !h.failed[sub] {
			continue
		}
		for i := range outcomes {
			o := &outcomes[i]
			switch {
			case len(o.Attempts) == 0 || subOf[o.DeliveryID] != sub:
			case o.Status == store.DeliveryDelivered:
				queueSuccess(p, sub, o.At)
			default:
				p.exec("updating health of subscription "+sub, `UPDATE subscriptions
					SET fail_streak = fail_streak + 1,
					    fail_streak_started_at = coalesce(fail_streak_started_at, $1),
					    last_failed_at = $1
					WHERE id = $2`, o.At, sub)
			}
		}
	}
}

// queueSuccess queues the health update of a success at at.
func queueSuccess(p *pipeline, sub string, at time.Time) {
	p.exec("updating health of subscription "+sub, `UPDATE subscriptions
		SET fail_streak = 0, fail_streak_started_at = NULL, last_succeeded_at = $1
		WHERE id = $2 AND (fail_streak <> 0 OR fail_streak_started_at IS NOT NULL
			OR last_succeeded_at IS NULL OR last_succeeded_at < $3)`,
		at, sub, store.SuccessStale(at))
}

// queueOutcome queues one outcome's delivery statements: the delivery's new
// state, whose result gives its tries so far and checks the outcome's
// subscription, and its attempt rows.
func queueOutcome(p *pipeline, o *store.Outcome, subID string, now time.Time, tries *int) {
	var next *time.Time
	if o.Status == store.DeliveryPending && !o.NextAttemptAt.IsZero() {
		at := store.Time(o.NextAttemptAt)
		next = &at
	}
	p.queryRow(`UPDATE deliveries
		SET status = $1, attempts = attempts + $2, next_attempt_at = $3, updated_at = $4
		WHERE id = $5 RETURNING attempts, subscription_id`,
		[]any{o.Status, len(o.Attempts), next, now, o.DeliveryID},
		func(row pgx.Row) error {
			var sub string
			err := row.Scan(tries, &sub)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				return notFound("delivery", o.DeliveryID)
			case err != nil:
				return fmt.Errorf("updating delivery %s: %w", o.DeliveryID, err)
			case sub != subID:
				return fmt.Errorf("recording outcome of delivery %s: it names subscription %s, the delivery is to %s", o.DeliveryID, subID, sub)
			}
			return nil
		})
	for i := range o.Attempts {
		a := o.Attempts[i]
		if a.DeliveryID == "" {
			a.DeliveryID = o.DeliveryID
		}
		if a.SubscriptionID == "" {
			a.SubscriptionID = subID
		}
		p.exec("inserting attempt "+a.ID, insertAttemptSQL, attemptArgs(&a)...)
	}
}

// pipeline queues statements, each with what reads its result, and sends
// them to the server as one batch.
type pipeline struct {
	batch pgx.Batch
	reads []func(pgx.BatchResults) error
}

// exec queues a statement whose result is only checked for an error.
func (p *pipeline) exec(what, sql string, args ...any) {
	p.batch.Queue(sql, args...)
	p.reads = append(p.reads, func(br pgx.BatchResults) error {
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	})
}

// queryRow queues a statement returning at most one row, read by read.
func (p *pipeline) queryRow(sql string, args []any, read func(pgx.Row) error) {
	p.batch.Queue(sql, args...)
	p.reads = append(p.reads, func(br pgx.BatchResults) error { return read(br.QueryRow()) })
}

// run sends the batch and reads every result in order, stopping at the
// first error.
func (p *pipeline) run(ctx context.Context, w *writeTx) (err error) {
	br := w.SendBatch(ctx, &p.batch)
	defer func() { err = errors.Join(err, br.Close()) }()
	for _, read := range p.reads {
		if err := read(br); err != nil {
			return err
		}
	}
	return nil
}

// cancelPending cancels a subscription's pending deliveries: it was deleted
// or disabled, and nothing more will be sent to it. It locks them in id
// order first, as an outcome batch locks its own, so that the two never
// wait for each other crosswise.
func cancelPending(ctx context.Context, w *writeTx, subID string, now time.Time) error {
	_, err := w.Exec(ctx, `UPDATE deliveries SET status = 'cancelled', updated_at = $1
		WHERE id IN (SELECT id FROM deliveries WHERE subscription_id = $2 AND status = 'pending'
			ORDER BY id FOR NO KEY UPDATE)`, now, subID)
	if err != nil {
		return fmt.Errorf("cancelling deliveries of subscription %s: %w", subID, err)
	}
	return nil
}

const insertAttemptSQL = `INSERT INTO attempts (` + attemptColumns + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`

const attemptColumns = `id, delivery_id, event_id, event_type, unified_api, subscription_id, consumer_id,
	service_id, endpoint, status_code, success, execution_attempt, timestamp, duration_ms,
	response_body, error, retry_scheduled, subscription_consumer_id`

// attemptArgs returns an attempt's column values. PostgreSQL's text refuses
// NUL bytes, which an endpoint's answer may hold (the body is valid UTF-8,
// not necessarily text), so NULs in the response body and the error become
// U+FFFD, the character that replaced invalid UTF-8 in the same body;
// refusing the write would lose the outcome of a try that was made.
func attemptArgs(a *store.Attempt) []any {
	return []any{a.ID, a.DeliveryID, a.EventID, a.EventType, a.UnifiedAPI, a.SubscriptionID, a.ConsumerID,
		a.ServiceID, a.Endpoint, a.StatusCode, a.Success, a.ExecutionAttempt, a.Timestamp, a.DurationMS,
		withoutNUL(a.ResponseBody), withoutNUL(a.Error), a.RetryScheduled, a.SubscriptionConsumerID}
}

func withoutNUL(s string) string { return strings.ReplaceAll(s, "\x00", "\uFFFD") }

func scanAttempt(row scanner) (*store.Attempt, error) {
	var a store.Attempt
	err := row.Scan(&a.ID, &a.DeliveryID, &a.EventID, &a.EventType, &a.UnifiedAPI, &a.SubscriptionID, &a.ConsumerID,
		&a.ServiceID, &a.Endpoint, &a.StatusCode, &a.Success, &a.ExecutionAttempt, &a.Timestamp, &a.DurationMS,
		&a.ResponseBody, &a.Error, &a.RetryScheduled, &a.SubscriptionConsumerID)
	if err != nil {
		return nil, err
	}
	a.Timestamp = utc(a.Timestamp)
	return &a, nil
}

// GetDelivery loads one delivery in sc.
func (s *Store) GetDelivery(ctx context.Context, sc store.Scope, id string) (*store.Delivery, error) {
	w := newWhere()
	w.Add("id", "=", id)
	w.ScopeVia(store.DeliveryScope, sc)
	d, err := scanDelivery(s.pool.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM deliveries`+w.Clause(), w.Args()...))
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
func (s *Store) ListDeliveries(ctx context.Context, sc store.Scope, eventID string) ([]*store.Delivery, error) {
	w := newWhere()
	w.Add("event_id", "=", eventID)
	w.ScopeVia(store.DeliveryScope, sc)
	out, err := queryAll(ctx, s.pool, scanDelivery,
		`SELECT `+deliveryColumns+` FROM deliveries`+w.Clause()+` ORDER BY id DESC`, w.Args()...)
	if err != nil {
		return nil, fmt.Errorf("listing deliveries of event %s: %w", eventID, unavailable(err))
	}
	return out, nil
}

// ListAttempts lists the attempt log newest first.
func (s *Store) ListAttempts(ctx context.Context, sc store.Scope, f store.AttemptFilter, p store.Page) ([]*store.Attempt, error) {
	w := newWhere()
	store.AttemptsWhere(w, sc, f)
	query, args, reverse := w.Page(`SELECT `+attemptColumns+` FROM attempts`, p)
	out, err := queryAll(ctx, s.pool, scanAttempt, query, args...)
	if err != nil {
		return nil, fmt.Errorf("listing attempts: %w", unavailable(err))
	}
	return store.Ordered(out, reverse), nil
}
