// Package deskerafake is a local stand-in for Deskera's webhook API (seed
// 001), for tests of the Deskera connector and of the hub end to end. It
// serves the three documented routes on a loopback httptest server:
//
//	POST   /v1/webhooks/register     {clientId, clientSecret, accessToken, refreshToken, eventType, webhookUrl}
//	DELETE /v1/webhooks/delete/{id}
//	GET    /v1/webhooks
//
// Every call must carry the access token the fake was started with in
// x-access-token. The fake records every request (method, path, headers,
// body), keeps the registered hooks, can be told to refuse or hang (Fault),
// and plays Deskera posting a webhook to a registered URL (Deliver).
//
// Deskera does not document its error body; the fake answers errors as
// {"statusCode": 401, "errorCode": "UNAUTHORIZED", "errorMessage": "..."}.
package deskerafake

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/switchboardhq/switchboard/connectors/deskera"
)

// Route names one of the fake's routes, for faults and request filters.
type Route string

// The routes of Deskera's webhook API.
const (
	RouteRegister Route = "register"
	RouteDelete   Route = "delete"
	RouteList     Route = "list"
)

// Fault makes calls to one route misbehave. Calls are numbered per route
// from 1, in the order they arrive, whether they succeed or not.
type Fault struct {
	// From is the first call affected (0 and 1 both mean the first).
	From int
	// Times is how many calls are affected; 0 means every call from From on.
	Times int
	// Status and Message refuse the call with a Deskera-style error body;
	// nothing is registered or deleted.
	Status  int
	Message string
	// Hang, instead, lets the call take effect (a hook is registered or
	// deleted) and then never answers, until the client gives up or the
	// fake is closed: the worst case for a client, which cannot know the
	// outcome.
	Hang bool
}

func (f Fault) applies(call int) bool {
	from := max(f.From, 1)
	return call >= from && (f.Times == 0 || call < from+f.Times)
}

// Request is one request the fake received.
type Request struct {
	Route  Route // "" for a request to no known route
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// Server is a running fake. Its methods are safe for concurrent use.
type Server struct {
	// URL is the fake's base URL (the base_url setting of a connection).
	URL string
	// AccessToken is the only x-access-token the fake accepts.
	AccessToken string

	srv     *httptest.Server
	closing chan struct{}
	once    sync.Once

	mu       sync.Mutex
	nextID   int64
	hooks    map[int64]*deskera.Hook // every hook ever registered
	calls    map[Route]int
	faults   map[Route]Fault
	requests []Request
}

// New starts a fake that accepts accessToken. Close it when done.
func New(accessToken string) *Server {
	s := &Server{
		AccessToken: accessToken,
		closing:     make(chan struct{}),
		nextID:      100,
		hooks:       map[int64]*deskera.Hook{},
		calls:       map[Route]int{},
		faults:      map[Route]Fault{},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close releases hanging calls and stops the server.
func (s *Server) Close() {
	s.once.Do(func() { close(s.closing) })
	s.srv.Close()
}

// SetFault makes calls to r misbehave as f says, replacing r's fault.
func (s *Server) SetFault(r Route, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[r] = f
}

// ClearFaults makes every route behave again.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.faults)
}

// Hooks returns the registered hooks that are not deleted, by id.
func (s *Server) Hooks() []deskera.Hook {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.liveLocked()
}

func (s *Server) liveLocked() []deskera.Hook {
	out := []deskera.Hook{}
	for _, h := range s.hooks {
		if !h.Deleted {
			out = append(out, *h)
		}
	}
	slices.SortFunc(out, func(a, b deskera.Hook) int { return cmp.Compare(a.HookID, b.HookID) })
	return out
}

// Requests returns the requests received, oldest first; with routes, only
// those to one of them.
func (s *Server) Requests(routes ...Route) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.requests {
		if len(routes) == 0 || slices.Contains(routes, r.Route) {
			out = append(out, r)
		}
	}
	return out
}

// Calls returns how many requests reached route r.
func (s *Server) Calls(r Route) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[r]
}

// apiError is the fake's Deskera-style error body.
type apiError struct {
	StatusCode   int    `json:"statusCode"`
	ErrorCode    string `json:"errorCode"`
	ErrorMessage string `json:"errorMessage"`
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	route, id := classify(r.Method, r.URL.Path)

	s.mu.Lock()
	s.requests = append(s.requests, Request{Route: route, Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
	if route == "" {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	s.calls[route]++
	fault, faulty := s.faults[route]
	faulty = faulty && fault.applies(s.calls[route])
	if faulty && !fault.Hang {
		s.mu.Unlock()
		writeError(w, fault.Status, fault.Message)
		return
	}
	status, answer := s.handleLocked(r, route, id, body)
	s.mu.Unlock()

	if faulty && fault.Hang {
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(answer)
}

// classify finds the route of a request and, for deletes, the hook id.
func classify(method, path string) (Route, string) {
	switch {
	case method == http.MethodPost && path == deskera.PathRegister:
		return RouteRegister, ""
	case method == http.MethodGet && path == deskera.PathList:
		return RouteList, ""
	case method == http.MethodDelete && strings.HasPrefix(path, deskera.PathDelete):
		return RouteDelete, strings.TrimPrefix(path, deskera.PathDelete)
	}
	return "", ""
}

func (s *Server) handleLocked(r *http.Request, route Route, id string, body []byte) (int, any) {
	if r.Header.Get(deskera.HeaderAccessToken) != s.AccessToken || s.AccessToken == "" {
		return unauthorized()
	}
	switch route {
	case RouteList:
		return http.StatusOK, s.liveLocked()
	case RouteDelete:
		n, err := strconv.ParseInt(id, 10, 64)
		h, ok := s.hooks[n]
		if err != nil || !ok || h.Deleted {
			return http.StatusNotFound, apiError{StatusCode: http.StatusNotFound, ErrorCode: "NOT_FOUND", ErrorMessage: "Webhook " + id + " not found"}
		}
		h.Deleted = true
		return http.StatusOK, *h
	default:
		return s.registerLocked(body)
	}
}

func (s *Server) registerLocked(body []byte) (int, any) {
	var req struct {
		ClientID     string `json:"clientId"`
		ClientSecret string `json:"clientSecret"`
		AccessToken  string `json:"accessToken"`
		RefreshToken string `json:"refreshToken"`
		EventType    string `json:"eventType"`
		WebhookURL   string `json:"webhookUrl"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return badRequest("Invalid request body: " + err.Error())
	}
	for name, v := range map[string]string{
		"clientId": req.ClientID, "clientSecret": req.ClientSecret, "accessToken": req.AccessToken,
		"refreshToken": req.RefreshToken, "eventType": req.EventType, "webhookUrl": req.WebhookURL,
	} {
		if v == "" {
			return badRequest(name + " is required")
		}
	}
	if req.AccessToken != s.AccessToken {
		return unauthorized()
	}
	if !slices.Contains(deskera.EventTypes(), req.EventType) {
		return badRequest("Invalid eventType " + req.EventType)
	}
	if u, err := url.Parse(req.WebhookURL); err != nil || !u.IsAbs() || u.Host == "" {
		return badRequest("Invalid webhookUrl")
	}
	s.nextID++
	h := &deskera.Hook{HookID: s.nextID, EventType: req.EventType, WebhookURL: req.WebhookURL}
	s.hooks[h.HookID] = h
	return http.StatusOK, *h
}

func unauthorized() (int, any) {
	return http.StatusUnauthorized, apiError{StatusCode: http.StatusUnauthorized, ErrorCode: "UNAUTHORIZED", ErrorMessage: "Invalid or expired access token"}
}

func badRequest(msg string) (int, any) {
	return http.StatusBadRequest, apiError{StatusCode: http.StatusBadRequest, ErrorCode: "BAD_REQUEST", ErrorMessage: msg}
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(apiError{StatusCode: status, ErrorCode: strings.ToUpper(strings.ReplaceAll(http.StatusText(status), " ", "_")), ErrorMessage: msg})
}

// Deliver plays Deskera sending a webhook: it posts body to the URL of the
// newest live hook for eventType (which carries ?e=<eventType>) and
// returns the hub's status and answer.
func (s *Server) Deliver(ctx context.Context, eventType string, body []byte) (int, []byte, error) {
	var target string
	for _, h := range s.Hooks() {
		if h.EventType == eventType {
			target = h.WebhookURL
		}
	}
	if target == "" {
		return 0, nil, fmt.Errorf("deskerafake: no webhook is registered for %s", eventType)
	}
	return Post(ctx, target, body)
}

// Post sends one webhook body to url as Deskera would (a JSON POST, no
// signature) and returns the status and answer.
func Post(ctx context.Context, url string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, answer, err
}

// InvoiceWebhook is a sales-invoice webhook body in the shape the
// connector assumes (see connectors/deskera), as Deskera's REST API writes
// an invoice: dates dd-MM-yyyy, amounts as decimals. It has no eventType,
// so the event type must come from the registered URL's ?e=.
func InvoiceWebhook(code string) []byte {
	body, _ := json.Marshal(map[string]any{
		"tenantId":  81234,
		"timestamp": "2024-01-15T10:30:00Z",
		"data": map[string]any{
			"salesInvoiceCode":     code,
			"documentSequenceCode": "INV-" + strings.TrimPrefix(code, "SI-"),
			"contactCode":          "C-0000001",
			"contactName":          "Acme GmbH",
			"currency":             "EUR",
			"exchangeRate":         1,
			"invoiceDate":          "15-01-2024",
			"dueDate":              "14-02-2024",
			"paymentStatus":        "PENDING",
			"subTotal":             1000,
			"taxAmount":            190,
			"totalAmount":          1190,
			"dueAmount":            1190,
			"memo":                 "Thank you for your business",
			"salesInvoiceItems": []map[string]any{{
				"productCode":        "P-0000001",
				"productName":        "Consulting hour",
				"productDescription": "Implementation workshop",
				"productQuantity":    10,
				"uom":                "hour",
				"unitPrice":          100,
				"taxCode":            "VAT19",
				"taxRate":            19,
				"taxAmount":          190,
				"totalAmount":        1190,
			}},
		},
	})
	return body
}
