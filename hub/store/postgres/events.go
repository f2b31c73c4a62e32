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

// insertEventsSQL stores a group of events, each unless its dedupe key is
// taken, and returns the ids of those it stored. A concurrent publish of a
// taken key waits for the first one's transaction: if that commits, this
// one inserts nothing and finds the committed event; if it rolls back, this
// one inserts. Of two events of the group with one key, the first is
// stored. Entities are sent as text and stored as json, byte for byte.
const insertEventsSQL = `INSERT INTO events (` + eventColumns + `)
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
		$7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],
		$13::timestamptz[], $14::timestamptz[], $15::text[]::json[], $16::text[], $17::text[])
	ON CONFLICT (dedupe_key) DO NOTHING
	RETURNING id`

// maxCombinedEvents bounds how many publishes one transaction carries.
const maxCombinedEvents = 128

// publishReq is one PublishEvent call's share of a combined write, and its
// result.
type publishReq struct {
	ev   *event.Event
	node *int32 // the dispatcher node that takes its first try, if any
	res  *store.PublishResult
	subs []*store.SealedSubscription // the subscriptions it was delivered to
	ids  []string                    // and their deliveries' ids
	err  error
}

func (r *publishReq) fail(err error) { r.err = err }

// reset clears what a write that then rolled back set.
func (r *publishReq) reset() { r.res, r.subs, r.ids, r.err = nil, nil, nil, nil }

func newPublishCombiner(s *Store) *combiner[*publishReq] {
	return &combiner[*publishReq]{
		run:      s.publishGroup,
		size:     func(*publishReq) int { return 1 },
		max:      maxCombinedEvents,
		parallel: parallelWrites,
	}
}

// PublishEvent stores ev with one pending delivery per enabled matching
// subscription and, unless this node's dispatcher takes its first try, one
// job.Fanout, in one transaction shared with concurrent publishes (see
// combiner).
func (s *Store) PublishEvent(ctx context.Context, sc store.Scope, ev *event.Event) (*store.PublishResult, error) {
	if err := store.CheckScope(sc, "publishing an event", ev.ConsumerID); err != nil {
		return nil, err
	}
	if _, err := s.queue(); err != nil {
		return nil, err
	}
	if err := prepareEvent(ev); err != nil {
		return nil, err
	}
	req := &publishReq{ev: ev}
	disp, node := s.dispatcher()
	direct := disp != nil && disp.Reserve()
	if direct {
		req.node = &node
	}
	s.publishes.do(ctx, req)
	if direct {
		s.handOver(ctx, disp, ev, req.subs, req.ids, req.err == nil && !req.res.Duplicate)
	}
	if req.err != nil {
		return nil, req.err
	}
	return req.res, nil
}

// prepareEvent gives ev an id and a creation time if it has none, rounds
// its times as the store keeps them, and checks its entity.
func prepareEvent(ev *event.Event) error {
	if ev.ID == "" {
		ev.ID = store.NewID()
	}
	if ev.CreatedAt.IsZero() {
		ev.CreatedAt = store.Now()
	}
	ev.CreatedAt = store.Time(ev.CreatedAt)
	ev.OccurredAt = store.Time(ev.OccurredAt)
	if len(ev.Entity) > 0 && !json.Valid(ev.Entity) {
		return fmt.Errorf("publishing event %s: entity is not valid JSON", ev.ID)
	}
	return nil
}

// publishGroup writes a group of publishes in one transaction. If that
// fails for a reason other than the database being unavailable, one event
// may be at fault (an id already taken): each is then written on its own,
// so that only its own error reaches its caller.
func (s *Store) publishGroup(ctx context.Context, group []*publishReq) {
	if len(group) > 1 {
		err := s.write(ctx, func(ctx context.Context, w *writeTx) error { return publishAll(ctx, w, group) })
		if err == nil {
			return
		}
		for _, r := range group {
			r.reset()
			if errors.Is(err, store.ErrUnavailable) {
				r.err = err
			}
		}
		if errors.Is(err, store.ErrUnavailable) {
			return
		}
	}
	for _, r := range group {
		if err := s.write(ctx, func(ctx context.Context, w *writeTx) error { return publishAll(ctx, w, []*publishReq{r}) }); err != nil {
			r.reset()
			r.err = err
		}
	}
}

// publishAll stores the events of a group, their deliveries and their
// fan-out jobs with one statement per table. A request refused on its own
// merits (its dedupe key taken by a different request) gets its error and
// writes nothing, without failing the others; an error returned fails the
// whole transaction.
func publishAll(ctx context.Context, w *writeTx, group []*publishReq) error {
	// Groups written at once claim their dedupe keys in one order, so that
	// neither waits for a key the other claimed while holding one it wants.
	group = slices.SortedStableFunc(slices.Values(group), func(a, b *publishReq) int {
		return strings.Compare(a.ev.DedupeKey, b.ev.DedupeKey)
	})
	inserted := make(map[string]bool, len(group))
	rows, err := w.Query(ctx, insertEventsSQL, eventColumnsOf(group)...)
	if err != nil {
		return fmt.Errorf("inserting %d events: %w", len(group), err)
	}
	var id string
	if _, err := pgx.ForEachRow(rows, []any{&id}, func() error {
		inserted[id] = true
		return nil
	}); err != nil {
		return fmt.Errorf("inserting %d events: %w", len(group), err)
	}

	var fresh, dups []*publishReq
	for _, r := range group {
		if inserted[r.ev.ID] {
			fresh = append(fresh, r)
		} else {
			dups = append(dups, r)
		}
	}
	if err := publishFresh(ctx, w, fresh); err != nil {
		return err
	}
	// After the deliveries: a duplicate of an event of this group counts
	// them as a later publish would.
	for _, r := range dups {
		if err := duplicate(ctx, w, r); err != nil {
			return err
		}
	}
	return nil
}

// publishFresh stores the deliveries and fan-out jobs of events just
// inserted.
func publishFresh(ctx context.Context, w *writeTx, fresh []*publishReq) error {
	if len(fresh) == 0 {
		return nil
	}
	candidates, err := candidateSubscriptions(ctx, w, fresh)
	if err != nil {
		return err
	}
	var want []newDelivery
	matched := make([][]*store.SealedSubscription, len(fresh))
	for i, r := range fresh {
		for _, sub := range candidates {
			if sub.Subscriber().Matches(r.ev) {
				matched[i] = append(matched[i], sub)
				want = append(want, newDelivery{eventID: r.ev.ID, subID: sub.ID, node: r.node})
			}
		}
	}
	deliveryOf, err := insertDeliveries(ctx, w, want, store.Now())
	if err != nil {
		return err
	}
	for i, r := range fresh {
		for _, sub := range matched[i] {
			if id, ok := deliveryOf[[2]string{r.ev.ID, sub.ID}]; ok {
				r.subs, r.ids = append(r.subs, sub), append(r.ids, id)
			}
		}
		r.res = &store.PublishResult{Event: r.ev, Deliveries: len(r.subs)}
		if len(r.subs) > 0 && r.node == nil {
			w.enqueue(job.Fanout{EventID: r.ev.ID}, store.FanoutInsertOpts())
		}
	}
	return nil
}

// eventColumnsOf returns the group's events as one typed array per column
// of insertEventsSQL.
func eventColumnsOf(group []*publishReq) []any {
	var (
		text   [12][]string
		times  [2][]time.Time
		entity = make([]*string, len(group))
		dedupe = make([]*string, len(group))
		hashes = make([]string, len(group))
	)
	for i, r := range group {
		ev := r.ev
		for j, v := range [12]string{ev.ID, ev.EventType, ev.BaseEventType, ev.UnifiedAPI, ev.ServiceID, ev.ConsumerID,
			ev.ConnectionID, ev.EntityID, ev.EntityType, ev.EntityURL, ev.DownstreamEventType, ev.EventSource} {
			text[j] = append(text[j], v)
		}
		times[0] = append(times[0], ev.OccurredAt)
		times[1] = append(times[1], ev.CreatedAt)
		if len(ev.Entity) > 0 {
			e := string(ev.Entity)
			entity[i] = &e
		}
		if ev.DedupeKey != "" {
			dedupe[i] = &ev.DedupeKey
		}
		hashes[i] = ev.RequestHash
	}
	cols := make([]any, 0, 17)
	for _, col := range text {
		cols = append(cols, col)
	}
	return append(cols, times[0], times[1], entity, dedupe, hashes)
}

// duplicate answers a publish whose dedupe key was taken: with the first
// event of the key if the requests are the same, with
// store.ErrIdempotencyConflict if not.
func duplicate(ctx context.Context, w *writeTx, r *publishReq) error {
	ev := r.ev
	first, err := scanEvent(w.QueryRow(ctx, `SELECT `+eventColumns+` FROM events WHERE dedupe_key = $1`, ev.DedupeKey))
	if err != nil {
		return fmt.Errorf("looking up dedupe key: %w", err)
	}
	if first.RequestHash != ev.RequestHash {
		r.err = &store.IdempotencyConflictError{Key: ev.DedupeKey, First: first}
		return nil
	}
	var n int
	if err := w.QueryRow(ctx, `SELECT count(*) FROM deliveries WHERE event_id = $1`, first.ID).Scan(&n); err != nil {
		return fmt.Errorf("counting deliveries of event %s: %w", first.ID, err)
	}
	r.res = &store.PublishResult{Event: first, Deliveries: n, Duplicate: true}
	return nil
}

// candidateSubscriptions selects the enabled subscriptions that may receive
// any of the group's events (bound to none of the consumers or to one of
// theirs), whole (a dispatcher needs their URLs and secrets), in id order.
// Matching then runs in Go with the one rule set (event.Subscriber.Matches)
// the rest of the hub uses, not in SQL; insertDeliveries drops any that a
// concurrent delete or disable took away.
func candidateSubscriptions(ctx context.Context, w *writeTx, group []*publishReq) ([]*store.SealedSubscription, error) {
	consumers := make([]string, 0, len(group))
	for _, r := range group {
		consumers = append(consumers, r.ev.ConsumerID)
	}
	slices.Sort(consumers)
	consumers = slices.Compact(consumers)
	subs, err := queryAll(ctx, w, scanSubscription, `SELECT `+subscriptionColumns+` FROM subscriptions
		WHERE status = 'enabled' AND (consumer_id = '' OR consumer_id = ANY($1)) ORDER BY id`, consumers)
	if err != nil {
		return nil, fmt.Errorf("selecting subscriptions for %d events: %w", len(group), err)
	}
	return subs, nil
}

// handOver ends a publish that reserved room in disp (store.HandOver).
// Should a subscription secret fail to open, the event goes through the
// queue after all.
func (s *Store) handOver(ctx context.Context, disp store.Dispatcher, ev *event.Event, subs []*store.SealedSubscription, deliveries []string, committed bool) {
	err := store.HandOver(disp, s.sealer, ev, subs, deliveries, ev.CreatedAt, committed)
	if err == nil {
		return
	}
	s.logger.ErrorContext(ctx, "cannot dispatch an event in process; queueing it", "event_id", ev.ID, "error", err)
	if err := s.write(context.WithoutCancel(ctx), func(ctx context.Context, w *writeTx) error {
		// The job's worker tries only deliveries no dispatcher holds.
		if _, err := w.Exec(ctx, `UPDATE deliveries SET dispatcher_node = NULL
			WHERE event_id = $1 AND status = 'pending' AND attempts = 0`, ev.ID); err != nil {
			return fmt.Errorf("releasing the deliveries of event %s: %w", ev.ID, err)
		}
		w.enqueue(job.Fanout{EventID: ev.ID}, store.FanoutInsertOpts())
		return nil
	}); err != nil {
		s.logger.ErrorContext(ctx, "queueing an event's first try failed; the sweep queues it once it is stranded", "event_id", ev.ID, "error", err)
	}
}

// newDelivery is a delivery to insert: to one subscription, of one event,
// stamped with the dispatcher node that takes its first try, if any.
type newDelivery struct {
	eventID, subID string
	node           *int32
}

// insertDeliveries inserts one pending delivery each, for the
// subscriptions still enabled, in one statement, and returns the id of each
// inserted, by event and subscription id.
//
// It first holds the subscriptions' gates shared (gate.go); the insert, a
// statement after that, sees a delete or disable that committed while it
// waited, and inserts nothing for its subscription.
func insertDeliveries(ctx context.Context, w *writeTx, want []newDelivery, now time.Time) (deliveryOf map[[2]string]string, err error) {
	if len(want) == 0 {
		return nil, nil
	}
	var (
		ids    = make([]string, len(want))
		events = make([]string, len(want))
		subs   = make([]string, len(want))
		nodes  = make([]*int32, len(want))
	)
	for i, d := range want {
		ids[i], events[i], subs[i], nodes[i] = store.NewID(), d.eventID, d.subID, d.node
	}
	batch := &pgx.Batch{}
	batch.Queue(gateSharedSQL, gateClass, gateKeys(subs))
	batch.Queue(`INSERT INTO deliveries (`+deliveryColumns+`, dispatcher_node)
		SELECT d.id, d.event_id, d.subscription_id, 'pending', 0, NULL, $5, $5, d.node
		FROM unnest($1::text[], $2::text[], $3::text[], $4::int4[]) AS d (id, event_id, subscription_id, node)
		JOIN subscriptions s ON s.id = d.subscription_id AND s.status = 'enabled'
		RETURNING id, event_id, subscription_id`,
		ids, events, subs, nodes, now)
	br := w.SendBatch(ctx, batch)
	defer func() { err = errors.Join(err, br.Close()) }()
	if _, err := br.Exec(); err != nil {
		return nil, fmt.Errorf("holding the gates of %d subscriptions: %w", len(subs), err)
	}
	rows, err := br.Query()
	if err != nil {
		return nil, fmt.Errorf("inserting %d deliveries: %w", len(want), err)
	}
	deliveryOf = make(map[[2]string]string, len(want))
	var id, eventID, subID string
	if _, err := pgx.ForEachRow(rows, []any{&id, &eventID, &subID}, func() error {
		deliveryOf[[2]string{eventID, subID}] = id
		return nil
	}); err != nil {
		return nil, fmt.Errorf("inserting %d deliveries: %w", len(want), err)
	}
	return deliveryOf, nil
}

// GetEvent loads one event in sc.
func (s *Store) GetEvent(ctx context.Context, sc store.Scope, id string) (*event.Event, error) {
	w := byID(id, "consumer_id", sc)
	ev, err := scanEvent(s.pool.QueryRow(ctx, `SELECT `+eventColumns+` FROM events`+w.Clause(), w.Args()...))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("event", id)
	}
	if err != nil {
		return nil, fmt.Errorf("loading event %s: %w", id, unavailable(err))
	}
	return ev, nil
}

// ListEvents lists the events in sc newest first.
func (s *Store) ListEvents(ctx context.Context, sc store.Scope, f store.EventFilter, p store.Page) ([]*event.Event, error) {
	w := newWhere()
	store.EventsWhere(w, sc, f)
	query, args, reverse := w.Page(`SELECT `+eventColumns+` FROM events`, p)
	out, err := queryAll(ctx, s.pool, scanEvent, query, args...)
	if err != nil {
		return nil, fmt.Errorf("listing events: %w", unavailable(err))
	}
	return store.Ordered(out, reverse), nil
}

// Replay creates new pending deliveries of a stored event. With a
// subscriptionID, only that subscription (which must exist) gets one, and
// only if it is enabled and matches the event: replay repeats a delivery, it
// does not send a subscription events it never asked for. The subscriptions'
// gates are held as PublishEvent holds them.
func (s *Store) Replay(ctx context.Context, sc store.Scope, eventID, subscriptionID string) (int, error) {
	if _, err := s.queue(); err != nil {
		return 0, err
	}
	now := store.Now()
	var n int
	evWhere := byID(eventID, "consumer_id", sc)
	subWhere := byID(subscriptionID, "consumer_id", sc)
	err := s.write(ctx, func(ctx context.Context, w *writeTx) error {
		ev, err := scanEvent(w.QueryRow(ctx, `SELECT `+eventColumns+` FROM events`+evWhere.Clause(), evWhere.Args()...))
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("event", eventID)
		}
		if err != nil {
			return fmt.Errorf("loading event %s: %w", eventID, err)
		}
		var want []newDelivery
		if subscriptionID == "" {
			candidates, err := candidateSubscriptions(ctx, w, []*publishReq{{ev: ev}})
			if err != nil {
				return err
			}
			for _, sub := range store.InScope(sc, candidates) {
				if sub.Subscriber().Matches(ev) {
					want = append(want, newDelivery{eventID: eventID, subID: sub.ID})
				}
			}
		} else {
			var (
				sub    event.Subscriber
				status string
			)
			err := w.QueryRow(ctx, `SELECT unified_api, events, consumer_id, status FROM subscriptions`+subWhere.Clause(),
				subWhere.Args()...).Scan(&sub.UnifiedAPI, &sub.Events, &sub.ConsumerID, &status)
			if errors.Is(err, pgx.ErrNoRows) {
				return notFound("subscription", subscriptionID)
			}
			if err != nil {
				return fmt.Errorf("loading subscription %s: %w", subscriptionID, err)
			}
			sub.ID = subscriptionID
			if status == store.StatusEnabled && sub.Matches(ev) {
				want = []newDelivery{{eventID: eventID, subID: subscriptionID}}
			}
		}
		deliveryOf, err := insertDeliveries(ctx, w, want, now)
		if err != nil {
			return err
		}
		n = len(deliveryOf)
		if n > 0 {
			w.enqueue(job.Fanout{EventID: eventID}, store.FanoutInsertOpts())
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("replaying event %s: %w", eventID, err)
	}
	return n, nil
}

// SendTest stores ev with one pending delivery to subscriptionID alone and
// its fan-out job, in one transaction. The delivery is inserted as every
// other is (insertDeliveries), holding the subscription's gate.
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
	var entity *string
	if len(ev.Entity) > 0 {
		e := string(ev.Entity)
		entity = &e
	}
	var dedupe *string
	if ev.DedupeKey != "" {
		dedupe = &ev.DedupeKey
	}
	now := store.Now()
	subWhere := byID(subscriptionID, "consumer_id", sc)
	var d *store.Delivery
	err := s.write(ctx, func(ctx context.Context, w *writeTx) error {
		sub, err := scanSubscription(w.QueryRow(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions`+subWhere.Clause(), subWhere.Args()...))
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("subscription", subscriptionID)
		}
		if err != nil {
			return fmt.Errorf("loading subscription %s: %w", subscriptionID, err)
		}
		if err := store.CheckTestTarget(sub, ev); err != nil {
			return err
		}
		if _, err := w.Exec(ctx, `INSERT INTO events (`+eventColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15::text::json, $16, $17)`,
			ev.ID, ev.EventType, ev.BaseEventType, ev.UnifiedAPI, ev.ServiceID, ev.ConsumerID,
			ev.ConnectionID, ev.EntityID, ev.EntityType, ev.EntityURL, ev.DownstreamEventType, ev.EventSource,
			ev.OccurredAt, ev.CreatedAt, entity, dedupe, ev.RequestHash); err != nil {
			return fmt.Errorf("inserting event %s: %w", ev.ID, err)
		}
		deliveryOf, err := insertDeliveries(ctx, w, []newDelivery{{eventID: ev.ID, subID: subscriptionID}}, now)
		if err != nil {
			return err
		}
		id, ok := deliveryOf[[2]string{ev.ID, subscriptionID}]
		if !ok {
			// Disabled or deleted between the read and the insert's gate.
			return fmt.Errorf("subscription %s: %w", subscriptionID, store.ErrSubscriptionDisabled)
		}
		w.enqueue(job.Fanout{EventID: ev.ID}, store.FanoutInsertOpts())
		d = &store.Delivery{ID: id, EventID: ev.ID, SubscriptionID: subscriptionID,
			Status: store.DeliveryPending, CreatedAt: now, UpdatedAt: now}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sending test event %s to subscription %s: %w", ev.ID, subscriptionID, unavailable(err))
	}
	return d, nil
}
