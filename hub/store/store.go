// Package store is the persistence seam of the hub. Store is implemented by
// the embedded SQLite store (store/sqlite) and the PostgreSQL store
// (store/postgres); both must pass the conformance suite in store/storetest.
//
// The store owns every transaction that must be atomic with a queue insert:
// publishing an event inserts the event, its deliveries and one fan-out job in
// one transaction; recording delivery outcomes writes the attempt log, the
// delivery states, the subscription health and the retry jobs in one
// transaction. Callers never see a database transaction.
//
// Secrets (subscription signing secrets) are plaintext in these structs and
// sealed by the store before they reach the database.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboardhq/switchboard/hub/event"
)

// Sentinel errors every implementation returns (wrapped) so callers can map
// them to API responses without knowing the database.
var (
	// ErrNotFound: no row with that id.
	ErrNotFound = errors.New("not found")
	// ErrIdempotencyConflict: the dedupe key was used before for a different
	// request. Stores return it wrapped in an *IdempotencyConflictError
	// that carries the event stored first.
	ErrIdempotencyConflict = errors.New("idempotency key reused with a different request")
	// ErrQueueNotStarted: a write that needs the job queue ran before StartQueue.
	ErrQueueNotStarted = errors.New("job queue not started")
	// ErrUnavailable: the database could not take the write for a reason
	// that passes, so nothing was written and the same call may succeed
	// later: its write lock stayed held by another connection past the busy
	// timeout (SQLite's SQLITE_BUSY or SQLITE_LOCKED) or its disk is full
	// (SQLITE_FULL). It is the caller's cue to answer "retry later" (the API
	// answers 503 with Retry-After) instead of an internal error.
	ErrUnavailable = errors.New("database unavailable")
	// ErrSecretUnreadable: a subscription's sealed signing secret does not
	// open with this hub's master key (see Subscription.SecretUnreadable).
	ErrSecretUnreadable = errors.New("signing secret cannot be opened with this master key")
	// ErrSubscriptionDisabled: a test send to a subscription that is not
	// enabled; no delivery to it would ever be tried.
	ErrSubscriptionDisabled = errors.New("subscription is disabled")
)

// IdempotencyConflictError is a publish whose dedupe key names an event
// stored from a different request. First lets a caller that must not answer
// 409 (a provider cannot resolve a conflict; it would retry forever) answer
// with the event that holds the key instead.
type IdempotencyConflictError struct {
	Key   string
	First *event.Event
}

func (e *IdempotencyConflictError) Error() string {
	return fmt.Sprintf("publishing event with key %q (first stored as %s): %v", e.Key, e.First.ID, ErrIdempotencyConflict)
}

// Is makes errors.Is(err, ErrIdempotencyConflict) hold.
func (e *IdempotencyConflictError) Is(target error) bool { return target == ErrIdempotencyConflict }

// Store is everything the hub persists.
type Store interface {
	// Ping checks the database answers; /readyz uses it.
	Ping(ctx context.Context) error
	// Close releases the database. Call StopQueue first.
	Close() error

	// StartQueue creates and starts the River client that works jobs with
	// cfg.Workers, after queueing a job.Fanout for every event whose pending
	// deliveries have had no try and no fan-out job (see Dispatcher). Until
	// it is called, PublishEvent, Replay, SendTest, StartRecovery,
	// RecoverBatch and RecordOutcomes return
	// ErrQueueNotStarted. It may be called again after StopQueue.
	StartQueue(ctx context.Context, cfg QueueConfig) error
	// StopQueue stops fetching jobs and waits for running ones to finish
	// until ctx is done, then cancels them (River's soft then hard stop).
	StopQueue(ctx context.Context) error
	// QueueStats reports the queue's backlog for metrics.
	QueueStats(ctx context.Context) (QueueStats, error)

	APIKeys
	Sessions
	Subscriptions
	Events
	Deliveries
	Connections
	Meta
	EventTypes
	Retention
	Recoveries
	Activity
	Consumers
	Polls
}

// Retention removes consumer data: old rows in the background (Purge) and
// one consumer's rows on request (EraseConsumer).
type Retention interface {
	// Purge deletes, in one transaction, up to limit events created before
	// before that have no pending delivery (a retry still due keeps its
	// event), with all their deliveries and attempts, oldest first, and
	// returns what it deleted. It acts for the hub, not for a caller, so it
	// takes no scope. On PostgreSQL a call made while another node's purge
	// transaction runs deletes nothing and reports Busy, so nodes never
	// repeat each other's work.
	Purge(ctx context.Context, before time.Time, limit int) (PurgeCounts, error)
	// EraseConsumer deletes every event of the one consumer sc names, with
	// all their deliveries (also those to application-wide subscriptions)
	// and attempts, pending ones included; with opts.Connections its
	// connections without a provider registration, with opts.Subscriptions
	// its subscriptions. sc must be Consumer(id): AllConsumers and the zero
	// Scope are refused, so a missing id can never erase everyone. With
	// opts.Connections, a connection that still has a provider registration
	// fails the whole call with ErrRegistered before anything is deleted.
	// It works in batches of its own transactions, so a large consumer does
	// not hold the write lock for long; a failed call may have erased part
	// of the data and is safe to repeat.
	EraseConsumer(ctx context.Context, sc Scope, opts EraseOptions) (EraseCounts, error)
}

// ErrRegistered: EraseConsumer was asked to delete a connection that is
// still registered at its provider; DELETE /vault/connections/{id} removes
// the registration first.
var ErrRegistered = errors.New("connection is registered at its provider")

// PurgeBatch is how many events one Purge call deletes by default: small
// enough that the write lock (SQLite) or the row locks (PostgreSQL) it holds
// do not stall deliveries.
const PurgeBatch = 500

// PurgeCounts is what one Purge deleted.
type PurgeCounts struct {
	Events     int
	Deliveries int
	Attempts   int
	// Busy: another node was purging, so this call did nothing.
	Busy bool
}

// EraseOptions widens EraseConsumer beyond events, deliveries and attempts.
type EraseOptions struct {
	Connections   bool
	Subscriptions bool
}

// EraseCounts is what EraseConsumer deleted.
type EraseCounts struct {
	Events        int
	Deliveries    int
	Attempts      int
	Connections   int
	Subscriptions int
}

// CheckErase returns the consumer id EraseConsumer may erase, or an error
// for a scope that is not exactly one consumer.
func CheckErase(sc Scope) (string, error) {
	if sc.All() || !sc.Valid() {
		return "", fmt.Errorf("erasing consumer data in scope %s: %w", sc, ErrOutOfScope)
	}
	return sc.ConsumerID(), nil
}

// Meta holds facts about the database itself rather than consumer data.
type Meta interface {
	// MasterKeyFingerprint returns the fingerprint of the master key the
	// database's secrets are sealed with, nil if none is recorded yet.
	MasterKeyFingerprint(ctx context.Context) ([]byte, error)
	// ClaimMasterKeyFingerprint records fp as the database's master key
	// fingerprint unless one is recorded already, and returns the recorded
	// one: fp if this call (or an earlier one with the same fp) won, another
	// node's otherwise. It is atomic, so nodes starting at once against a
	// fresh database agree on one key.
	ClaimMasterKeyFingerprint(ctx context.Context, fp []byte) ([]byte, error)
}

// EventType is an application's own event type, registered with its entity
// schema (POST /webhook/event-types) so publishing it is allowed and
// validated. The catalogue's types are embedded in the binary, not stored.
type EventType struct {
	Name        string // <unified_api>.<entity>.<action>
	UnifiedAPI  string
	EntityType  string
	Description string
	Schema      json.RawMessage // JSON Schema of the entity
	// ExampleEntityID and Example are the example `switchboard trigger`
	// publishes; Example may be empty.
	ExampleEntityID string
	Example         json.RawMessage
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// EventTypes persists registered event types. They are application-wide
// vocabulary, registered by admin credentials and read by every entry point
// that checks names, so these calls take no consumer scope.
type EventTypes interface {
	// PutEventType inserts t, or replaces the type of that name keeping its
	// CreatedAt; it fills CreatedAt and UpdatedAt.
	PutEventType(ctx context.Context, t *EventType) error
	// GetEventType loads one type; ErrNotFound when none has that name.
	GetEventType(ctx context.Context, name string) (*EventType, error)
	// ListEventTypes lists every registered type, sorted by name.
	ListEventTypes(ctx context.Context) ([]*EventType, error)
}

// QueueConfig tunes River. Zero values take the defaults documented on each field.
type QueueConfig struct {
	Workers *river.Workers
	// MaxWorkers is how many jobs run at once (default 200). A fan-out job
	// bounds its own HTTP concurrency separately.
	MaxWorkers int
	// FetchCooldown (default 20ms) and FetchPollInterval (default 50ms) set
	// how soon a new job is picked up; River's own defaults give ~1 s p99.
	FetchCooldown     time.Duration
	FetchPollInterval time.Duration
	// JobTimeout bounds one job run (default 2m).
	JobTimeout time.Duration
	// RescueStuckJobsAfter is when a running job is presumed lost to a crash
	// and retried (default JobTimeout + 30s, not River's hour).
	RescueStuckJobsAfter time.Duration
	// Dispatcher, when set, takes the first try of freshly published events
	// in process (see Dispatcher). Nil sends every event through the queue.
	Dispatcher Dispatcher
}

// Dispatcher makes the first try of an event's deliveries in the process
// that published it, so the common case costs no queue job: no job insert,
// no fetch, no completion and no re-read of the event and its subscriptions,
// which on the single-writer embedded store is most of a delivery's cost.
// The deliveries are committed before Dispatch is called, so they are the
// durable record; the queue stays the safety net: StartQueue queues a
// job.Fanout for every event whose deliveries are still untried and have no
// fan-out job (a crash or stop between commit and the first try; on
// PostgreSQL the live nodes also do so periodically for nodes that died,
// and for deliveries untried for long), and failed first tries are retried
// through job.Retry as usual.
//
// PublishEvent calls Reserve before its transaction; if that returns true it
// inserts no fan-out job and, after the commit, calls exactly one of
// Dispatch (deliveries were created) or Release (nothing to deliver, or the
// transaction failed).
type Dispatcher interface {
	// Reserve claims room for one event; false (too much in flight, or
	// stopping) sends the event through the queue instead.
	Reserve() bool
	// Dispatch hands over a committed event with its new deliveries and
	// their subscriptions (secrets opened), consuming the reservation.
	Dispatch(ev *event.Event, targets []*Target)
	// Release returns a reservation that will not be dispatched.
	Release()
}

// HandOver is how every store ends a publish that reserved room in a
// dispatcher: it gives the committed event's new deliveries (deliveries[i]
// to subs[i], created at createdAt) to disp, or releases the reservation if
// nothing was committed for it. If a subscription's secret does not open,
// it is handed over all the same, marked SecretUnreadable (see
// SealedSubscription.Open), and fails alone. An error releases the
// reservation; the caller then sends the event through the queue.
func HandOver(disp Dispatcher, sealer Sealer, ev *event.Event, subs []*SealedSubscription, deliveries []string, createdAt time.Time, committed bool) error {
	if !committed || len(subs) == 0 {
		disp.Release()
		return nil
	}
	targets := make([]*Target, len(subs))
	for i, sealed := range subs {
		sub, err := sealed.Open(sealer)
		if err != nil {
			disp.Release()
			return err
		}
		targets[i] = &Target{
			Delivery: Delivery{ID: deliveries[i], EventID: ev.ID, SubscriptionID: sub.ID,
				Status: DeliveryPending, CreatedAt: createdAt, UpdatedAt: createdAt},
			Subscription: *sub,
		}
	}
	disp.Dispatch(ev, targets)
	return nil
}

// QueueStats is the job queue's backlog.
type QueueStats struct {
	Pending       int           // jobs available, scheduled or retryable
	OldestPending time.Duration // age of the oldest available job, 0 if none
}

// Page selects one page of a list ordered newest first (by id, which is a
// UUIDv7 and so sorts by creation time). At most one of After and Before is
// set: After lists items older than that id, Before items newer than it.
type Page struct {
	After  string
	Before string
	Limit  int
}

// APIKey is a stored API key. The key itself is never stored: Hash is its
// SHA-256, compared in constant time.
type APIKey struct {
	ID     string
	Name   string
	Hash   []byte
	Scopes []string
	// ConsumerID binds the key to one consumer: it then acts only for that
	// consumer's data and never holds admin. Empty: an application key.
	ConsumerID string
	CreatedAt  time.Time
	RevokedAt  *time.Time
}

// APIKeys persists API keys. Keys are the hub's own credentials, managed by
// unbound admin keys only, so these calls take no consumer scope.
type APIKeys interface {
	CreateAPIKey(ctx context.Context, k *APIKey) error
	GetAPIKey(ctx context.Context, id string) (*APIKey, error)
	ListAPIKeys(ctx context.Context) ([]*APIKey, error)
	// RevokeAPIKey marks an active key revoked and revokes the sessions it
	// minted, in one transaction. An unknown or already revoked key is
	// ErrNotFound.
	RevokeAPIKey(ctx context.Context, id string, at time.Time) error
	// CountActiveAPIKeys counts keys not revoked; the first start creates an
	// admin key when it is zero.
	CountActiveAPIKeys(ctx context.Context) (int, error)
}

// Session is a consumer session: a short-lived credential an application
// mints for one of its consumers (Apideck's vault session). Like an API key,
// only the SHA-256 of its token is stored.
type Session struct {
	ID          string
	Hash        []byte
	ConsumerID  string
	Scopes      []string
	ParentKeyID string // the key that minted it; revoking that key ends it
	// ParentHash is the SHA-256 of the parent key's hash: a session minted
	// by SWITCHBOARD_API_KEY (never stored) ends when that variable changes.
	ParentHash []byte
	// Metadata is what the application sent with the session (consumer
	// metadata, redirect URI, settings, theme), kept for the console.
	Metadata  json.RawMessage
	CreatedAt time.Time
	ExpiresAt time.Time
	RevokedAt *time.Time
}

// Sessions persists consumer sessions.
type Sessions interface {
	// CreateSession stores s; ErrOutOfScope unless sc matches s.ConsumerID.
	CreateSession(ctx context.Context, sc Scope, s *Session) error
	// GetSession loads a session by id to authenticate a request; it takes
	// no scope because no caller is known yet.
	GetSession(ctx context.Context, id string) (*Session, error)
	// ListSessions lists the sessions in scope that are neither revoked nor
	// expired at now, newest first.
	ListSessions(ctx context.Context, sc Scope, now time.Time, p Page) ([]*Session, error)
	// RevokeSession ends a session in scope; ErrNotFound if there is no such
	// active session.
	RevokeSession(ctx context.Context, sc Scope, id string, at time.Time) error
}

// Subscription statuses and reasons for being disabled.
const (
	StatusEnabled  = "enabled"
	StatusDisabled = "disabled"

	DisabledNone       = "none"
	DisabledRetryLimit = "retry_limit" // failing past the failure window
	DisabledGone       = "gone"        // the endpoint answered 410 Gone
	DisabledManual     = "manual"      // a user set status disabled
)

// Subscription is a webhook subscription: where to deliver which events.
type Subscription struct {
	ID             string
	Description    string
	UnifiedAPI     string
	Status         string
	DisabledReason string
	DeliveryURL    string
	Events         []string
	ConsumerID     string // empty: every consumer
	RetrySchedule  []int  // seconds between tries; nil: the hub's default

	Secret                  string // current whsec_ secret
	PreviousSecret          string // still signs until PreviousSecretExpiresAt
	PreviousSecretExpiresAt *time.Time
	// SecretUnreadable is set on a subscription read back whose sealed
	// secrets did not open with this hub's master key (sealed under another
	// key, or corrupted); Secret and PreviousSecret are then empty. Such a
	// subscription is still listed, updated and deleted: UpdateSubscription
	// keeps its sealed secrets as they are unless Secret is set (a rotation),
	// and its deliveries fail alone with ErrSecretUnreadable.
	SecretUnreadable bool

	// DeliveryFormat shapes and signs its deliveries: FormatStandard
	// (Standard Webhooks; also what "" means) or FormatApideck.
	DeliveryFormat string
	// SigningKey keys the x-apideck-signature of FormatApideck deliveries
	// (on Apideck it was the application's API key). Sealed at rest like
	// Secret, never shown in a response.
	SigningKey string

	FailStreak          int
	FailStreakStartedAt *time.Time
	LastFailedAt        *time.Time
	LastSucceededAt     *time.Time

	CreatedAt time.Time
	UpdatedAt time.Time
}

// Delivery formats of a subscription.
const (
	FormatStandard = "standard" // Standard Webhooks: webhook-id/-timestamp/-signature
	FormatApideck  = "apideck"  // Apideck's body and x-apideck-* headers
)

// Format is the subscription's delivery format, FormatStandard when unset.
func (s *Subscription) Format() string {
	if s.DeliveryFormat == "" {
		return FormatStandard
	}
	return s.DeliveryFormat
}

// KeepsSealedSecrets reports whether an update of s must leave the stored
// sealed secrets alone: they did not open, and no new secret replaces them.
// Writing s.Secret ("") instead would lose a secret that the right master
// key could still open.
func (s *Subscription) KeepsSealedSecrets() bool {
	return s.SecretUnreadable && s.Secret == ""
}

// Subscriber is the part of a subscription matching needs.
func (s *Subscription) Subscriber() event.Subscriber {
	return event.Subscriber{ID: s.ID, UnifiedAPI: s.UnifiedAPI, Events: s.Events, ConsumerID: s.ConsumerID}
}

// Subscriptions persists webhook subscriptions.
// A consumer's scope reaches only subscriptions with its ConsumerID, never
// application-wide ones (ConsumerID "").
type Subscriptions interface {
	// CreateSubscription stores s; ErrOutOfScope unless sc matches
	// s.ConsumerID.
	CreateSubscription(ctx context.Context, sc Scope, s *Subscription) error
	GetSubscription(ctx context.Context, sc Scope, id string) (*Subscription, error)
	ListSubscriptions(ctx context.Context, sc Scope, p Page) ([]*Subscription, error)
	// UpdateSubscription writes the configuration of s (by s.ID): description,
	// unified API, status, disabled reason, URL, events, consumer, retry
	// schedule and secrets, and sets s.UpdatedAt. The health fields
	// (fail_streak, ...) are RecordOutcomes' to write, so a concurrent
	// delivery outcome is never overwritten by a stale read; they are reset
	// only when the update re-enables a subscription, and s gets the stored
	// values back. Secrets that did not open (SecretUnreadable) are kept
	// sealed as stored unless s.Secret is set (KeepsSealedSecrets). The
	// stored subscription must be in sc (else ErrNotFound) and so must
	// s.ConsumerID (else ErrOutOfScope).
	UpdateSubscription(ctx context.Context, sc Scope, s *Subscription) error
	// DeleteSubscription removes it and cancels its pending deliveries.
	DeleteSubscription(ctx context.Context, sc Scope, id string) error
	// CountSubscriptions counts the stored subscriptions of consumerID
	// (application-wide ones when it is empty) and of the whole hub, in
	// one read: the API caps both.
	CountSubscriptions(ctx context.Context, consumerID string) (SubscriptionCounts, error)
}

// SubscriptionCounts is what CountSubscriptions found.
type SubscriptionCounts struct {
	Consumer int // subscriptions whose consumer_id is the one asked for
	Total    int // every subscription of the hub
}

// PublishResult tells what PublishEvent stored.
type PublishResult struct {
	Event      *event.Event
	Deliveries int  // deliveries created (for a duplicate: those it has)
	Duplicate  bool // the dedupe key was seen before; nothing new was stored
}

// EventFilter narrows ListEvents; empty fields match everything.
type EventFilter struct {
	EventType  string
	ConsumerID string
	ServiceID  string
	// UnifiedAPI, EntityType and EntityID find the events of one entity
	// (GET /{unified_api}/{entity_plural}/{id}).
	UnifiedAPI string
	EntityType string
	EntityID   string
}

// Events persists unified events.
type Events interface {
	// PublishEvent stores ev (ID, CreatedAt set by the caller) and, in the
	// same transaction, one pending delivery per enabled matching
	// subscription and one job.Fanout (or, with a QueueConfig.Dispatcher that
	// takes it, hands the deliveries to the dispatcher after the commit). A repeated non-empty DedupeKey stores
	// nothing and returns the first event with Duplicate set, or
	// ErrIdempotencyConflict if its RequestHash differs. ev.ConsumerID must
	// be in sc (else ErrOutOfScope); the event then goes to every matching
	// subscription, whoever owns it.
	PublishEvent(ctx context.Context, sc Scope, ev *event.Event) (*PublishResult, error)
	GetEvent(ctx context.Context, sc Scope, id string) (*event.Event, error)
	ListEvents(ctx context.Context, sc Scope, f EventFilter, p Page) ([]*event.Event, error)
	// Replay creates a new pending delivery of the event (which must be in
	// sc) for every enabled subscription in sc that matches it now (or only
	// for subscriptionID, which must exist in sc) plus one job.Fanout, and
	// returns how many it created.
	Replay(ctx context.Context, sc Scope, eventID, subscriptionID string) (int, error)
	// SendTest stores ev (ID and CreatedAt set by the caller) with one
	// pending delivery to subscriptionID only, plus one job.Fanout, in one
	// transaction: the test send of POST /webhook/webhooks/{id}/test. Unlike
	// PublishEvent, no other subscription gets the event. The subscription
	// must be in sc (else ErrNotFound), enabled (else
	// ErrSubscriptionDisabled) and match ev; ev.ConsumerID must be in sc
	// (else ErrOutOfScope).
	SendTest(ctx context.Context, sc Scope, subscriptionID string, ev *event.Event) (*Delivery, error)
}

// Delivery statuses.
const (
	DeliveryPending   = "pending"   // waiting for its first or next try
	DeliveryDelivered = "delivered" // a try got a 2xx
	DeliveryFailed    = "failed"    // retries exhausted, or the endpoint is gone
	DeliveryCancelled = "cancelled" // its subscription was deleted or disabled
)

// Delivery is one event going to one subscription, over one or more tries.
type Delivery struct {
	ID             string
	EventID        string
	SubscriptionID string
	Status         string
	Attempts       int // tries made so far
	NextAttemptAt  *time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Target is a delivery with the subscription it goes to, as a worker needs it.
type Target struct {
	Delivery     Delivery
	Subscription Subscription
}

// Attempt is one HTTP try, as listed by GET /webhook/logs.
type Attempt struct {
	ID             string
	DeliveryID     string
	EventID        string
	EventType      string
	UnifiedAPI     string
	SubscriptionID string
	ConsumerID     string // the event's consumer
	// SubscriptionConsumerID is the consumer of the subscription the try
	// was for when it was made ("" for an application-wide one): a
	// consumer's scope sees only the tries of its own subscriptions.
	SubscriptionConsumerID string
	ServiceID              string
	Endpoint               string
	StatusCode             int // 0 when no response came
	Success                bool
	ExecutionAttempt       int
	Timestamp              time.Time
	DurationMS             int64
	ResponseBody           string // capped at 4 KiB by the caller
	Error                  string
	RetryScheduled         bool
}

// Outcome is what a worker learned about one delivery: the tries it made and
// the state the delivery moves to.
type Outcome struct {
	DeliveryID     string
	SubscriptionID string
	Attempts       []Attempt
	// Status is DeliveryDelivered, DeliveryFailed or DeliveryPending (a retry
	// is due at NextAttemptAt; RecordOutcomes inserts its job.Retry).
	Status        string
	NextAttemptAt time.Time
	// Disable, when not empty, disables the subscription with this reason
	// (DisabledGone, DisabledRetryLimit) and cancels its pending deliveries.
	Disable string
	At      time.Time

	// Operational events (see RecordNotices). Notify lets this outcome lead
	// to them; the delivery of an operational event never does.
	Notify bool
	// FailingSince, set on a failed try, makes webhook.subscription.failing
	// due when the subscription's fail streak started at or before it (once
	// per streak).
	FailingSince time.Time
	// CheckRecovered, set on a success, asks whether the subscription had a
	// failing or disabled event since its last success
	// (webhook.subscription.recovered).
	CheckRecovered bool
	// Exhausted: the delivery ran out of retries (webhook.delivery.exhausted).
	Exhausted bool
	// Published is set by RecordOutcomes: the operational events this
	// outcome led to, stored and fanned out in its transaction.
	Published []*event.Event
}

// SuccessResolution is how fresh a healthy subscription's
// last_succeeded_at is kept. A success writes the subscription's row only
// when it ends a fail streak or last_succeeded_at is older than this:
// writing it on every success made every outcome of a busy subscription
// queue for that one row (on PostgreSQL, 216 deliveries/s at fan-out 1).
// The hub reads last_succeeded_at only to tell how long a subscription has
// failed without a success, over a FailureWindow of hours.
const SuccessResolution = time.Second

// SuccessStale is the last_succeeded_at before which a success at at
// writes the subscription's row again (see SuccessResolution).
func SuccessStale(at time.Time) time.Time { return Time(at.Add(-SuccessResolution)) }

// PrepareOutcomes checks each outcome's status and fills what a store
// writes but a worker may leave zero: At (now), attempt ids and attempt
// timestamps (the outcome's At), all at store.Time precision. Every store's
// RecordOutcomes calls it first, so both write the same rows.
func PrepareOutcomes(outcomes []Outcome, now time.Time) error {
	for i := range outcomes {
		o := &outcomes[i]
		switch o.Status {
		case DeliveryDelivered, DeliveryFailed, DeliveryPending, DeliveryCancelled:
		default:
			return fmt.Errorf("recording outcome of delivery %s: unknown status %q", o.DeliveryID, o.Status)
		}
		if o.At.IsZero() {
			o.At = now
		}
		o.At = Time(o.At)
		for j := range o.Attempts {
			a := &o.Attempts[j]
			if a.ID == "" {
				a.ID = NewID()
			}
			if a.Timestamp.IsZero() {
				a.Timestamp = o.At
			}
			a.Timestamp = Time(a.Timestamp)
		}
	}
	return nil
}

// AttemptFilter narrows ListAttempts; empty fields match everything.
type AttemptFilter struct {
	EventType      string
	Success        *bool
	ConsumerID     string
	ServiceID      string
	SubscriptionID string
	EventID        string
}

// Deliveries persists deliveries and their attempt log. FanoutTargets,
// RetryTarget and RecordOutcomes are the queue workers' calls: they act for
// the hub on ids taken from its own jobs and take no scope.
type Deliveries interface {
	// FanoutTargets returns the event and its pending deliveries that have
	// had no try yet, with their (enabled) subscriptions.
	FanoutTargets(ctx context.Context, eventID string) (*event.Event, []*Target, error)
	// RetryTarget returns one delivery with its event and subscription.
	RetryTarget(ctx context.Context, deliveryID string) (*event.Event, *Target, error)
	// RecordOutcomes applies outcomes in one transaction: attempt rows,
	// delivery states, subscription health (success resets fail_streak and
	// sets last_succeeded_at, to within SuccessResolution; failure
	// increments it, sets fail_streak_started_at if unset and
	// last_failed_at), disabling, and one job.Retry per pending outcome.
	RecordOutcomes(ctx context.Context, outcomes []Outcome) error
	// GetDelivery and ListDeliveries see, in a consumer's scope, only the
	// deliveries to that consumer's subscriptions.
	GetDelivery(ctx context.Context, sc Scope, id string) (*Delivery, error)
	ListDeliveries(ctx context.Context, sc Scope, eventID string) ([]*Delivery, error)
	// ListAttempts sees, in a consumer's scope, only the tries of that
	// consumer's subscriptions (Attempt.SubscriptionConsumerID).
	ListAttempts(ctx context.Context, sc Scope, f AttemptFilter, p Page) ([]*Attempt, error)
}

// Connection statuses.
const (
	ConnectionActive   = "active"
	ConnectionDisabled = "disabled"
)

// Connection is a consumer's connection to one provider service (Apideck's
// vault connection): its settings, its sealed credentials and the token of
// its inbound webhook URL.
type Connection struct {
	ID         string
	ConsumerID string
	ServiceID  string
	Status     string
	Settings   json.RawMessage // validated against the connector's schema
	// Credentials are plaintext here and sealed at rest (API keys, OAuth
	// tokens, the provider's webhook signing secret).
	Credentials map[string]string
	// TokenHash is the SHA-256 of the inbound URL's token: inbound requests
	// are looked up by it.
	TokenHash []byte
	// Token is the inbound URL's token, plaintext here and sealed at rest,
	// so the connection's webhook_url can be shown again.
	Token string
	// Registrations records what was registered at the provider (Deskera
	// hookIds, a vPlan webhook id) so deleting the connection can undo it.
	Registrations json.RawMessage
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Connections persists vault connections. Every call but the inbound token
// lookup is scoped: one consumer never sees another's connection.
type Connections interface {
	// CreateConnection stores c; ErrOutOfScope unless sc matches
	// c.ConsumerID.
	CreateConnection(ctx context.Context, sc Scope, c *Connection) error
	GetConnection(ctx context.Context, sc Scope, id string) (*Connection, error)
	// ConnectionByToken finds the connection of an inbound request by the
	// SHA-256 of its URL token and its service id; ErrNotFound otherwise.
	// It takes no scope: the token is the provider's credential.
	ConnectionByToken(ctx context.Context, serviceID string, tokenHash []byte) (*Connection, error)
	ListConnections(ctx context.Context, sc Scope, p Page) ([]*Connection, error)
	// UpdateConnection writes status, settings, credentials, registrations
	// and the inbound token (TokenHash and Token) of the connection c.ID,
	// which must be in sc, and sets UpdatedAt. The consumer and service
	// never change.
	UpdateConnection(ctx context.Context, sc Scope, c *Connection) error
	DeleteConnection(ctx context.Context, sc Scope, id string) error
}

// Sealer encrypts secrets before they reach the database; *secret.Box is the
// implementation.
type Sealer interface {
	Seal(plaintext []byte) ([]byte, error)
	Open(sealed []byte) ([]byte, error)
}
