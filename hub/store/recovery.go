package store

import (
	"context"
	"errors"
	"time"
)

// Recovery statuses.
const (
	RecoveryRunning   = "running"
	RecoveryCompleted = "completed"
	RecoveryFailed    = "failed"
)

// MaxRecoveryEvents caps the events one recovery delivers again: a larger
// range is refused (the API answers 422) rather than flooding an endpoint
// that just came back. Split the range to recover more.
const MaxRecoveryEvents = 100_000

// RecoveryBatch is how many events of the range one batch reads (and at
// most how many deliveries it creates), in one write transaction: small
// enough that SQLite's single writer is never held for long by a recovery.
const RecoveryBatch = 500

// ErrRecoveryRunning: a recovery of the subscription is still running.
var ErrRecoveryRunning = errors.New("a recovery of this subscription is already running")

// Recovery is one bulk recovery of a subscription's missed events.
type Recovery struct {
	ID             string
	SubscriptionID string
	// ConsumerID is the subscription's consumer ("" for an application-wide
	// one): the recovery is in the scopes the subscription is in.
	ConsumerID string
	Status     string
	// Since and Until bound the events' created_at: Since <= t < Until.
	Since, Until time.Time
	// Total is how many events were eligible when the recovery started; Done
	// how many have been given a new delivery so far. Events that became
	// ineligible in between (delivered meanwhile) are skipped, so Done may
	// end below Total.
	Total, Done int
	Error       string // why it failed
	// Cursor is the id of the last event the batches have read.
	Cursor    string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Recoveries persists bulk recoveries. Matching runs in Go with
// event.Subscriber.Matches, as publishing does.
//
// An event of the range is eligible for a subscription when it was created
// in [since, until), not before the subscription, the subscription matches
// it now, and no delivery of it to the subscription is delivered (it
// succeeded) or pending (a try is still to come, so a new delivery would
// send it twice).
type Recoveries interface {
	// CountRecoverable counts the eligible events for subscriptionID (which
	// must be in sc, else ErrNotFound), stopping at limit+1.
	CountRecoverable(ctx context.Context, sc Scope, subscriptionID string, since, until time.Time, limit int) (int, error)
	// StartRecovery stores r (ID, SubscriptionID, Since, Until, Total set by
	// the caller) as running with one job.Recover, in one transaction. The
	// subscription must be in sc (else ErrNotFound) and have no running
	// recovery (else ErrRecoveryRunning). It fills ConsumerID, Status,
	// CreatedAt and UpdatedAt, and moves Since up to the subscription's
	// created_at.
	StartRecovery(ctx context.Context, sc Scope, r *Recovery) error
	GetRecovery(ctx context.Context, sc Scope, id string) (*Recovery, error)
	// RecoverBatch is the job.Recover worker's call (no scope): in one
	// transaction it reads the next RecoveryBatch events of a running
	// recovery's range after its cursor, creates a pending delivery of each
	// eligible one to the subscription with its job.Fanout, and advances
	// the cursor and Done. It marks the recovery completed when the range
	// is read or Done reaches MaxRecoveryEvents, and failed when the
	// subscription was deleted or disabled. A recovery no longer running
	// is returned as it is.
	RecoverBatch(ctx context.Context, id string) (*Recovery, error)
	// FailRecovery marks a running recovery failed with reason (the worker
	// gave up on it).
	FailRecovery(ctx context.Context, id, reason string) error
}

// RecoveryStart is the lower bound of a recovery's range: since, or the
// subscription's created_at if later (a subscription is never sent events
// from before it existed).
func RecoveryStart(since, subCreated time.Time) time.Time {
	if subCreated.After(since) {
		return Time(subCreated)
	}
	return Time(since)
}

// idSkew is how far an event's UUIDv7 id may be from its created_at: the
// hub makes the id just before it stamps created_at.
const idSkew = 5 * time.Minute

// RecoveryIDRange returns bounds on the ids of the events created in
// [since, until): the ids are UUIDv7s, whose first 48 bits are their
// millisecond timestamp, so the primary key finds a time range without an
// index of its own on created_at. The bounds are loose by idSkew; the
// created_at condition is exact.
func RecoveryIDRange(since, until time.Time) (lo, hi string) {
	return IDBefore(since.Add(-idSkew)), IDBefore(until.Add(idSkew))
}

// RecoveryDone reports whether a batch that read n events (of at most
// RecoveryBatch) ends recovery r.
func RecoveryDone(r *Recovery, n int) bool {
	return n < RecoveryBatch || r.Done >= MaxRecoveryEvents
}

// recoverableCountPage is how many events one read of a count scans.
const recoverableCountPage = 5000

// CountRecoverablePages is CountRecoverable's loop for every store: it reads
// pages of events (read returns how many of a page were eligible, how many
// it scanned and the last id, the next page's cursor) until a short page or
// past limit, and answers at most limit+1.
func CountRecoverablePages(limit int, read func(cursor string, page int) (eligible, scanned int, last string, err error)) (int, error) {
	n, cursor := 0, ""
	for n <= limit {
		eligible, scanned, last, err := read(cursor, recoverableCountPage)
		if err != nil {
			return 0, err
		}
		n += eligible
		if scanned < recoverableCountPage {
			break
		}
		cursor = last
	}
	return min(n, limit+1), nil
}
