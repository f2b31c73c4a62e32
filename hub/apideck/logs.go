package apideck

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/switchboardhq/switchboard/hub/api"
	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/store"
)

// logFilters are Apideck's filters of GET /webhook/logs, as the SDKs send
// them (filter[service][id] nested, status_codes repeated).
var logFilters = []string{"exclude_apis", "service][id", "consumer_id", "entity_type", "event_type", "start_date",
	"end_date", "success", "status_code", "status_codes", "event_id", "execution_attempt"}

// logScanPages bounds how many store pages one request reads looking for
// rows that pass the filters the store cannot apply; a sparse filter then
// answers a short page whose next cursor goes on from where it stopped.
const logScanPages = 25

// logFilter is a parsed set of Apideck log filters.
type logFilter struct {
	store       store.AttemptFilter
	excludeAPIs []string
	entityType  string
	start, end  *time.Time
	statusCodes []int
	attempt     *int
}

// WebhookEventLog is Apideck's event log entry.
type WebhookEventLog struct {
	ID               string            `json:"id"`
	StatusCode       int               `json:"status_code"`
	Success          bool              `json:"success"`
	ApplicationID    string            `json:"application_id,omitempty"`
	ConsumerID       string            `json:"consumer_id"`
	UnifiedAPI       string            `json:"unified_api"`
	Service          logService        `json:"service"`
	Endpoint         string            `json:"endpoint"`
	EventType        string            `json:"event_type"`
	ExecutionAttempt int               `json:"execution_attempt"`
	HTTPMethod       string            `json:"http_method"`
	Timestamp        string            `json:"timestamp"`
	EntityType       string            `json:"entity_type"`
	RequestBody      string            `json:"request_body"`
	ResponseBody     string            `json:"response_body"`
	RetryScheduled   bool              `json:"retry_scheduled"`
	Attempts         []logAttemptBrief `json:"attempts"`
}

type logService struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type logAttemptBrief struct {
	Timestamp        string `json:"timestamp"`
	ExecutionAttempt int    `json:"execution_attempt"`
	StatusCode       int    `json:"status_code"`
	Success          bool   `json:"success"`
}

func parseLogFilter(c *gin.Context) (*logFilter, error) {
	f := &logFilter{}
	for key, values := range c.Request.URL.Query() {
		name, ok := strings.CutPrefix(key, "filter[")
		if !ok {
			continue
		}
		name = strings.TrimSuffix(name, "]")
		if !slices.Contains(logFilters, name) {
			return nil, api.BadRequest(key, "is not a filter of this list; filters: filter["+strings.Join(logFilters, "], filter[")+"]")
		}
		v := strings.TrimSpace(values[len(values)-1])
		if v == "" {
			continue
		}
		field := key
		switch name {
		case "exclude_apis":
			for _, a := range strings.Split(v, ",") {
				if a = strings.TrimSpace(a); a != "" {
					f.excludeAPIs = append(f.excludeAPIs, a)
				}
			}
		case "service][id":
			f.store.ServiceID = v
		case "consumer_id":
			if err := api.CheckConsumer(c, "filter[consumer_id]", v); err != nil {
				return nil, err
			}
			f.store.ConsumerID = v
		case "entity_type":
			f.entityType = v
		case "event_type":
			f.store.EventType = v
		case "event_id":
			f.store.EventID = v
		case "start_date", "end_date":
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return nil, api.BadRequest(field, fmt.Sprintf("must be an RFC 3339 date-time such as 2024-01-15T10:30:00Z, got %q", v))
			}
			if name == "start_date" {
				f.start = &t
			} else {
				f.end = &t
			}
		case "success":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, api.BadRequest(field, fmt.Sprintf("must be true or false, got %q", v))
			}
			f.store.Success = &b
		case "status_code", "status_codes":
			for _, raw := range values {
				for _, part := range strings.Split(raw, ",") {
					if part = strings.TrimSpace(part); part == "" {
						continue
					}
					n, err := strconv.Atoi(part)
					if err != nil || n < 0 || n > 999 {
						return nil, api.BadRequest(field, fmt.Sprintf("must be an HTTP status code such as 200, got %q", part))
					}
					f.statusCodes = append(f.statusCodes, n)
				}
			}
		case "execution_attempt":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return nil, api.BadRequest(field, fmt.Sprintf("must be a positive integer, got %q", v))
			}
			f.attempt = &n
		}
	}
	return f, nil
}

// needsEvent reports whether matching needs the attempt's event.
func (f *logFilter) needsEvent() bool { return f.entityType != "" }

// match applies the filters the store does not.
func (f *logFilter) match(a *store.Attempt, ev *event.Event) bool {
	switch {
	case slices.Contains(f.excludeAPIs, a.UnifiedAPI):
		return false
	case f.start != nil && a.Timestamp.Before(*f.start):
		return false
	case f.end != nil && a.Timestamp.After(*f.end):
		return false
	case len(f.statusCodes) > 0 && !slices.Contains(f.statusCodes, a.StatusCode):
		return false
	case f.attempt != nil && a.ExecutionAttempt != *f.attempt:
		return false
	case f.entityType != "" && (ev == nil || ev.EntityType != f.entityType):
		return false
	}
	return true
}

const logsCursorKind = "apideck-logs"

func encodeLogCursor(dir, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(logsCursorKind + "|" + dir + "|" + id))
}

func decodeLogCursor(raw string) (dir, id string, err error) {
	b, derr := base64.RawURLEncoding.DecodeString(strings.TrimRight(raw, "="))
	parts := strings.Split(string(b), "|")
	if derr != nil || len(parts) != 3 || parts[0] != logsCursorKind || (parts[1] != "a" && parts[1] != "b") || parts[2] == "" {
		return "", "", &api.Error{Status: http.StatusBadRequest, TypeName: api.TypeInvalidCursor,
			Message: "cursor is not valid for this list; use a cursor from meta.cursors of the same list",
			Detail:  map[string]string{"field": "cursor", "reason": "not a cursor of this list"}}
	}
	return parts[1], parts[2], nil
}

func parseLimit(c *gin.Context) (int, error) {
	raw, ok := c.GetQuery("limit")
	if !ok {
		return 20, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > 200 {
		return 0, api.BadRequest("limit", "must be an integer between 1 and 200")
	}
	return n, nil
}

// listLogs lists delivery attempts as Apideck's event logs, newest first,
// with every Apideck filter: those the store has are applied there, the
// rest (exclude_apis, entity_type, dates, status codes, execution_attempt)
// while reading.
func (s *Service) listLogs(c *gin.Context) {
	f, err := parseLogFilter(c)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	limit, err := parseLimit(c)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	var dir, at string
	raw := c.Query("cursor")
	if raw != "" {
		if dir, at, err = decodeLogCursor(raw); err != nil {
			api.WriteError(c, err)
			return
		}
	}
	ctx := c.Request.Context()
	sc := api.ScopeOf(c)
	events := map[string]*event.Event{}
	eventOf := func(id string) (*event.Event, error) {
		if ev, ok := events[id]; ok {
			return ev, nil
		}
		ev, err := s.store.GetEvent(ctx, sc, id)
		if errors.Is(err, store.ErrNotFound) {
			ev, err = nil, nil // purged by retention
		}
		if err != nil {
			return nil, fmt.Errorf("loading event %s of a log: %w", id, err)
		}
		events[id] = ev
		return ev, nil
	}

	// Scan in the direction of travel until a page and one more match are
	// found, the list ends or the scan budget is spent.
	var (
		found    []*store.Attempt
		lastSeen string
		more     bool
	)
	backward := dir == "b"
	cursor := at
scan:
	for range logScanPages {
		p := store.Page{Limit: store.MaxPageLimit}
		if backward {
			p.Before = cursor
		} else {
			p.After = cursor
		}
		rows, err := s.store.ListAttempts(ctx, sc, f.store, p)
		if err != nil {
			api.WriteError(c, fmt.Errorf("listing delivery attempts: %w", err))
			return
		}
		if backward {
			slices.Reverse(rows) // closest to the cursor first
		}
		for _, a := range rows {
			lastSeen = a.ID
			var ev *event.Event
			if f.needsEvent() {
				if ev, err = eventOf(a.EventID); err != nil {
					api.WriteError(c, err)
					return
				}
			}
			if !f.match(a, ev) {
				continue
			}
			if len(found) == limit {
				more = true
				break scan
			}
			found = append(found, a)
		}
		if len(rows) < p.Limit {
			lastSeen = ""
			break
		}
		cursor = lastSeen
	}
	if !more && lastSeen != "" {
		more = true // budget spent: the next page goes on from the last row read
	}
	if backward {
		slices.Reverse(found)
	}

	var cur cursors
	if raw != "" {
		cur.Current = &raw
	}
	switch {
	case backward:
		if len(found) > 0 {
			next := encodeLogCursor("a", found[len(found)-1].ID)
			cur.Next = &next
			if more {
				prev := encodeLogCursor("b", found[0].ID)
				cur.Previous = &prev
			}
		} else if more {
			prev := encodeLogCursor("b", lastSeen)
			cur.Previous = &prev
		}
	default:
		if more {
			next := lastSeen
			if len(found) == limit {
				next = found[len(found)-1].ID
			}
			n := encodeLogCursor("a", next)
			cur.Next = &n
		}
		if raw != "" && len(found) > 0 {
			prev := encodeLogCursor("b", found[0].ID)
			cur.Previous = &prev
		}
	}

	// Every try of each listed delivery, oldest first, for attempts.
	tries := map[string][]logAttemptBrief{}
	out := make([]WebhookEventLog, len(found))
	for i, a := range found {
		ev, err := eventOf(a.EventID)
		if err != nil {
			api.WriteError(c, err)
			return
		}
		out[i] = s.eventLog(a, ev)
		if _, ok := tries[a.DeliveryID]; !ok && a.DeliveryID != "" {
			all, err := s.store.ListAttempts(ctx, sc, store.AttemptFilter{EventID: a.EventID, SubscriptionID: a.SubscriptionID}, store.Page{Limit: store.MaxPageLimit})
			if err != nil {
				api.WriteError(c, fmt.Errorf("listing the tries of delivery %s: %w", a.DeliveryID, err))
				return
			}
			var list []logAttemptBrief
			for j := len(all) - 1; j >= 0; j-- {
				if t := all[j]; t.DeliveryID == a.DeliveryID {
					list = append(list, brief(t))
				}
			}
			tries[a.DeliveryID] = list
		}
		if list := tries[a.DeliveryID]; len(list) > 0 {
			out[i].Attempts = list
		}
	}
	s.respondList(c, out, len(out), cur)
}

func (s *Service) eventLog(a *store.Attempt, ev *event.Event) WebhookEventLog {
	ts := a.Timestamp.UTC().Format(time.RFC3339Nano)
	l := WebhookEventLog{
		ID: a.ID, StatusCode: a.StatusCode, Success: a.Success, ApplicationID: s.appID,
		ConsumerID: a.ConsumerID, UnifiedAPI: a.UnifiedAPI, Service: logService{ID: a.ServiceID, Name: s.serviceName(a.ServiceID)},
		Endpoint: a.Endpoint, EventType: a.EventType, ExecutionAttempt: a.ExecutionAttempt, HTTPMethod: http.MethodPost,
		Timestamp: ts, ResponseBody: a.ResponseBody, RetryScheduled: a.RetryScheduled,
		Attempts: []logAttemptBrief{brief(a)},
	}
	if ev != nil {
		l.EntityType = ev.EntityType
		if body, err := ev.Body(a.ExecutionAttempt); err == nil {
			l.RequestBody = string(body)
		}
	}
	return l
}

// brief is one try as a log's attempts list shows it.
func brief(a *store.Attempt) logAttemptBrief {
	return logAttemptBrief{Timestamp: a.Timestamp.UTC().Format(time.RFC3339Nano), ExecutionAttempt: a.ExecutionAttempt,
		StatusCode: a.StatusCode, Success: a.Success}
}

// serviceName is a connector's name, or its id when it is not loaded (or
// the event was the application's own).
func (s *Service) serviceName(id string) string {
	if info, ok := s.connectors.Get(id); ok && info.Description != nil && info.Description.Name != "" {
		return info.Description.Name
	}
	return id
}
