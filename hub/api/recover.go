package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/switchboardhq/switchboard/hub/store"
)

type recoverRequest struct {
	Since  string `json:"since"`
	Until  string `json:"until"`
	DryRun bool   `json:"dry_run"`
}

type recoveryView struct {
	ID             string `json:"id"`
	SubscriptionID string `json:"subscription_id"`
	Status         string `json:"status"`
	Since          string `json:"since"`
	Until          string `json:"until"`
	Total          int    `json:"total"`
	Done           int    `json:"done"`
	Error          string `json:"error,omitempty"`
	CreatedAt      string `json:"created_at"`
	UpdatedAt      string `json:"updated_at"`
}

func newRecoveryView(r *store.Recovery) recoveryView {
	return recoveryView{ID: r.ID, SubscriptionID: r.SubscriptionID, Status: r.Status,
		Since: formatTime(r.Since), Until: formatTime(r.Until), Total: r.Total, Done: r.Done, Error: r.Error,
		CreatedAt: formatTime(r.CreatedAt), UpdatedAt: formatTime(r.UpdatedAt)}
}

type recoverCountView struct {
	Count int `json:"count"`
}

// parseRange reads since (required) and until (default now) of a recovery.
func parseRange(req recoverRequest, now time.Time) (since, until time.Time, errs []FieldError) {
	parse := func(field, v string) time.Time {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			errs = append(errs, FieldError{field, fmt.Sprintf("must be an RFC 3339 time such as 2024-01-15T10:30:00Z, got %q", v)})
		}
		return t.UTC()
	}
	if req.Since == "" {
		errs = append(errs, FieldError{"since", "is required: the start of the range of events to deliver again"})
	} else {
		since = parse("since", req.Since)
	}
	until = now
	if req.Until != "" {
		until = parse("until", req.Until)
	}
	if len(errs) == 0 && !until.After(since) {
		errs = append(errs, FieldError{"until", fmt.Sprintf("must be after since (%s), got %s", formatTime(since), formatTime(until))})
	}
	return since, until, errs
}

// recoverSubscription delivers again, in the background, every event of a
// range that the subscription takes and has not received (POST
// /webhook/webhooks/{id}/recover); dry_run only counts them.
func (s *server) recoverSubscription(c *gin.Context) {
	ctx := c.Request.Context()
	sub, err := s.loadSubscription(c, c.Param("id"))
	if err != nil {
		WriteError(c, err)
		return
	}
	var req recoverRequest
	if _, err := DecodeJSON(c, &req); err != nil {
		WriteError(c, err)
		return
	}
	since, until, errs := parseRange(req, s.now().UTC())
	if len(errs) > 0 {
		WriteError(c, Invalid(errs...))
		return
	}
	if sub.Status != store.StatusEnabled {
		WriteError(c, disabledError(sub))
		return
	}
	n, err := s.store.CountRecoverable(ctx, ScopeOf(c), sub.ID, since, until, s.maxRecovery)
	switch {
	case errors.Is(err, store.ErrNotFound):
		WriteError(c, NotFound("subscription", sub.ID))
		return
	case err != nil:
		WriteError(c, fmt.Errorf("counting events to recover for subscription %s: %w", sub.ID, err))
		return
	case n > s.maxRecovery:
		WriteError(c, Invalid(FieldError{"since", fmt.Sprintf(
			"the range holds more than %d events to deliver again, the most one recovery takes; narrow since and until and recover the range in parts",
			s.maxRecovery)}))
		return
	}
	if req.DryRun {
		Respond(c, http.StatusOK, recoverCountView{Count: n})
		return
	}
	r := &store.Recovery{ID: store.NewID(), SubscriptionID: sub.ID, Since: since, Until: until, Total: n}
	err = s.store.StartRecovery(ctx, ScopeOf(c), r)
	switch {
	case errors.Is(err, store.ErrRecoveryRunning):
		WriteError(c, &Error{
			Status: http.StatusConflict, TypeName: TypeConflict,
			Message: fmt.Sprintf("a recovery of subscription %s is already running; wait for it to finish (GET /webhook/recoveries/{id})", sub.ID),
			Detail:  map[string]string{"subscription_id": sub.ID, "reason": "a recovery is running"},
		})
		return
	case errors.Is(err, store.ErrNotFound):
		WriteError(c, NotFound("subscription", sub.ID))
		return
	case err != nil:
		WriteError(c, fmt.Errorf("starting a recovery of subscription %s: %w", sub.ID, err))
		return
	}
	s.log.InfoContext(ctx, "recovery started", "recovery_id", r.ID, "subscription_id", sub.ID,
		"since", formatTime(r.Since), "until", formatTime(r.Until), "total", r.Total)
	Respond(c, http.StatusAccepted, newRecoveryView(r))
}

func (s *server) getRecovery(c *gin.Context) {
	id := c.Param("id")
	r, err := s.store.GetRecovery(c.Request.Context(), ScopeOf(c), id)
	if errors.Is(err, store.ErrNotFound) {
		WriteError(c, NotFound("recovery", id))
		return
	}
	if err != nil {
		WriteError(c, fmt.Errorf("loading recovery %s: %w", id, err))
		return
	}
	Respond(c, http.StatusOK, newRecoveryView(r))
}
