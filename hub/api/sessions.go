package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/switchboardhq/switchboard/hub/apikey"
	"github.com/switchboardhq/switchboard/hub/store"
)

// Session lifetimes, in seconds.
const (
	DefaultSessionTTL = 3600
	MaxSessionTTL     = 86400
	maxRedirectURI    = 2048
)

// DefaultSessionScopes are what a session may do when the application asks
// for nothing else: manage the consumer's connections and read its
// subscriptions, events and logs.
var DefaultSessionScopes = []string{apikey.ScopeConnectionsWrite, apikey.ScopeWebhooksRead}

// sessionScopeForbidden are never granted to a session: admin reaches every
// consumer, and publishing events is the application's to do.
var sessionScopeForbidden = []string{apikey.ScopeAdmin, apikey.ScopeEventsWrite}

// sessionRequest is Apideck's vault session body plus scopes and a
// lifetime.
type sessionRequest struct {
	ConsumerMetadata json.RawMessage `json:"consumer_metadata"`
	RedirectURI      *string         `json:"redirect_uri"`
	Settings         json.RawMessage `json:"settings"`
	Theme            json.RawMessage `json:"theme"`
	Scopes           []string        `json:"scopes"`
	TTLSeconds       *int            `json:"ttl_seconds"`
}

// sessionMetadata is what a session keeps of its request for the console.
type sessionMetadata struct {
	ConsumerMetadata json.RawMessage `json:"consumer_metadata,omitempty"`
	RedirectURI      string          `json:"redirect_uri,omitempty"`
	Settings         json.RawMessage `json:"settings,omitempty"`
	Theme            json.RawMessage `json:"theme,omitempty"`
}

// createdSessionView is the answer to POST /vault/sessions: Apideck's
// session_uri and session_token, plus what the session is.
type createdSessionView struct {
	SessionURI   string   `json:"session_uri"`
	SessionToken string   `json:"session_token"`
	ExpiresAt    string   `json:"expires_at"`
	ID           string   `json:"id"`
	ConsumerID   string   `json:"consumer_id"`
	Scopes       []string `json:"scopes"`
}

// sessionView is a session as listed; never its token.
type sessionView struct {
	ID          string          `json:"id"`
	ConsumerID  string          `json:"consumer_id"`
	Scopes      []string        `json:"scopes"`
	ParentKeyID string          `json:"parent_key_id"`
	Metadata    json.RawMessage `json:"metadata"`
	CreatedAt   string          `json:"created_at"`
	ExpiresAt   string          `json:"expires_at"`
}

func newSessionView(ss *store.Session) sessionView {
	return sessionView{
		ID:          ss.ID,
		ConsumerID:  ss.ConsumerID,
		Scopes:      ss.Scopes,
		ParentKeyID: ss.ParentKeyID,
		Metadata:    ss.Metadata,
		CreatedAt:   formatTime(ss.CreatedAt),
		ExpiresAt:   formatTime(ss.ExpiresAt),
	}
}

// VaultConsumer is the consumer a /vault request acts for and the store
// scope of it: a bound credential's own consumer, or the consumer an
// unbound key names in x-consumer-id, which is then required.
func VaultConsumer(c *gin.Context) (string, store.Scope, error) {
	consumer, err := RequestedConsumer(c)
	if err != nil {
		return "", store.Scope{}, err
	}
	if consumer == "" {
		return "", store.Scope{}, BadRequest(ConsumerHeader, "header is required: name the consumer this request acts for")
	}
	return consumer, ScopeOf(c).Narrow(consumer), nil
}

// createSession mints a consumer session: an opaque, expiring token with a
// subset of the caller's scopes, bound to the consumer, that ends when the
// key that made it is revoked.
func (s *server) createSession(c *gin.Context) {
	p := Principal(c)
	if p.Session() {
		WriteError(c, &Error{Status: http.StatusForbidden, TypeName: TypeForbidden,
			Message: "a session cannot create sessions; use an API key"})
		return
	}
	consumer, _, err := VaultConsumer(c)
	if err != nil {
		WriteError(c, err)
		return
	}
	var req sessionRequest
	if _, err := decodeOptionalJSON(c, &req); err != nil {
		WriteError(c, err)
		return
	}
	var errs []FieldError
	meta := sessionMetadata{}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		dst  *json.RawMessage
	}{{"consumer_metadata", req.ConsumerMetadata, &meta.ConsumerMetadata}, {"settings", req.Settings, &meta.Settings}, {"theme", req.Theme, &meta.Theme}} {
		t := bytes.TrimSpace(f.raw)
		if len(t) == 0 || bytes.Equal(t, []byte("null")) {
			continue
		}
		if t[0] != '{' {
			errs = append(errs, FieldError{f.name, "must be a JSON object"})
			continue
		}
		*f.dst = t
	}
	if req.RedirectURI != nil && *req.RedirectURI != "" {
		u, err := url.Parse(*req.RedirectURI)
		switch {
		case len(*req.RedirectURI) > maxRedirectURI:
			errs = append(errs, FieldError{"redirect_uri", fmt.Sprintf("must be at most %d characters, got %d", maxRedirectURI, len(*req.RedirectURI))})
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
			errs = append(errs, FieldError{"redirect_uri", fmt.Sprintf("must be an absolute http(s) URL, got %q", *req.RedirectURI)})
		default:
			meta.RedirectURI = *req.RedirectURI
		}
	}
	scopes := req.Scopes
	if scopes == nil {
		scopes = DefaultSessionScopes
	}
	if len(scopes) == 0 {
		errs = append(errs, FieldError{"scopes", "must list at least one scope, or be left out for " + fmt.Sprint(DefaultSessionScopes)})
	}
	for i, sc := range scopes {
		field := fmt.Sprintf("scopes[%d]", i)
		switch {
		case !apikey.ValidScope(sc):
			errs = append(errs, FieldError{field, fmt.Sprintf("must be one of %s, got %q", DefaultSessionScopes, sc)})
		case slices.Contains(sessionScopeForbidden, sc):
			errs = append(errs, FieldError{field, fmt.Sprintf("%s is never granted to a session", sc)})
		case !p.Allows(sc):
			errs = append(errs, FieldError{field, fmt.Sprintf("%s is not held by the key creating the session (a session's scopes are a subset of its key's)", sc)})
		}
	}
	ttl := DefaultSessionTTL
	if req.TTLSeconds != nil {
		ttl = *req.TTLSeconds
		if ttl < 1 || ttl > MaxSessionTTL {
			errs = append(errs, FieldError{"ttl_seconds", fmt.Sprintf("must be between 1 and %d seconds, got %d", MaxSessionTTL, ttl)})
		}
	}
	if len(errs) > 0 {
		WriteError(c, Invalid(errs...))
		return
	}
	parent, err := s.parentKey(c, p.KeyID)
	if err != nil {
		WriteError(c, err)
		return
	}
	metadata, err := json.Marshal(meta)
	if err != nil {
		WriteError(c, fmt.Errorf("encoding session metadata: %w", err))
		return
	}
	id, token, err := apikey.NewSessionToken()
	if err != nil {
		WriteError(c, err)
		return
	}
	sorted, err := apikey.CheckScopes(scopes, true)
	if err != nil {
		WriteError(c, err)
		return
	}
	now := s.now().UTC()
	ss := &store.Session{
		ID:          id,
		Hash:        apikey.Hash(token),
		ConsumerID:  consumer,
		Scopes:      sorted,
		ParentKeyID: parent.ID,
		ParentHash:  s.authn.parentHash(parent),
		Metadata:    metadata,
		CreatedAt:   now,
		ExpiresAt:   now.Add(time.Duration(ttl) * time.Second),
	}
	if err := s.store.CreateSession(c.Request.Context(), ScopeOf(c), ss); err != nil {
		WriteError(c, fmt.Errorf("storing session: %w", err))
		return
	}
	Respond(c, http.StatusCreated, createdSessionView{
		// The token travels in the fragment, which browsers never send to
		// a server, so it stays out of access logs and Referer headers.
		SessionURI:   baseURL(c, s.publicURL) + "/console/#session=" + token,
		SessionToken: token,
		ExpiresAt:    formatTime(ss.ExpiresAt),
		ID:           ss.ID,
		ConsumerID:   ss.ConsumerID,
		Scopes:       ss.Scopes,
	})
}

// parentKey is the key a new session hangs off.
func (s *server) parentKey(c *gin.Context, id string) (*store.APIKey, error) {
	if id == apikey.BootstrapID && s.bootstrap != nil {
		return s.bootstrap, nil
	}
	k, err := s.store.GetAPIKey(c.Request.Context(), id)
	if err != nil {
		return nil, fmt.Errorf("loading API key %s: %w", id, err)
	}
	return k, nil
}

func (s *server) listSessions(c *gin.Context) {
	_, sc, err := VaultConsumer(c)
	if err != nil {
		WriteError(c, err)
		return
	}
	ctx := c.Request.Context()
	now := s.now()
	RespondPage(c, s.publicURL, "sessions", func(p store.Page) ([]sessionView, error) {
		list, err := s.store.ListSessions(ctx, sc, now, p)
		if err != nil {
			return nil, fmt.Errorf("listing sessions: %w", err)
		}
		views := make([]sessionView, len(list))
		for i, ss := range list {
			views[i] = newSessionView(ss)
		}
		return views, nil
	}, func(v sessionView) string { return v.ID })
}

// revokeSession ends a session of the consumer.
func (s *server) revokeSession(c *gin.Context) {
	_, sc, err := VaultConsumer(c)
	if err != nil {
		WriteError(c, err)
		return
	}
	id := c.Param("id")
	err = s.store.RevokeSession(c.Request.Context(), sc, id, s.now())
	if errors.Is(err, store.ErrNotFound) {
		err = NotFound("active session", id)
	}
	if err != nil {
		WriteError(c, err)
		return
	}
	Respond(c, http.StatusOK, map[string]string{"id": id, "status": "revoked"})
}
