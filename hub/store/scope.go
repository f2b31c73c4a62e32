package store

import (
	"errors"
	"fmt"
	"strings"
)

// Scope says whose rows a call may read or change. Every store method that
// touches consumer data takes one, and its zero value matches nothing, so a
// caller that forgets to pass the principal's scope sees an empty list or a
// not-found, never another consumer's rows (fails closed).
//
// Application principals (unbound API keys) pass AllConsumers; keys bound to
// a consumer and consumer sessions pass Consumer(their consumer id). The few
// calls that act for the hub itself rather than for a caller (the inbound
// token lookup, the API key and session lookups, the queue workers' reads
// and writes) take no scope; storetest lists them.
type Scope struct {
	consumer string
	all      bool
}

// Consumer is the scope of one consumer's rows. An empty id is the zero
// Scope: it matches nothing.
func Consumer(id string) Scope { return Scope{consumer: id} }

// AllConsumers is the scope of every consumer's rows and of the rows that
// belong to no consumer (application-wide subscriptions). Only unbound
// (application) principals hold it.
func AllConsumers() Scope { return Scope{all: true} }

// All reports whether the scope spans every consumer.
func (s Scope) All() bool { return s.all }

// ConsumerID is the one consumer the scope is limited to; "" for
// AllConsumers and for the zero Scope.
func (s Scope) ConsumerID() string {
	if s.all {
		return ""
	}
	return s.consumer
}

// Valid reports whether the scope matches anything at all.
func (s Scope) Valid() bool { return s.all || s.consumer != "" }

// Matches reports whether a row owned by consumerID ("" for a row of no
// consumer, such as an application-wide subscription) is in scope. A
// consumer's scope never matches rows of no consumer.
func (s Scope) Matches(consumerID string) bool {
	return s.all || (s.consumer != "" && s.consumer == consumerID)
}

// Narrow returns the scope of one consumer inside s: consumerID's rows when s
// allows them, the zero Scope otherwise. An empty consumerID leaves s as it
// is.
func (s Scope) Narrow(consumerID string) Scope {
	switch {
	case consumerID == "":
		return s
	case s.Matches(consumerID):
		return Consumer(consumerID)
	default:
		return Scope{}
	}
}

// String is for logs and errors.
func (s Scope) String() string {
	switch {
	case s.all:
		return "all consumers"
	case s.consumer != "":
		return "consumer " + s.consumer
	default:
		return "no consumer"
	}
}

// ErrOutOfScope: a write names a consumer outside the caller's scope (a
// consumer-bound key creating a subscription for another consumer). Reads of
// rows outside the scope are ErrNotFound instead, so a caller cannot tell
// another consumer's row from one that does not exist.
var ErrOutOfScope = errors.New("outside the caller's consumer scope")

// CheckScope returns ErrOutOfScope (wrapped with what was written) unless
// sc matches consumerID.
func CheckScope(sc Scope, what, consumerID string) error {
	if sc.Matches(consumerID) {
		return nil
	}
	owner := "no consumer (application-wide)"
	if consumerID != "" {
		owner = "consumer " + consumerID
	}
	return fmt.Errorf("%s for %s, with a credential of %s: %w", what, owner, sc, ErrOutOfScope)
}

// Where builds the WHERE clause of a filtered, paged list for either SQL
// dialect: placeholder renders the nth parameter (? for SQLite, $n for
// PostgreSQL).
type Where struct {
	placeholder func(n int) string
	conds       []string
	args        []any
}

// NewWhere starts an empty clause.
func NewWhere(placeholder func(n int) string) *Where { return &Where{placeholder: placeholder} }

// Eq adds column = value unless value is empty (an empty filter matches all).
func (w *Where) Eq(column, value string) {
	if value != "" {
		w.Add(column, "=", value)
	}
}

// Add adds column op value.
func (w *Where) Add(column, op string, value any) {
	w.Cond(column+" "+op+" %s", value)
}

// Cond adds a condition written with %s where each argument's placeholder
// goes, in order.
func (w *Where) Cond(format string, args ...any) {
	phs := make([]any, len(args))
	for i := range args {
		phs[i] = w.placeholder(len(w.args) + i + 1)
	}
	w.conds = append(w.conds, fmt.Sprintf(format, phs...))
	w.args = append(w.args, args...)
}

// Scope limits the rows to sc by their consumer column: nothing for the zero
// Scope, no condition for AllConsumers.
func (w *Where) Scope(column string, sc Scope) { w.ScopeVia(column+" = %s", sc) }

// ScopeVia limits the rows to sc by a condition on the consumer id written
// with %s where it goes, for rows owned through another table (a delivery
// through its subscription).
func (w *Where) ScopeVia(format string, sc Scope) {
	switch {
	case sc.All():
	case sc.Valid():
		w.Cond(format, sc.ConsumerID())
	default:
		w.conds = append(w.conds, "1 = 0")
	}
}

// Args returns the arguments collected so far.
func (w *Where) Args() []any { return w.args }

// Clause returns " WHERE ..." or "" when there are no conditions.
func (w *Where) Clause() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// And returns " AND ..." or "" when there are no conditions, to extend a
// clause written by hand.
func (w *Where) And() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " AND " + strings.Join(w.conds, " AND ")
}

// Page completes query with the conditions and one page of the list, newest
// (largest id) first. A Before page is read oldest first (the rows right
// after the cursor) and reverse tells the caller to flip it back (Ordered).
func (w *Where) Page(query string, p Page) (string, []any, bool) {
	reverse := false
	switch {
	case p.After != "":
		w.Add("id", "<", p.After)
	case p.Before != "":
		w.Add("id", ">", p.Before)
		reverse = true
	}
	var b strings.Builder
	b.WriteString(query)
	b.WriteString(w.Clause())
	if reverse {
		b.WriteString(" ORDER BY id ASC")
	} else {
		b.WriteString(" ORDER BY id DESC")
	}
	w.args = append(w.args, p.Size())
	b.WriteString(" LIMIT " + w.placeholder(len(w.args)))
	return b.String(), w.args, reverse
}

// Ordered puts a page read by Page back in newest-first order.
func Ordered[T any](items []T, reverse bool) []T {
	if reverse {
		for i, j := 0, len(items)-1; i < j; i, j = i+1, j-1 {
			items[i], items[j] = items[j], items[i]
		}
	}
	return items
}

// DeliveryScope is the ScopeVia condition of a delivery: a consumer sees the
// deliveries to its own subscriptions (of those that still exist).
const DeliveryScope = "subscription_id IN (SELECT id FROM subscriptions WHERE consumer_id = %s)"

// InScope keeps the subscriptions in sc.
func InScope(sc Scope, subs []*SealedSubscription) []*SealedSubscription {
	if sc.All() {
		return subs
	}
	var out []*SealedSubscription
	for _, sub := range subs {
		if sc.Matches(sub.ConsumerID) {
			out = append(out, sub)
		}
	}
	return out
}

// PrepareSession checks what every store requires of a new session and
// normalises it: a session always belongs to one consumer and one parent
// key, and has a hash and an expiry.
func PrepareSession(ss *Session) error {
	switch {
	case ss.ID == "":
		return errors.New("creating session: no id")
	case ss.ConsumerID == "":
		return fmt.Errorf("creating session %s: no consumer id", ss.ID)
	case len(ss.Hash) == 0:
		return fmt.Errorf("creating session %s: no hash", ss.ID)
	case ss.ParentKeyID == "":
		return fmt.Errorf("creating session %s: no parent key", ss.ID)
	case ss.ExpiresAt.IsZero():
		return fmt.Errorf("creating session %s: no expiry", ss.ID)
	}
	if ss.CreatedAt.IsZero() {
		ss.CreatedAt = Now()
	}
	ss.CreatedAt = Time(ss.CreatedAt)
	ss.ExpiresAt = Time(ss.ExpiresAt)
	if len(ss.Metadata) == 0 {
		ss.Metadata = []byte("{}")
	}
	if ss.ParentHash == nil {
		ss.ParentHash = []byte{}
	}
	return nil
}

// EventsWhere is the WHERE clause of ListEvents in sc with f, the same for
// every store.
func EventsWhere(w *Where, sc Scope, f EventFilter) {
	w.Scope("consumer_id", sc)
	w.Eq("event_type", f.EventType)
	w.Eq("consumer_id", f.ConsumerID)
	w.Eq("service_id", f.ServiceID)
	w.Eq("entity_id", f.EntityID)
	w.Eq("entity_type", f.EntityType)
	w.Eq("unified_api", f.UnifiedAPI)
}

// AttemptsWhere is the WHERE clause of ListAttempts in sc with f, the same
// for every store.
func AttemptsWhere(w *Where, sc Scope, f AttemptFilter) {
	// A consumer's subscriptions receive only its own events, so its tries
	// are among its events' tries: the event consumer's index finds them.
	w.Scope("consumer_id", sc)
	w.Scope("subscription_consumer_id", sc)
	w.Eq("event_type", f.EventType)
	w.Eq("consumer_id", f.ConsumerID)
	w.Eq("service_id", f.ServiceID)
	w.Eq("subscription_id", f.SubscriptionID)
	w.Eq("event_id", f.EventID)
	if f.Success != nil {
		w.Add("success", "=", *f.Success)
	}
}
