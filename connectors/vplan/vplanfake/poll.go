package vplanfake

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The fake's side of reconciliation (virtual webhooks): vPlan's list
// endpoints with the updated-since filter the connector assumes,
//
//	GET /v1/card?updated_since=<RFC 3339>&sort=updated_at&limit=<n>
//	GET /v1/collection?...
//
// answering the objects changed at or after updated_since, oldest first,
// at most limit. Change makes a change at "vPlan" (and sends its webhook
// unless the fake is told to Forget it); RateLimit answers the next list
// calls 429 with a Retry-After; ListCalls and MaxConcurrentLists let tests
// check when and how polls came.

// ErrForgotten is the Err of a Delivery the fake forgot to send (Forget).
var ErrForgotten = errors.New("vplanfake: webhook forgotten")

// ListCall is one list request the fake answered (or refused with 429).
type ListCall struct {
	Resource string
	Since    string
	At       time.Time
	Status   int
}

// Forget makes the fake drop the next n webhooks Change would send, as a
// provider that fails to deliver (an outage, its hourly cap): only
// reconciliation can then bring the change to the hub.
func (s *Server) Forget(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forget = n
}

// Forgotten reports how many webhooks the fake has dropped.
func (s *Server) Forgotten() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.forgotten
}

// RateLimit answers the next n list calls 429 with Retry-After (whole
// seconds, rounded up).
func (s *Server) RateLimit(n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limited, s.retryAfter = n, retryAfter
}

// SlowLists makes every list call take at least d (to widen the window in
// which two polls could overlap).
func (s *Server) SlowLists(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.slow = d
}

// ListCalls returns the list calls so far, in order.
func (s *Server) ListCalls() []ListCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.listCalls)
}

// MaxConcurrentLists is the most list calls the fake has been answering at
// once (all of them are for the one API key and environment it accepts:
// one vPlan account).
func (s *Server) MaxConcurrentLists() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxInFlight
}

// Put stores an object as the list endpoints show it (resource "card" or
// "collection"); it needs "id" and "updated_at".
func (s *Server) Put(resource string, obj map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.items[resource] == nil {
		s.items[resource] = map[string]map[string]any{}
	}
	s.items[resource][fmt.Sprint(obj["id"])] = maps.Clone(obj)
}

// Change plays a change at vPlan: event ("card.created", "card.updated",
// "collection.updated", ...) happens to the object of the sample, changed
// by mutate, stamped with updated_at now (and created_at now for a
// .created event). The object is stored for the list endpoints, and every
// subscribed webhook is sent the event unless Forget drops it (its
// Delivery then has Err ErrForgotten). It returns the deliveries and the
// object.
func (s *Server) Change(ctx context.Context, event string, mutate func(data map[string]any)) ([]Delivery, map[string]any, error) {
	resource, _, _ := strings.Cut(event, ".")
	now := time.Now().UTC().Truncate(time.Millisecond)
	var obj map[string]any
	stamp := func(data map[string]any) {
		if mutate != nil {
			mutate(data)
		}
		data["updated_at"] = now.Format(time.RFC3339Nano)
		if strings.HasSuffix(event, ".created") {
			data["created_at"] = data["updated_at"]
		}
		obj = maps.Clone(data)
	}
	var out []Delivery
	for _, h := range s.Webhooks() {
		if !h.Active || !slices.Contains(h.EventTypes, event) {
			continue
		}
		body, _, err := Message(event, h.ID, stamp)
		if err != nil {
			return out, nil, err
		}
		s.mu.Lock()
		drop := s.forget > 0
		if drop {
			s.forget--
			s.forgotten++
		}
		s.mu.Unlock()
		if drop {
			out = append(out, Delivery{WebhookID: h.ID, Event: event, Err: ErrForgotten})
			continue
		}
		d := s.Send(ctx, h.URL, body)
		d.WebhookID = h.ID
		out = append(out, d)
		s.record(h.ID, d.Err == nil)
	}
	if obj == nil { // no webhook: make the object all the same
		if _, _, err := Message(event, "", stamp); err != nil {
			return nil, nil, err
		}
	}
	if resource == "card" || resource == "collection" {
		s.Put(resource, obj)
	}
	return out, obj, nil
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, resource string) {
	if r.Method != http.MethodGet {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"message": "The " + r.Method + " method is not supported for this route."})
		return
	}
	since := r.URL.Query().Get("updated_since")
	s.mu.Lock()
	s.inFlight++
	s.maxInFlight = max(s.maxInFlight, s.inFlight)
	slow := s.slow
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	if slow > 0 {
		select {
		case <-time.After(slow):
		case <-r.Context().Done():
		}
	}
	s.mu.Lock()
	call := ListCall{Resource: resource, Since: since, At: time.Now()}
	if s.limited > 0 {
		s.limited--
		call.Status = http.StatusTooManyRequests
		s.listCalls = append(s.listCalls, call)
		secs := int((s.retryAfter + time.Second - 1) / time.Second)
		s.mu.Unlock()
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"message": "Too Many Attempts."})
		return
	}
	call.Status = http.StatusOK
	s.listCalls = append(s.listCalls, call)
	var from time.Time
	if since != "" {
		t, err := time.Parse(time.RFC3339Nano, since)
		if err != nil {
			s.mu.Unlock()
			writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "The updated since field must be a valid date."})
			return
		}
		from = t
	}
	limit := 100
	if l, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && l > 0 && l <= 1000 {
		limit = l
	}
	type item struct {
		at  time.Time
		obj map[string]any
	}
	var found []item
	for _, obj := range s.items[resource] {
		at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(obj["updated_at"]))
		if err != nil || at.Before(from) {
			continue
		}
		found = append(found, item{at, maps.Clone(obj)})
	}
	s.mu.Unlock()
	slices.SortFunc(found, func(a, b item) int { return a.at.Compare(b.at) })
	list := make([]map[string]any, 0, min(len(found), limit))
	for _, it := range found[:min(len(found), limit)] {
		list = append(list, it.obj)
	}
	s.mu.Lock()
	s.answer(w, http.StatusOK, list)
	s.mu.Unlock()
}
