// Package tasklistfake is the provider of the poll-only example connector
// (examples/polling): a task list without webhooks, served over HTTP.
//
//	GET  /tasks?updated_since=<RFC 3339>&limit=<n>   tasks changed at or after updated_since, oldest first
//	POST /tasks {"id", "title", "done"}              create or change a task (for trying it by hand)
//
// Every request needs Authorization: Bearer <token>. RateLimit answers the
// next list calls 429 with a Retry-After.
package tasklistfake

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Server is the fake Tasklist.
type Server struct {
	// URL is the base URL (settings.base_url) when started with New.
	URL   string
	Token string

	srv *httptest.Server

	mu         sync.Mutex
	tasks      map[string]map[string]any
	limited    int
	retryAfter int
	lists      int
}

// New starts a fake that accepts token on a local port. Close it when done.
func New(token string) *Server {
	s := NewHandler(token)
	s.srv = httptest.NewServer(s)
	s.URL = s.srv.URL
	return s
}

// NewHandler returns a fake to serve yourself (fakeserver does).
func NewHandler(token string) *Server {
	return &Server{Token: token, tasks: map[string]map[string]any{}}
}

// Close stops a fake started with New.
func (s *Server) Close() {
	if s.srv != nil {
		s.srv.Close()
	}
}

// Set creates or changes a task, stamping updated_at now (and created_at
// for a new one), and returns it.
func (s *Server) Set(id, title string, done bool) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now().UTC().Truncate(time.Millisecond).Format(time.RFC3339Nano)
	t, ok := s.tasks[id]
	if !ok {
		t = map[string]any{"id": id, "created_at": now}
		s.tasks[id] = t
	}
	t["title"], t["done"], t["updated_at"] = title, done, now
	return maps.Clone(t)
}

// RateLimit answers the next n list calls 429 with Retry-After seconds.
func (s *Server) RateLimit(n, retryAfterSeconds int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limited, s.retryAfter = n, retryAfterSeconds
}

// Lists reports how many list calls were answered.
func (s *Server) Lists() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lists
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+s.Token || s.Token == "" {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "unauthenticated"})
		return
	}
	if r.URL.Path != "/tasks" {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "not found"})
		return
	}
	switch r.Method {
	case http.MethodPost:
		var in struct {
			ID    string `json:"id"`
			Title string `json:"title"`
			Done  bool   `json:"done"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&in); err != nil || in.ID == "" {
			writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "body must be {id, title, done}"})
			return
		}
		writeJSON(w, http.StatusOK, s.Set(in.ID, in.Title, in.Done))
	case http.MethodGet:
		s.list(w, r)
	default:
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"message": "method not allowed"})
	}
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lists++
	if s.limited > 0 {
		s.limited--
		w.Header().Set("Retry-After", strconv.Itoa(s.retryAfter))
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"message": "slow down"})
		return
	}
	var since time.Time
	if v := r.URL.Query().Get("updated_since"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"message": "updated_since must be RFC 3339"})
			return
		}
		since = t
	}
	limit := 100
	if l, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && l > 0 {
		limit = min(l, 1000)
	}
	var out []map[string]any
	for _, t := range s.tasks {
		at, _ := time.Parse(time.RFC3339Nano, t["updated_at"].(string))
		if !at.Before(since) {
			out = append(out, maps.Clone(t))
		}
	}
	slices.SortFunc(out, func(a, b map[string]any) int {
		return compare(a["updated_at"].(string), b["updated_at"].(string))
	})
	if out == nil {
		out = []map[string]any{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out[:min(len(out), limit)]})
}

func compare(a, b string) int {
	ta, _ := time.Parse(time.RFC3339Nano, a)
	tb, _ := time.Parse(time.RFC3339Nano, b)
	return ta.Compare(tb)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
