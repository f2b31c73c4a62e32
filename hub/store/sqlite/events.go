package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/job"
	"github.com/switchboardhq/switchboard/hub/store"
)

const eventColumns = `id, event_type, base_event_type, unified_api, service_id, consumer_id,
	connection_id, entity_id, entity_type, entity_url, downstream_event_type, event_source,
	occurred_at, created_at, entity, dedupe_key, request_hash`

type scanner interface{ Scan(dest ...any) error }

// queryAll runs a read query and scans every row with scan. The rows are
// closed before it returns, so callers decrypt what they read without
// holding a connection of the read pool.
func queryAll[T any](ctx context.Context, db *sql.DB, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("reading row: %w", err)
		}
		out = append(out, v)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	return out, nil
}

func scanEvent(row scanner) (*event.Event, error) {
	var (
		ev                   event.Event
		occurred, created    int64
		entity, dedupe, hash sql.NullString
	)
	err := row.Scan(&ev.ID, &ev.EventType, &ev.BaseEventType, &ev.UnifiedAPI, &ev.ServiceID, &ev.ConsumerID,
		&ev.ConnectionID, &ev.EntityID, &ev.EntityType, &ev.EntityURL, &ev.DownstreamEventType, &ev.EventSource,
		&occurred, &created, &entity, &dedupe, &hash)
	if err != nil {
		return nil, err
	}
	ev.OccurredAt = fromMicros(occurred)
	ev.CreatedAt = fromMicros(created)
	if entity.Valid {
		ev.Entity = json.RawMessage(entity.String)
	}
	ev.DedupeKey = dedupe.String
	ev.RequestHash = hash.String
	return &ev, nil
}

func eventArgs(ev *event.Event) []any {
	var entity any
	if len(ev.Entity) > 0 {
		entity = string(ev.Entity)
	}
	return []any{ev.ID, ev.EventType, ev.BaseEventType, ev.UnifiedAPI, ev.ServiceID, ev.ConsumerID,
		ev.ConnectionID, ev.EntityID, ev.EntityType, ev.EntityURL, ev.DownstreamEventType, ev.EventSource,
		micros(ev.OccurredAt), micros(ev.CreatedAt), entity, nullString(ev.DedupeKey), ev.RequestHash}
}

// PublishEvent stores ev with one pending delivery per enabled matching
// subscription and one job.Fanout, in one transaction.
func (s *Store) PublishEvent(ctx context.Context, sc store.Scope, ev *event.Event) (*store.PublishResult, error) {
	if err := store.CheckScope(sc, "publishing an event", ev.ConsumerID); err != nil {
		return nil, err
	}
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

	disp := s.dispatcher()
	direct := disp != nil && disp.Reserve()
	var (
		res        *store.PublishResult
		subs       []*store.SealedSubscription
		deliveries []string
	)
	err := s.write(ctx, func(ctx context.Context, w *writeTx) error {
		var err error // fn may run twice
		res, subs, deliveries, err = publishTx(ctx, w, ev, args, now, direct)
		return err
	})
	if direct {
		s.handOver(ctx, disp, ev, subs, deliveries, now, err == nil && !res.Duplicate)
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

// publishTx is PublishEvent's write: ev (prepared, args its eventArgs)
// with its deliveries, and a job.Fanout unless direct, or the first event
// of its dedupe key.
func publishTx(ctx context.Context, w *writeTx, ev *event.Event, args []any, now time.Time, direct bool) (*store.PublishResult, []*store.SealedSubscription, []string, error) {
	if ev.DedupeKey != "" {
		first, err := scanEvent(w.QueryRowContext(ctx, `SELECT `+eventColumns+` FROM events WHERE dedupe_key = ?`, ev.DedupeKey))
		switch {
		case err == nil:
			if first.RequestHash != ev.RequestHash {
				return nil, nil, nil, &store.IdempotencyConflictError{Key: ev.DedupeKey, First: first}
			}
			var n int
			if err := w.QueryRowContext(ctx, `SELECT count(*) FROM deliveries WHERE event_id = ?`, first.ID).Scan(&n); err != nil {
				return nil, nil, nil, fmt.Errorf("counting deliveries of event %s: %w", first.ID, err)
			}
			return &store.PublishResult{Event: first, Deliveries: n, Duplicate: true}, nil, nil, nil
		case !errors.Is(err, sql.ErrNoRows):
			return nil, nil, nil, fmt.Errorf("looking up dedupe key: %w", err)
		}
	}
	if _, err := w.ExecContext(ctx, insertEventSQL, args...); err != nil {
		return nil, nil, nil, fmt.Errorf("inserting event %s: %w", ev.ID, err)
	}
	subs, err := matchingSubscriptions(ctx, w, ev)
	if err != nil {
		return nil, nil, nil, err
	}
	deliveries, err := insertDeliveries(ctx, w, ev.ID, subIDs(subs), now, !direct)
	if err != nil {
		return nil, nil, nil, err
	}
	return &store.PublishResult{Event: ev, Deliveries: len(subs)}, subs, deliveries, nil
}

// handOver ends a publish that reserved room in disp (store.HandOver).
// Should a subscription secret fail to open, the event goes through the
// queue after all.
func (s *Store) handOver(ctx context.Context, disp store.Dispatcher, ev *event.Event, subs []*store.SealedSubscription, deliveries []string, now time.Time, committed bool) {
	err := store.HandOver(disp, s.sealer, ev, subs, deliveries, now, committed)
	if err == nil {
		return
	}
	s.logger.ErrorContext(ctx, "cannot dispatch an event in process; queueing it", "event_id", ev.ID, "error", err)
	if err := s.write(context.WithoutCancel(ctx), func(_ context.Context, w *writeTx) error {
		w.enqueue(job.Fanout{EventID: ev.ID}, store.FanoutInsertOpts())
		return nil
	}); err != nil {
		s.logger.ErrorContext(ctx, "queueing an event's first try failed; it is queued at the next start", "event_id", ev.ID, "error", err)
	}
}

const insertEventSQL = `INSERT INTO events (` + eventColumns + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// matchingSubscriptions selects the enabled subscriptions that receive ev,
// whole (a dispatcher needs their URLs and secrets). Matching runs in Go with
// the one rule set (event.Subscriber.Matches) the rest of the hub uses, not
// in SQL.
func matchingSubscriptions(ctx context.Context, w *writeTx, ev *event.Event) ([]*store.SealedSubscription, error) {
	rows, err := w.QueryContext(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions
		WHERE status = 'enabled' AND (consumer_id = '' OR consumer_id = ?)`, ev.ConsumerID)
	if err != nil {
		return nil, fmt.Errorf("selecting subscriptions for event %s: %w", ev.ID, err)
	}
	defer rows.Close()
	var subs []*store.SealedSubscription
	for rows.Next() {
		sub, err := scanSubscription(rows)
		if err != nil {
			return nil, fmt.Errorf("reading subscription: %w", err)
		}
		if sub.Subscriber().Matches(ev) {
			subs = append(subs, sub)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("selecting subscriptions for event %s: %w", ev.ID, err)
	}
	return subs, nil
}

func subIDs(subs []*store.SealedSubscription) []string {
	ids := make([]string, len(subs))
	for i, s := range subs {
		ids[i] = s.ID
	}
	return ids
}

// insertDeliveries inserts one pending delivery per subscription and returns
// their ids. With queue, it also queues the event's one fan-out job if there
// is any delivery.
func insertDeliveries(ctx context.Context, w *writeTx, eventID string, subIDs []string, now time.Time, queue bool) ([]string, error) {
	if len(subIDs) == 0 {
		return nil, nil
	}
	at := micros(now)
	ids := make([]string, len(subIDs))
	for i, subID := range subIDs {
		ids[i] = store.NewID()
		if _, err := w.ExecContext(ctx, `INSERT INTO deliveries (`+deliveryColumns+`)
			VALUES (?, ?, ?, 'pending', 0, NULL, ?, ?)`, ids[i], eventID, subID, at, at); err != nil {
			return nil, fmt.Errorf("inserting delivery of event %s to %s: %w", eventID, subID, err)
		}
	}
	if queue {
		w.enqueue(job.Fanout{EventID: eventID}, store.FanoutInsertOpts())
	}
	return ids, nil
}

// GetEvent loads one event in sc.
func (s *Store) GetEvent(ctx context.Context, sc store.Scope, id string) (*event.Event, error) {
	w := byID(id, "consumer_id", sc)
	ev, err := scanEvent(s.reader.QueryRowContext(ctx, `SELECT `+eventColumns+` FROM events`+w.Clause(), w.Args()...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("event", id)
	}
	if err != nil {
		return nil, fmt.Errorf("loading event %s: %w", id, err)
	}
	return ev, nil
}

// ListEvents lists the events in sc newest first.
func (s *Store) ListEvents(ctx context.Context, sc store.Scope, f store.EventFilter, p store.Page) ([]*event.Event, error) {
	w := newWhere()
	store.EventsWhere(w, sc, f)
	query, args, reverse := w.Page(`SELECT `+eventColumns+` FROM events`, p)
	out, err := queryAll(ctx, s.reader, scanEvent, query, args...)
	if err != nil {
		return nil, fmt.Errorf("listing events: %w", err)
	}
	return store.Ordered(out, reverse), nil
}

// Replay creates new pending deliveries of a stored event. With a
// subscriptionID, only that subscription (which must exist) gets one, and
// only if it is enabled and matches the event: replay repeats a delivery, it
// does not send a subscription events it never asked for.
func (s *Store) Replay(ctx context.Context, sc store.Scope, eventID, subscriptionID string) (int, error) {
	if _, err := s.queue(); err != nil {
		return 0, err
	}
	now := store.Now()
	var n int
	evWhere := byID(eventID, "consumer_id", sc)
	subWhere := byID(subscriptionID, "consumer_id", sc)
	err := s.write(ctx, func(ctx context.Context, w *writeTx) error {
		ev, err := scanEvent(w.QueryRowContext(ctx, `SELECT `+eventColumns+` FROM events`+evWhere.Clause(), evWhere.Args()...))
		if errors.Is(err, sql.ErrNoRows) {
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
			subs = subIDs(store.InScope(sc, matched))
		} else {
			var (
				sub    event.Subscriber
				status string
				events string
			)
			err := w.QueryRowContext(ctx, `SELECT unified_api, events, consumer_id, status FROM subscriptions`+subWhere.Clause(),
				subWhere.Args()...).Scan(&sub.UnifiedAPI, &events, &sub.ConsumerID, &status)
			if errors.Is(err, sql.ErrNoRows) {
				return notFound("subscription", subscriptionID)
			}
			if err != nil {
				return fmt.Errorf("loading subscription %s: %w", subscriptionID, err)
			}
			if err := json.Unmarshal([]byte(events), &sub.Events); err != nil {
				return fmt.Errorf("reading events of subscription %s: %w", subscriptionID, err)
			}
			sub.ID = subscriptionID
			if status == store.StatusEnabled && sub.Matches(ev) {
				subs = []string{subscriptionID}
			}
		}
		n = len(subs)
		_, err = insertDeliveries(ctx, w, eventID, subs, now, true)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("replaying event %s: %w", eventID, err)
	}
	return n, nil
}

// SendTest stores ev with one pending delivery to subscriptionID alone and
// its fan-out job, in one transaction.
func (s *Store) SendTest(ctx context.Context, sc store.Scope, subscriptionID string, ev *event.Event) (*store.Delivery, error) {
	if err := store.CheckScope(sc, "sending a test event", ev.ConsumerID); err != nil {
		return nil, err
	}
	if _, err := s.queue(); err != nil {
		return nil, err
	}
	if err := store.PrepareTestEvent(ev); err != nil {
		return nil, err
	}
	now := store.Now()
	subWhere := byID(subscriptionID, "consumer_id", sc)
	var d *store.Delivery
	err := s.write(ctx, func(ctx context.Context, w *writeTx) error {
		sub, err := scanSubscription(w.QueryRowContext(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions`+subWhere.Clause(), subWhere.Args()...))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("subscription", subscriptionID)
		}
		if err != nil {
			return fmt.Errorf("loading subscription %s: %w", subscriptionID, err)
		}
		if err := store.CheckTestTarget(sub, ev); err != nil {
			return err
		}
		if _, err := w.ExecContext(ctx, insertEventSQL, eventArgs(ev)...); err != nil {
			return fmt.Errorf("inserting event %s: %w", ev.ID, err)
		}
		ids, err := insertDeliveries(ctx, w, ev.ID, []string{subscriptionID}, now, true)
		if err != nil {
			return err
		}
		d = &store.Delivery{ID: ids[0], EventID: ev.ID, SubscriptionID: subscriptionID,
			Status: store.DeliveryPending, CreatedAt: now, UpdatedAt: now}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sending test event %s to subscription %s: %w", ev.ID, subscriptionID, err)
	}
	return d, nil
}
