package store

import (
	"context"
	"errors"
	"slices"
	"time"
)

// ErrExists: a create names a row that is there already (a consumer id
// created twice).
var ErrExists = errors.New("already exists")

// ConsumerMetadata is what an application tells about one of its consumers
// (Apideck's consumer metadata).
type ConsumerMetadata struct {
	AccountName string `json:"account_name,omitempty"`
	UserName    string `json:"user_name,omitempty"`
	Email       string `json:"email,omitempty"`
	Image       string `json:"image,omitempty"`
}

// ConsumerRecord is one of the application's consumers. A consumer exists
// explicitly once created or updated through the API (Stored), and
// implicitly as soon as a connection, a subscription or an event names it;
// both kinds are listed.
type ConsumerRecord struct {
	ID       string
	Metadata ConsumerMetadata
	// Stored: the consumer has its own row (created or updated through the
	// API); CreatedAt and UpdatedAt are zero otherwise.
	Stored    bool
	CreatedAt time.Time
	UpdatedAt time.Time
	// Connections counts the consumer's vault connections and Services
	// names their distinct service ids, sorted; read-only.
	Connections int
	Services    []string
}

// Consumers persists the application's consumers. Lists are ordered by
// consumer id ascending: Page.After lists the ids after that one, Page.Before
// the ids right before it (still ascending).
type Consumers interface {
	// CreateConsumer stores c (CreatedAt and UpdatedAt set when zero);
	// ErrExists when a consumer of that id is stored already,
	// ErrOutOfScope unless sc matches c.ID.
	CreateConsumer(ctx context.Context, sc Scope, c *ConsumerRecord) error
	// GetConsumer loads a stored or implicit consumer in sc; ErrNotFound
	// when neither.
	GetConsumer(ctx context.Context, sc Scope, id string) (*ConsumerRecord, error)
	// UpdateConsumer writes c.Metadata and UpdatedAt, storing a row for a
	// consumer that so far existed only implicitly; ErrNotFound when the
	// consumer is neither stored nor implicit in sc.
	UpdateConsumer(ctx context.Context, sc Scope, c *ConsumerRecord) error
	// DeleteConsumer removes the consumer's stored row (its metadata);
	// ErrNotFound when there is none in sc. Connections, subscriptions and
	// events are not touched.
	DeleteConsumer(ctx context.Context, sc Scope, id string) error
	// ListConsumers lists the stored and implicit consumers in sc.
	ListConsumers(ctx context.Context, sc Scope, p Page) ([]*ConsumerRecord, error)
}

// ConsumerIDsQuery is the union of every consumer id the hub knows, stored
// or implicit, as one SQL subquery both dialects run.
const ConsumerIDsQuery = `SELECT consumer_id FROM consumers
	UNION SELECT consumer_id FROM connections
	UNION SELECT consumer_id FROM subscriptions WHERE consumer_id <> ''
	UNION SELECT consumer_id FROM events`

// PageByName completes a where clause with one page of a list ordered by a
// text column ascending (consumer ids): After lists the values after the
// cursor, Before the ones right before it, read descending so the caller
// flips them back (Ordered).
func (w *Where) PageByName(query, column string, p Page) (string, []any, bool) {
	reverse := false
	switch {
	case p.After != "":
		w.Add(column, ">", p.After)
	case p.Before != "":
		w.Add(column, "<", p.Before)
		reverse = true
	}
	q := query + w.Clause()
	if reverse {
		q += " ORDER BY " + column + " DESC"
	} else {
		q += " ORDER BY " + column + " ASC"
	}
	w.args = append(w.args, p.Size())
	q += " LIMIT " + w.placeholder(len(w.args))
	return q, w.args, reverse
}

// AddConnections fills Connections and Services of consumers from their
// connections' (consumer_id, service_id) rows.
func AddConnections(consumers []*ConsumerRecord, rows [][2]string) {
	byID := make(map[string]*ConsumerRecord, len(consumers))
	for _, c := range consumers {
		c.Services = []string{}
		byID[c.ID] = c
	}
	for _, r := range rows {
		c := byID[r[0]]
		if c == nil {
			continue
		}
		c.Connections++
		if !slices.Contains(c.Services, r[1]) {
			c.Services = append(c.Services, r[1])
		}
	}
	for _, c := range consumers {
		slices.Sort(c.Services)
	}
}
