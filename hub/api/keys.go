package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/switchboardhq/switchboard/hub/apikey"
	"github.com/switchboardhq/switchboard/hub/store"
)

// maxKeyName bounds an API key's name, in characters.
const maxKeyName = 200

// keyView is an API key as /admin/api-keys shows it. Key (the plaintext) is
// set only in the answer that created it.
type keyView struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Scopes     []string `json:"scopes"`
	ConsumerID *string  `json:"consumer_id"`
	Key        string   `json:"key,omitempty"`
	Status     string   `json:"status"`
	CreatedAt  string   `json:"created_at"`
	RevokedAt  *string  `json:"revoked_at"`
}

func newKeyView(k *store.APIKey) keyView {
	v := keyView{
		ID:         k.ID,
		Name:       k.Name,
		Scopes:     k.Scopes,
		ConsumerID: nullable(k.ConsumerID),
		Status:     "active",
		CreatedAt:  formatTime(k.CreatedAt),
		RevokedAt:  timePtr(k.RevokedAt),
	}
	if k.RevokedAt != nil {
		v.Status = "revoked"
	}
	if v.Scopes == nil {
		v.Scopes = []string{}
	}
	return v
}

type keyRequest struct {
	Name       *string  `json:"name"`
	Scopes     []string `json:"scopes"`
	ConsumerID *string  `json:"consumer_id"`
}

// createKey makes an API key, application-wide or bound to one consumer,
// and shows it once.
func (s *server) createKey(c *gin.Context) {
	var req keyRequest
	if _, err := DecodeJSON(c, &req); err != nil {
		WriteError(c, err)
		return
	}
	var errs []FieldError
	name := ""
	if req.Name != nil {
		name = strings.TrimSpace(*req.Name)
	}
	switch {
	case name == "":
		errs = append(errs, FieldError{"name", "is required: say what the key is for, e.g. billing-app"})
	case len([]rune(name)) > maxKeyName:
		errs = append(errs, FieldError{"name", fmt.Sprintf("must be at most %d characters, got %d", maxKeyName, len([]rune(name)))})
	}
	consumer := ""
	if req.ConsumerID != nil {
		consumer = *req.ConsumerID
		errs = append(errs, checkID("consumer_id", consumer, false)...)
	}
	if len(req.Scopes) == 0 {
		errs = append(errs, FieldError{"scopes", "must list at least one of " + strings.Join(apikey.AllScopes, ", ")})
	}
	for i, sc := range req.Scopes {
		switch {
		case !apikey.ValidScope(sc):
			errs = append(errs, FieldError{fmt.Sprintf("scopes[%d]", i), fmt.Sprintf("must be one of %s, got %q", strings.Join(apikey.AllScopes, ", "), sc)})
		case sc == apikey.ScopeAdmin && consumer != "":
			errs = append(errs, FieldError{fmt.Sprintf("scopes[%d]", i), "cannot be admin for a key bound to a consumer (consumer_id is set)"})
		}
	}
	if len(errs) > 0 {
		WriteError(c, Invalid(errs...))
		return
	}
	plain, k, err := apikey.Generate(name, req.Scopes, consumer)
	if err != nil {
		WriteError(c, err)
		return
	}
	if err := s.store.CreateAPIKey(c.Request.Context(), k); err != nil {
		WriteError(c, fmt.Errorf("storing API key: %w", err))
		return
	}
	v := newKeyView(k)
	v.Key = plain
	Respond(c, http.StatusCreated, v)
}

func (s *server) listKeys(c *gin.Context) {
	keys, err := s.store.ListAPIKeys(c.Request.Context())
	if err != nil {
		WriteError(c, fmt.Errorf("listing API keys: %w", err))
		return
	}
	views := make([]keyView, len(keys))
	for i, k := range keys {
		views[i] = newKeyView(k)
	}
	Respond(c, http.StatusOK, views)
}

// revokeKey revokes a key and every session it minted; an unknown or
// already revoked key is 404.
func (s *server) revokeKey(c *gin.Context) {
	id := c.Param("id")
	ctx := c.Request.Context()
	if err := s.store.RevokeAPIKey(ctx, id, s.now()); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = NotFound("active API key", id)
		}
		WriteError(c, err)
		return
	}
	k, err := s.store.GetAPIKey(ctx, id)
	if err != nil {
		WriteError(c, fmt.Errorf("loading revoked API key %s: %w", id, err))
		return
	}
	Respond(c, http.StatusOK, newKeyView(k))
}
