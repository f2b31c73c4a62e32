package api

import (
	"fmt"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/switchboardhq/switchboard/hub/store"
)

// consumersList is the cursor kind of GET /vault/consumers; its cursors
// carry a consumer id, not a UUID.
const consumersList = "consumers"

// consumerView is one consumer as GET /vault/consumers lists it: created
// through the API or known from its connections, subscriptions and events
// (created_at null then).
type consumerView struct {
	ConsumerID      string                 `json:"consumer_id"`
	Metadata        store.ConsumerMetadata `json:"metadata"`
	CreatedAt       *string                `json:"created_at"`
	UpdatedAt       *string                `json:"updated_at"`
	ConnectionCount int                    `json:"connection_count"`
	Services        []string               `json:"services"`
}

func newConsumerView(c *store.ConsumerRecord) consumerView {
	v := consumerView{ConsumerID: c.ID, Metadata: c.Metadata, ConnectionCount: c.Connections, Services: c.Services}
	if v.Services == nil {
		v.Services = []string{}
	}
	if c.Stored {
		created, updated := formatTime(c.CreatedAt), formatTime(c.UpdatedAt)
		v.CreatedAt, v.UpdatedAt = &created, &updated
	}
	return v
}

// listConsumers lists the application's consumers by id; a bound key or a
// session sees only its own.
func (s *server) listConsumers(c *gin.Context) {
	q, err := parsePage(c, consumersList)
	if err != nil {
		WriteError(c, err)
		return
	}
	ctx := c.Request.Context()
	pg, err := fetchPage(q, func(p store.Page) ([]*store.ConsumerRecord, error) {
		return s.store.ListConsumers(ctx, ScopeOf(c), p)
	}, func(r *store.ConsumerRecord) string { return r.ID })
	if err != nil {
		WriteError(c, fmt.Errorf("listing consumers: %w", err))
		return
	}
	respondList(c, s.publicURL, q, mapPage(pg, newConsumerView), func(v consumerView) string { return v.ConsumerID })
}

// validConsumerCursor accepts the id a consumers cursor carries.
func validConsumerCursor(id string) bool {
	return id != "" && utf8.RuneCountInString(id) <= MaxIDLength
}
