package store

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/switchboardhq/switchboard/hub/event"
)

// Errors of the poll calls.
var (
	// ErrPollBusy: another poll of the connection holds its lease (a
	// scheduled poll, a manual one, or another node's).
	ErrPollBusy = errors.New("a poll of this connection is running")
	// ErrPollLeaseLost: the lease a poll was started under expired and was
	// taken by another poll, so its results were not stored.
	ErrPollLeaseLost = errors.New("the poll's lease was lost to another poll")
)

// PollState is one connection's virtual webhooks state: where its polls
// have got to and how the last ones went.
type PollState struct {
	ConnectionID string
	ConsumerID   string
	// Cursor is the connector's cursor after the last stored poll.
	Cursor string
	// CursorAt is when the last successful poll stored Cursor: the
	// provider's changes up to then are in (cursor_age_seconds, the lag).
	CursorAt *time.Time
	// LastPolledAt is when the last poll finished, successful or not.
	LastPolledAt *time.Time
	// LastError is the last poll's error ("" after a success).
	LastError string
	// Failures counts polls failed in a row (backoff).
	Failures int
	// NotBefore is the earliest the next poll may run (the provider's
	// Retry-After, or backoff); nil when there is no such bound.
	NotBefore *time.Time
	// Lease is the fencing token of the poll holding the lease (ClaimPoll);
	// LeaseUntil is when that lease expires (nil: none held).
	Lease      int64
	LeaseUntil *time.Time
}

// PollRef names a connection to poll.
type PollRef struct {
	ConnectionID string
	ConsumerID   string
	ServiceID    string
}

// PollCommit is one successful poll to store: its events and the cursor
// that covers them, fenced by the lease it ran under.
type PollCommit struct {
	ConnectionID string
	Lease        int64
	Events       []*event.Event
	// Cursor is the new cursor; "" keeps the stored one.
	Cursor string
	// NotBefore bounds the next poll (zero: none).
	NotBefore time.Time
	At        time.Time
}

// Polls persists virtual webhooks state. A connection's poll state is
// created by its first ClaimPoll and goes with the connection.
type Polls interface {
	// GetPollState returns the poll state of connection id in sc: a zero
	// state (ConnectionID set) if it was never polled, ErrNotFound if
	// there is no such connection in sc.
	GetPollState(ctx context.Context, sc Scope, id string) (*PollState, error)
	// ClaimPoll takes the lease of connection id until until (no other
	// poll is claimed while it holds and is unexpired) and returns the
	// state with the new Lease token: ErrPollBusy while another poll holds
	// it, ErrNotFound for an unknown connection. On PostgreSQL nodes
	// claiming at once, one wins.
	ClaimPoll(ctx context.Context, id string, now, until time.Time) (*PollState, error)
	// CommitPoll stores a poll's events (each as PublishEvent would, an
	// idempotency conflict counting as a duplicate) and, in the same
	// transaction, its cursor, clears the error and failure count and
	// releases the lease, only if c.Lease still holds the lease (else
	// ErrPollLeaseLost and nothing is written). The events must be of the
	// connection and in sc. Results are in the order of c.Events.
	CommitPoll(ctx context.Context, sc Scope, c *PollCommit) ([]*PublishResult, error)
	// FailPoll records a failed poll (message, one more failure, the
	// earliest next poll) and releases the lease if lease still holds it.
	FailPoll(ctx context.Context, id string, lease int64, message string, notBefore, at time.Time) error
	// PollableConnections lists the active connections of the services
	// given (the connectors that poll), for the scheduler.
	PollableConnections(ctx context.Context, serviceIDs []string) ([]PollRef, error)
	// QueuePolls inserts a job.Poll per connection, unless one is queued,
	// scheduled or running already (PollInsertOpts).
	QueuePolls(ctx context.Context, refs []PollRef) error
}

// PollInsertOpts are the insert options of a job.Poll: unique per
// connection while it is pending, scheduled, available, running or
// retryable, so each connection has at most one poll job.
func PollInsertOpts() *river.InsertOpts {
	return &river.InsertOpts{
		MaxAttempts: JobMaxAttempts,
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{
			rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
			rivertype.JobStateRetryable, rivertype.JobStateScheduled,
		}},
	}
}

// PollDuplicate turns the outcome of one polled event's publish into its
// result: a poll that finds a change stored before under the same key
// (its pushed copy, a payload that differs) is a duplicate, not an error.
func PollDuplicate(res *PublishResult, err error) (*PublishResult, error) {
	var conflict *IdempotencyConflictError
	if errors.As(err, &conflict) {
		return &PublishResult{Event: conflict.First, Duplicate: true}, nil
	}
	return res, err
}
