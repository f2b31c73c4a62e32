package api

import (
	"fmt"

	"github.com/gin-gonic/gin"

	"github.com/switchboardhq/switchboard/hub/store"
)

// logView is one delivery try as GET /webhook/logs shows it: Apideck's event
// log fields plus unified_api, duration_ms and error.
type logView struct {
	ID               string      `json:"id"`
	EventID          string      `json:"event_id"`
	EventType        string      `json:"event_type"`
	UnifiedAPI       string      `json:"unified_api"`
	SubscriptionID   string      `json:"subscription_id"`
	ConsumerID       string      `json:"consumer_id"`
	Service          serviceView `json:"service"`
	Endpoint         string      `json:"endpoint"`
	StatusCode       *int        `json:"status_code"` // null when no response came
	Success          bool        `json:"success"`
	ExecutionAttempt int         `json:"execution_attempt"`
	Timestamp        string      `json:"timestamp"`
	DurationMS       int64       `json:"duration_ms"`
	ResponseBody     string      `json:"response_body"`
	Error            *string     `json:"error"`
	RetryScheduled   bool        `json:"retry_scheduled"`
}

type serviceView struct {
	ID string `json:"id"`
}

func newLogView(a *store.Attempt) logView {
	v := logView{
		ID:               a.ID,
		EventID:          a.EventID,
		EventType:        a.EventType,
		UnifiedAPI:       a.UnifiedAPI,
		SubscriptionID:   a.SubscriptionID,
		ConsumerID:       a.ConsumerID,
		Service:          serviceView{ID: a.ServiceID},
		Endpoint:         a.Endpoint,
		Success:          a.Success,
		ExecutionAttempt: a.ExecutionAttempt,
		Timestamp:        formatTime(a.Timestamp),
		DurationMS:       a.DurationMS,
		ResponseBody:     a.ResponseBody,
		Error:            nullable(a.Error),
		RetryScheduled:   a.RetryScheduled,
	}
	if a.StatusCode != 0 {
		code := a.StatusCode
		v.StatusCode = &code
	}
	return v
}

func (s *server) listLogs(c *gin.Context) {
	f, err := parseFilters(c, "event_type", "success", "consumer_id", "service_id", "subscription_id", "event_id")
	if err != nil {
		WriteError(c, err)
		return
	}
	if err := CheckConsumer(c, "filter[consumer_id]", f["consumer_id"]); err != nil {
		WriteError(c, err)
		return
	}
	filter := store.AttemptFilter{
		EventType:      f["event_type"],
		ConsumerID:     f["consumer_id"],
		ServiceID:      f["service_id"],
		SubscriptionID: f["subscription_id"],
		EventID:        f["event_id"],
	}
	if v, ok := f["success"]; ok {
		var b bool
		switch v {
		case "true":
			b = true
		case "false":
		default:
			WriteError(c, BadRequest("filter[success]", fmt.Sprintf("must be true or false, got %q", v)))
			return
		}
		filter.Success = &b
	}
	q, err := parsePage(c, "logs")
	if err != nil {
		WriteError(c, err)
		return
	}
	ctx := c.Request.Context()
	pg, err := fetchPage(q, func(p store.Page) ([]*store.Attempt, error) {
		return s.store.ListAttempts(ctx, ScopeOf(c), filter, p)
	}, func(a *store.Attempt) string { return a.ID })
	if err != nil {
		WriteError(c, fmt.Errorf("listing delivery attempts: %w", err))
		return
	}
	respondList(c, s.publicURL, q, mapPage(pg, newLogView), func(v logView) string { return v.ID })
}
