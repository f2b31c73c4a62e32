// Package vplanfake is a local stand-in for vPlan's webhook API, for tests
// of the vPlan connector and of the hub end to end. It implements the
// registration routes vPlan documents (seed 004) under /v1, as the real
// base URL https://api.vplan.com/v1 has them:
//
//	POST   /v1/webhook        create (checks x-api-key and x-api-env, validates the body)
//	GET    /v1/webhook        list
//	GET    /v1/webhook/{id}   read
//	DELETE /v1/webhook/{id}   remove (404 when unknown)
//
// It records every request it receives (method, path, headers, body) for
// assertions, can be told to refuse every call with a status and message
// (Refuse) or to hang until the caller gives up (Hang), and plays vPlan's
// side of delivery: Trigger sends a sample event to every registered,
// active webhook subscribed to it, and Send posts one to any URL. Samples
// are the golden inputs of testdata/vplan (switchboard.Sample), re-stamped
// with a fresh message_id so each send is a new event.
//
//	fake := vplanfake.New("key-123", "env-1")
//	defer fake.Close()
//	// settings{"base_url": fake.URL}, credentials{"api_key": "key-123", "api_env": "env-1"}
package vplanfake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/switchboardhq/switchboard"
	"github.com/switchboardhq/switchboard/connectors/vplan"
)

// Prefix is the path prefix of the API, as in https://api.vplan.com/v1.
const Prefix = "/v1"

// SampleEvents names one event of each payload kind, the ones SendEachKind
// sends.
var SampleEvents = map[vplan.PayloadKind]string{
	vplan.KindNormal:      "card.created",
	vplan.KindNested:      "card.label.attached",
	vplan.KindNestedPivot: "card.activity.updated",
}

// Kinds lists the payload kinds in vPlan's order.
var Kinds = []vplan.PayloadKind{vplan.KindNormal, vplan.KindNested, vplan.KindNestedPivot}

// Request is one request the fake received.
type Request struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// Delivery is the outcome of one webhook the fake sent.
type Delivery struct {
	WebhookID string // empty for Send
	Event     string
	MessageID string
	Status    int    // 0 when the receiver did not answer
	Answer    []byte // the receiver's answer body
	Err       error
}

// Server is the fake vPlan API. Its methods are safe for concurrent use.
type Server struct {
	// URL is the API's base URL (http://127.0.0.1:port/v1): the
	// connection's settings.base_url.
	URL string
	// APIKey and APIEnv are the only credentials it accepts.
	APIKey, APIEnv string

	srv     *httptest.Server
	client  *http.Client
	closing chan struct{}
	once    sync.Once

	mu       sync.Mutex
	requests []Request
	hooks    []*vplan.Webhook
	status   int
	message  string
	hang     bool
	wrap     bool
	// failCreates > 0: the next creates are stored, then answered with
	// failStatus (an answer lost after vPlan acted).
	failCreates int
	failStatus  int
	failMessage string

	// Reconciliation (list endpoints, poll.go).
	items       map[string]map[string]map[string]any // resource -> id -> object
	forget      int                                  // webhooks still to forget
	forgotten   int
	limited     int           // list calls still to answer 429
	retryAfter  time.Duration // their Retry-After
	listCalls   []ListCall
	inFlight    int
	maxInFlight int
	slow        time.Duration
}

// New starts a fake that accepts apiKey and apiEnv. Close it when done.
func New(apiKey, apiEnv string) *Server {
	s := &Server{APIKey: apiKey, APIEnv: apiEnv, closing: make(chan struct{}), items: map[string]map[string]map[string]any{},
		client: &http.Client{Timeout: 10 * time.Second}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL + Prefix
	return s
}

// Close releases hung requests and stops the server.
func (s *Server) Close() {
	s.once.Do(func() { close(s.closing) })
	s.srv.Close()
}

// Refuse makes every API call answer status with {"message": message};
// status 0 returns to normal.
func (s *Server) Refuse(status int, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.message = status, message
}

// FailCreates makes the next n creates store the webhook and then answer
// status with {"message": message}, as when vPlan acts but its answer is
// lost or it fails afterwards: what a connector must clean up.
func (s *Server) FailCreates(n, status int, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failCreates, s.failStatus, s.failMessage = n, status, message
}

// Hang makes every API call wait, unanswered, until the caller gives up or
// the fake is closed.
func (s *Server) Hang(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hang = on
}

// WrapData makes answers wrap their object or list as {"data": ...}
// instead of sending it bare: the connector must read both.
func (s *Server) WrapData(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wrap = on
}

// Requests returns a copy of every request received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		out[i] = Request{Method: r.Method, Path: r.Path, Header: r.Header.Clone(), Body: bytes.Clone(r.Body)}
	}
	return out
}

// Webhooks returns a copy of the registered webhooks, oldest first.
func (s *Server) Webhooks() []vplan.Webhook {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]vplan.Webhook, len(s.hooks))
	for i, h := range s.hooks {
		out[i] = *h
		out[i].EventTypes = slices.Clone(h.EventTypes)
	}
	return out
}

// AddWebhook registers a webhook directly, as if created in vPlan's UI or
// by an earlier call, and returns it.
func (s *Server) AddWebhook(webhookURL string, eventTypes []string) vplan.Webhook {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.newHook(vplan.CreateWebhook{URL: webhookURL, Active: true, EventTypes: eventTypes})
	return *h
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
	hang, status, message := s.hang, s.status, s.message
	s.mu.Unlock()

	if hang {
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
		return
	}
	if status != 0 {
		writeJSON(w, status, map[string]any{"message": message})
		return
	}
	if r.Header.Get(vplan.HeaderAPIKey) != s.APIKey || r.Header.Get(vplan.HeaderAPIEnv) != s.APIEnv ||
		s.APIKey == "" {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "Unauthenticated."})
		return
	}
	if resource, ok := strings.CutPrefix(r.URL.Path, Prefix+"/"); ok && slices.Contains(vplan.PollResources, resource) {
		s.list(w, r, resource)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, Prefix+"/webhook")
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "Not found."})
		return
	}
	switch id := strings.TrimPrefix(rest, "/"); {
	case rest == "" && r.Method == http.MethodPost:
		s.create(w, body)
	case rest == "" && r.Method == http.MethodGet:
		s.mu.Lock()
		list := make([]*vplan.Webhook, len(s.hooks))
		copy(list, s.hooks)
		s.answer(w, http.StatusOK, list)
		s.mu.Unlock()
	case rest == "":
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"message": "The " + r.Method + " method is not supported for this route."})
	case strings.HasPrefix(rest, "/") && id != "" && !strings.Contains(id, "/"):
		s.one(w, r.Method, id)
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "Not found."})
	}
}

func (s *Server) create(w http.ResponseWriter, body []byte) {
	var req vplan.CreateWebhook
	if err := json.Unmarshal(body, &req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": "The request body is not valid JSON."})
		return
	}
	errs := map[string][]string{}
	if u, err := url.Parse(req.URL); req.URL == "" {
		errs["url"] = append(errs["url"], "The url field is required.")
	} else if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs["url"] = append(errs["url"], "The url field must be a valid URL.")
	}
	if len(req.URL) > 512 {
		errs["url"] = append(errs["url"], "The url field must not be greater than 512 characters.")
	}
	if len([]rune(req.Description)) > 150 {
		errs["description"] = append(errs["description"], "The description field must not be greater than 150 characters.")
	}
	for i, e := range req.EventTypes {
		if !slices.Contains(vplan.AllEventTypes(), e) {
			errs[fmt.Sprintf("event_types.%d", i)] = []string{"The selected event_types." + fmt.Sprint(i) + " is invalid."}
		}
	}
	if len(errs) > 0 {
		first := errs[slices.Sorted(maps.Keys(errs))[0]][0]
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": first, "errors": errs})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.newHook(req)
	if s.failCreates > 0 {
		s.failCreates--
		writeJSON(w, s.failStatus, map[string]any{"message": s.failMessage})
		return
	}
	s.answer(w, http.StatusCreated, h)
}

// newHook stores a webhook as vPlan creates one. s.mu is held.
func (s *Server) newHook(req vplan.CreateWebhook) *vplan.Webhook {
	now := time.Now().UTC().Truncate(time.Second)
	keyID := "apikey-" + uuid.NewSHA1(uuid.NameSpaceOID, []byte(s.APIKey)).String()[:8]
	zero, yes := int64(0), true
	h := &vplan.Webhook{
		ID: uuid.NewString(), URL: req.URL, Description: req.Description, Active: req.Active,
		EventTypes: slices.Clone(req.EventTypes), APIKeyID: &keyID, ThirdParty: true,
		FailStreak: &zero, CanSend: &yes, CreatedAt: &now, UpdatedAt: &now,
	}
	s.hooks = append(s.hooks, h)
	return h
}

func (s *Server) one(w http.ResponseWriter, method, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.hooks, func(h *vplan.Webhook) bool { return h.ID == id })
	if i < 0 {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "No query results for model [Webhook] " + id})
		return
	}
	switch method {
	case http.MethodGet:
		s.answer(w, http.StatusOK, s.hooks[i])
	case http.MethodDelete:
		s.hooks = slices.Delete(s.hooks, i, i+1)
		w.WriteHeader(http.StatusNoContent)
	default:
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"message": "The " + method + " method is not supported for this route."})
	}
}

// answer writes v bare or wrapped as {"data": v}. s.mu is held.
func (s *Server) answer(w http.ResponseWriter, status int, v any) {
	if s.wrap {
		v = map[string]any{"data": v}
	}
	writeJSON(w, status, v)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// Message builds the webhook body vPlan would send for event: the sample of
// testdata/vplan with a fresh message_id, the given webhook_id (kept when
// empty) and created_at now. mutate, when not nil, may change data (an
// object) first, e.g. to give each send its own entity id.
func Message(event, webhookID string, mutate func(data map[string]any)) (body []byte, messageID string, err error) {
	raw, err := switchboard.Sample(vplan.ID, event)
	if err != nil {
		return nil, "", err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, "", fmt.Errorf("sample %s: %w", event, err)
	}
	messageID = uuid.NewString()
	m["message_id"] = messageID
	if webhookID != "" {
		m["webhook_id"] = webhookID
	}
	m["created_at"] = time.Now().UTC().Format(time.RFC3339)
	if mutate != nil {
		data, ok := m["data"].(map[string]any)
		if !ok {
			return nil, "", fmt.Errorf("sample %s has no data object", event)
		}
		mutate(data)
	}
	body, err = json.Marshal(m)
	return body, messageID, err
}

// Send posts one webhook body to url as vPlan does (POST, JSON, no
// signature) and reports the receiver's answer.
func (s *Server) Send(ctx context.Context, url string, body []byte) Delivery {
	var d Delivery
	var env struct {
		Event     string `json:"event"`
		MessageID string `json:"message_id"`
	}
	_ = json.Unmarshal(body, &env)
	d.Event, d.MessageID = env.Event, env.MessageID
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		d.Err = err
		return d
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "vPlan-Webhook/1.0 (fake)")
	resp, err := s.client.Do(req)
	if err != nil {
		d.Err = err
		return d
	}
	defer resp.Body.Close()
	d.Status = resp.StatusCode
	d.Answer, _ = io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		d.Err = fmt.Errorf("receiver answered %s", resp.Status)
	}
	return d
}

// SendEachKind posts a sample of each payload kind (SampleEvents, in Kinds
// order) to url.
func (s *Server) SendEachKind(ctx context.Context, url string) ([]Delivery, error) {
	out := make([]Delivery, 0, len(Kinds))
	for _, k := range Kinds {
		body, _, err := Message(SampleEvents[k], "", nil)
		if err != nil {
			return out, err
		}
		out = append(out, s.Send(ctx, url, body))
	}
	return out, nil
}

// Trigger plays vPlan when event happens: every registered, active webhook
// subscribed to event is sent Message(event, its id, mutate). vPlan's
// bookkeeping follows: a failed delivery grows the webhook's fail_streak,
// a successful one resets it.
func (s *Server) Trigger(ctx context.Context, event string, mutate func(data map[string]any)) ([]Delivery, error) {
	var targets []vplan.Webhook
	for _, h := range s.Webhooks() {
		if h.Active && slices.Contains(h.EventTypes, event) {
			targets = append(targets, h)
		}
	}
	out := make([]Delivery, 0, len(targets))
	for _, h := range targets {
		body, _, err := Message(event, h.ID, mutate)
		if err != nil {
			return out, err
		}
		d := s.Send(ctx, h.URL, body)
		d.WebhookID = h.ID
		out = append(out, d)
		s.record(h.ID, d.Err == nil)
	}
	return out, nil
}

func (s *Server) record(id string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range s.hooks {
		if h.ID != id {
			continue
		}
		now := time.Now().UTC().Truncate(time.Second)
		if ok {
			zero := int64(0)
			h.FailStreak, h.FailStreakStartedAt, h.LastFailedAt = &zero, nil, nil
			return
		}
		n := int64(1)
		if h.FailStreak != nil {
			n = *h.FailStreak + 1
		}
		h.FailStreak, h.LastFailedAt = &n, &now
		if h.FailStreakStartedAt == nil {
			h.FailStreakStartedAt = &now
		}
	}
}
