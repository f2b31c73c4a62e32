package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/switchboardhq/switchboard/hub/store"
)

// erasedView is the answer of DELETE /webhook/consumers/{consumer_id}/data.
type erasedView struct {
	ConsumerID    string `json:"consumer_id"`
	Events        int    `json:"events"`
	Deliveries    int    `json:"deliveries"`
	Attempts      int    `json:"attempts"`
	Connections   int    `json:"connections"`
	Subscriptions int    `json:"subscriptions"`
}

// eraseConsumerData erases one consumer's events with their deliveries
// (pending ones included) and attempt log; ?connections=true also deletes
// its connections and ?subscriptions=true its subscriptions. A connection
// still registered at its provider is refused (409) before anything is
// erased: only DELETE /vault/connections/{id} can remove the registration,
// and deleting the row alone would leave the provider sending to a URL
// nobody owns. API keys and sessions bound to the consumer are credentials,
// not data, and stay.
func (s *server) eraseConsumerData(c *gin.Context) {
	id := c.Param("consumer_id")
	if strings.TrimSpace(id) == "" {
		WriteError(c, BadRequest("consumer_id", "must not be empty"))
		return
	}
	if errs := checkLength("consumer_id", id, MaxIDLength); errs != nil {
		WriteError(c, BadRequest(errs[0].Field, errs[0].Reason))
		return
	}
	var opts store.EraseOptions
	for _, q := range []struct {
		name string
		dst  *bool
	}{{"connections", &opts.Connections}, {"subscriptions", &opts.Subscriptions}} {
		raw, ok := c.GetQuery(q.name)
		if !ok {
			continue
		}
		b, err := strconv.ParseBool(raw)
		if err != nil {
			WriteError(c, BadRequest(q.name, "must be true or false"))
			return
		}
		*q.dst = b
	}
	sc := ScopeOf(c).Narrow(id)
	n, err := s.store.EraseConsumer(c.Request.Context(), sc, opts)
	if errors.Is(err, store.ErrRegistered) {
		WriteError(c, &Error{
			Status:   http.StatusConflict,
			TypeName: TypeConflict,
			Message: fmt.Sprintf("consumer %s has connections registered at their provider; delete them with DELETE /vault/connections/{id} "+
				"(which removes the registration) and repeat, or erase without connections=true", id),
			Detail: map[string]string{"field": "connections", "consumer_id": id},
			Err:    err,
		})
		return
	}
	if err != nil {
		WriteError(c, fmt.Errorf("erasing data of consumer %s: %w", id, err))
		return
	}
	s.log.LogAttrs(c.Request.Context(), slog.LevelInfo, "consumer data erased",
		slog.String("consumer_id", id), slog.Int("events", n.Events), slog.Int("deliveries", n.Deliveries),
		slog.Int("attempts", n.Attempts), slog.Int("connections", n.Connections), slog.Int("subscriptions", n.Subscriptions))
	Respond(c, http.StatusOK, erasedView{ConsumerID: id, Events: n.Events, Deliveries: n.Deliveries,
		Attempts: n.Attempts, Connections: n.Connections, Subscriptions: n.Subscriptions})
}
