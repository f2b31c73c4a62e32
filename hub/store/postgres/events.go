package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/job"
	"github.com/switchboardhq/switchboard/hub/store"
)

const eventColumns = `id, event_type, base_event_type, unified_api, service_id, consumer_id,
	connection_id, entity_id, entity_type, entity_url, downstream_event_type, event_source,
	occurred_at, created_at, entity, dedupe_key, request_hash`

func scanEvent(row scanner) (*event.Event, error) {
	var (
		ev     event.Event
		entity []byte
		dedupe *string
	)
	err := row.Scan(&ev.ID, &ev.EventType, &ev.BaseEventType, &ev.UnifiedAPI, &ev.ServiceID, &ev.ConsumerID,
		&ev.ConnectionID, &ev.EntityID, &ev.EntityType, &ev.EntityURL, &ev.DownstreamEventType, &ev.EventSource,
		&ev.OccurredAt, &ev.CreatedAt, &entity, &dedupe, &ev.RequestHash)
	if err != nil {
		return nil, err
	}
	ev.OccurredAt = utc(ev.OccurredAt)
	ev.CreatedAt = utc(ev.CreatedAt)
	if entity != nil {
		ev.Entity = json.RawMessage(entity)
	}
	if dedupe != nil {
		ev.DedupeKey = *dedupe
	}
	return &ev, nil
}

func eventArgs(ev *event.Event) []any {
	var entity any
	if len(ev.Entity) > 0 {
		entity = string(ev.Entity)
	}
	return []any{ev.ID, ev.EventType, ev.BaseEventType, ev.UnifiedAPI, ev.ServiceID, ev.ConsumerID,
		ev.ConnectionID, ev.EntityID, ev.EntityType, ev.EntityURL, ev.DownstreamEventType, ev.EventSource,
		ev.OccurredAt, ev.CreatedAt, entity, nullString(ev.DedupeKey), ev.RequestHash}
}

// insertEventSQL stores an event unless its dedupe key is taken, and says
// whether it did. A concurrent publish of the same key waits for the first
// one's transaction: if that commits, this one inserts nothing and finds the
// committed event; if it rolls back, this one inserts.
const insertEventSQL = `INSERT INTO events (` + eventColumns + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
	ON CONFLICT (dedupe_key) DO NOTHING
	RETURNING true`

// PublishEvent stores ev with one pending delivery per enabled matching
// subscription and one job.Fanout, in one transaction.
func (s *Store) PublishEvent(ctx context.Context, ev *event.Event) (*store.PublishResult, error) {
	if _, err := s.queue(); err != nil {
		return nil, err
	}
	if ev.ID == "" {
		ev.ID = store.NewID()
	}
	if ev.CreatedAt.IsZero() {
		ev.CreatedAt = store.Now()
	}
	ev.CreatedAt = store.Time(ev.CreatedAt)
	ev.OccurredAt = store.Time(ev.OccurredAt)
	if len(ev.Entity) > 0 && !json.Valid(ev.Entity) {
		return nil, fmt.Errorf("publishing event %s: entity is not valid JSON", ev.ID)
	}
	args := eventArgs(ev)
	now := store.Now()

	disp, node := s.dispatcher()
	direct := disp != nil && disp.Reserve()
	var (
		res        *store.PublishResult
		subs       []*sealedSubscription
		deliveries []string
	)
	err := s.write(ctx, func(ctx context.Context, w *writeTx) error {
		var inserted bool
		err := w.QueryRow(ctx, insertEventSQL, args...).Scan(&inserted)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			first, err := scanEvent(w.QueryRow(ctx, `SELECT `+eventColumns+` FROM events WHERE dedupe_key = $1`, ev.DedupeKey))
			if err != nil {
				return fmt.Errorf("looking up dedupe key: %w", err)
			}
			if first.RequestHash != ev.RequestHash {
				return fmt.Errorf("publishing event with key %q (first stored as %s): %w", ev.DedupeKey, first.ID, store.ErrIdempotencyConflict)
			}
			var n int
			if err := w.QueryRow(ctx, `SELECT count(*) FROM deliveries WHERE event_id = $1`, first.ID).Scan(&n); err != nil {
				return fmt.Errorf("counting deliveries of event %s: %w", first.ID, err)
			}
			res = &store.PublishResult{Event: first, Deliveries: n, Duplicate: true}
			return nil
		case err != nil:
			return fmt.Errorf("inserting event %s: %w", ev.ID, err)
		}
		matched, err := matchingSubscriptions(ctx, w, ev)
		if err != nil {
			return err
		}
		var dispatcherNode *int32
		if direct {
			dispatcherNode = &node
		}
		deliveryOf, err := insertDeliveries(ctx, w, ev.ID, subIDs(matched), now, dispatcherNode)
		if err != nil {
			return err
		}
		subs, deliveries = nil, nil
		for _, sub := range matched {
			if id, ok := deliveryOf[sub.ID]; ok {
				subs, deliveries = append(subs, sub), append(deliveries, id)
			}
		}
		res = &store.PublishResult{Event: ev, Deliveries: len(subs)}
		return nil
	})
	if direct {
		s.handOver(ctx, disp, ev, subs, deliveries, now, err == nil && !res.Duplicate)
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

// handOver gives a published event's new deliveries to the dispatcher that
// reserved room for them, or returns the reservation. Should a subscription
// secret fail to open, the event goes through the queue after all.
func (s *Store) handOver(ctx context.Context, disp store.Dispatcher, ev *event.Event, subs []*sealedSubscription, deliveries []string, now time.Time, committed bool) {
	if !committed || len(subs) == 0 {
		disp.Release()
		return
	}
	targets := make([]*store.Target, len(subs))
	for i, sealed := range subs {
		sub, err := s.open(sealed)
		if err != nil {
			disp.Release()
			s.logger.ErrorContext(ctx, "cannot dispatch an event in process; queueing it", "event_id", ev.ID, "error", err)
			if err := s.write(context.WithoutCancel(ctx), func(_ context.Context, w *writeTx) error {
				w.enqueue(job.Fanout{EventID: ev.ID}, store.FanoutInsertOpts())
				return nil
			}); err != nil {
				s.logger.ErrorContext(ctx, "queueing an event's first try failed; it is queued at the next start", "event_id", ev.ID, "error", err)
			}
			return
		}
		targets[i] = &store.Target{
			Delivery: store.Delivery{ID: deliveries[i], EventID: ev.ID, SubscriptionID: sub.ID,
				Status: store.DeliveryPending, CreatedAt: now, UpdatedAt: now},
			Subscription: *sub,
		}
	}
	disp.Dispatch(ev, targets)
}

// matchingSubscriptions selects the enabled subscriptions that receive ev,
// whole (a dispatcher needs their URLs and secrets). Matching runs in Go with
// the one rule set (event.Subscriber.Matches) the rest of the hub uses, not
// in SQL. insertDeliveries then drops any that a concurrent delete or
// disable took away.
func matchingSubscriptions(ctx context.Context, w *writeTx, ev *event.Event) ([]*sealedSubscription, error) {
	candidates, err := queryAll(ctx, w, scanSubscription, `SELECT `+subscriptionColumns+` FROM subscriptions
		WHERE status = 'enabled' AND (consumer_id = '' OR consumer_id = $1) ORDER BY id`, ev.ConsumerID)
	if err != nil {
		return nil, fmt.Errorf("selecting subscriptions for event %s: %w", ev.ID, err)
	}
	var subs []*sealedSubscription
	for _, sub := range candidates {
		if sub.Subscriber().Matches(ev) {
			subs = append(subs, sub)
		}
	}
	return subs, nil
}

func subIDs(subs []*sealedSubscription) []string {
	ids := make([]string, len(subs))
	for i, s := range subs {
		ids[i] = s.ID
	}
	return ids
}

// insertDeliveries inserts one pending delivery per subscription still
// enabled, in one statement, and returns the id of each subscription's
// delivery. Without a dispatcher
// node it also queues the event's one fan-out job if there is any delivery;
// with one, the deliveries are stamped as that node's (see nodeLock).
//
// It first holds the subscriptions' gates shared (gate.go); the insert, a
// statement after that, sees a delete or disable that committed while it
// waited, and inserts nothing for its subscription.
func insertDeliveries(ctx context.Context, w *writeTx, eventID string, subIDs []string, now time.Time, dispatcherNode *int32) (deliveryOf map[string]string, err error) {
	if len(subIDs) == 0 {
		return nil, nil
	}
	ids := make([]string, len(subIDs))
	for i := range subIDs {
		ids[i] = store.NewID()
	}
	batch := &pgx.Batch{}
	batch.Queue(gateSharedSQL, gateClass, gateKeys(subIDs))
	batch.Queue(`INSERT INTO deliveries (`+deliveryColumns+`, dispatcher_node)
		SELECT d.id, $3, d.subscription_id, 'pending', 0, NULL, $4, $4, $5
		FROM unnest($1::text[], $2::text[]) AS d (id, subscription_id)
		JOIN subscriptions s ON s.id = d.subscription_id AND s.status = 'enabled'
		RETURNING id, subscription_id`,
		ids, subIDs, eventID, now, dispatcherNode)
	br := w.SendBatch(ctx, batch)
	defer func() { err = errors.Join(err, br.Close()) }()
	if _, err := br.Exec(); err != nil {
		return nil, fmt.Errorf("holding the gates of event %s's subscriptions: %w", eventID, err)
	}
	rows, err := br.Query()
	if err != nil {
		return nil, fmt.Errorf("inserting deliveries of event %s: %w", eventID, err)
	}
	deliveryOf = make(map[string]string, len(subIDs))
	var id, sub string
	if _, err := pgx.ForEachRow(rows, []any{&id, &sub}, func() error {
		deliveryOf[sub] = id
		return nil
	}); err != nil {
		return nil, fmt.Errorf("inserting deliveries of event %s: %w", eventID, err)
	}
	if len(deliveryOf) > 0 && dispatcherNode == nil {
		w.enqueue(job.Fanout{EventID: eventID}, store.FanoutInsertOpts())
	}
	return deliveryOf, nil
}

// GetEvent loads one event.
func (s *Store) GetEvent(ctx context.Context, id string) (*event.Event, error) {
	ev, err := scanEvent(s.pool.QueryRow(ctx, `SELECT `+eventColumns+` FROM events WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("event", id)
	}
	if err != nil {
		return nil, fmt.Errorf("loading event %s: %w", id, unavailable(err))
	}
	return ev, nil
}

// ListEvents lists events newest first.
func (s *Store) ListEvents(ctx context.Context, f store.EventFilter, p store.Page) ([]*event.Event, error) {
	var w where
	w.eq("event_type", f.EventType)
	w.eq("consumer_id", f.ConsumerID)
	w.eq("service_id", f.ServiceID)
	query, args, reverse := w.page(`SELECT `+eventColumns+` FROM events`, p)
	out, err := queryAll(ctx, s.pool, scanEvent, query, args...)
	if err != nil {
		return nil, fmt.Errorf("listing events: %w", unavailable(err))
	}
	return ordered(out, reverse), nil
}

// Replay creates new pending deliveries of a stored event. With a
// subscriptionID, only that subscription (which must exist) gets one, and
// only if it is enabled and matches the event: replay repeats a delivery, it
// does not send a subscription events it never asked for. The subscriptions'
// gates are held as PublishEvent holds them.
func (s *Store) Replay(ctx context.Context, eventID, subscriptionID string) (int, error) {
	if _, err := s.queue(); err != nil {
		return 0, err
	}
	now := store.Now()
	var n int
	err := s.write(ctx, func(ctx context.Context, w *writeTx) error {
		ev, err := scanEvent(w.QueryRow(ctx, `SELECT `+eventColumns+` FROM events WHERE id = $1`, eventID))
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("event", eventID)
		}
		if err != nil {
			return fmt.Errorf("loading event %s: %w", eventID, err)
		}
		var subs []string
		if subscriptionID == "" {
			matched, err := matchingSubscriptions(ctx, w, ev)
			if err != nil {
				return err
			}
			subs = subIDs(matched)
		} else {
			var (
				sub    event.Subscriber
				status string
			)
			err := w.QueryRow(ctx, `SELECT unified_api, events, consumer_id, status FROM subscriptions WHERE id = $1`,
				subscriptionID).Scan(&sub.UnifiedAPI, &sub.Events, &sub.ConsumerID, &status)
			if errors.Is(err, pgx.ErrNoRows) {
				return notFound("subscription", subscriptionID)
			}
			if err != nil {
				return fmt.Errorf("loading subscription %s: %w", subscriptionID, err)
			}
			if status == store.StatusEnabled && sub.Matches(ev) {
				subs = []string{subscriptionID}
			}
		}
		deliveryOf, err := insertDeliveries(ctx, w, eventID, subs, now, nil)
		n = len(deliveryOf)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("replaying event %s: %w", eventID, err)
	}
	return n, nil
}

// where builds the WHERE clause of a filtered, paged list, numbering its
// parameters.
type where struct {
	conds []string
	args  []any
}

// eq adds column = value unless value is empty (empty filters match all).
func (w *where) eq(column, value string) {
	if value != "" {
		w.add(column, "=", value)
	}
}

// add adds column op value.
func (w *where) add(column, op string, value any) {
	w.args = append(w.args, value)
	w.conds = append(w.conds, fmt.Sprintf("%s %s $%d", column, op, len(w.args)))
}

// page completes query with the filters and the page. Lists are newest
// first; a Before page is read oldest first (the rows right after the
// cursor) and reverse tells the caller to flip it back.
func (w where) page(query string, p store.Page) (string, []any, bool) {
	reverse := false
	switch {
	case p.After != "":
		w.add("id", "<", p.After)
	case p.Before != "":
		w.add("id", ">", p.Before)
		reverse = true
	}
	var b strings.Builder
	b.WriteString(query)
	if len(w.conds) > 0 {
		b.WriteString(" WHERE ")
		b.WriteString(strings.Join(w.conds, " AND "))
	}
	if reverse {
		b.WriteString(" ORDER BY id ASC")
	} else {
		b.WriteString(" ORDER BY id DESC")
	}
	w.args = append(w.args, p.Size())
	fmt.Fprintf(&b, " LIMIT $%d", len(w.args))
	return b.String(), w.args, reverse
}

func ordered[T any](items []T, reverse bool) []T {
	if reverse {
		slices.Reverse(items)
	}
	return items
}
