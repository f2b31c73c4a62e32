package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/secret"
	"github.com/switchboardhq/switchboard/hub/store"
)

// Limits on subscription fields (the string lengths are in limits.go).
const (
	maxRetryTries       = 20
	maxRetryDelaySecond = 7 * 24 * 60 * 60 // one week between two tries
)

// subscriptionView is a subscription as the API shows it. Secret is set only
// in the answers to create and rotate-secret.
type subscriptionView struct {
	ID                  string   `json:"id"`
	Description         *string  `json:"description"`
	UnifiedAPI          string   `json:"unified_api"`
	Status              string   `json:"status"`
	DisabledReason      string   `json:"disabled_reason"`
	DeliveryURL         string   `json:"delivery_url"`
	Events              []string `json:"events"`
	ConsumerID          *string  `json:"consumer_id"`
	RetrySchedule       []int    `json:"retry_schedule"`
	DeliveryFormat      string   `json:"delivery_format"`
	Secret              string   `json:"secret,omitempty"`
	FailStreak          int      `json:"fail_streak"`
	FailStreakStartedAt *string  `json:"fail_streak_started_at"`
	LastFailedAt        *string  `json:"last_failed_at"`
	CreatedAt           string   `json:"created_at"`
	UpdatedAt           string   `json:"updated_at"`
	// UnknownEvents flags names stored before the catalogue checked them
	// (or of a mapping since removed): they keep matching, but nothing
	// known publishes them.
	UnknownEvents []string `json:"unknown_events,omitempty"`
}

func (s *server) subscriptionView(sub *store.Subscription, withSecret bool) subscriptionView {
	v := subscriptionView{
		ID:                  sub.ID,
		Description:         nullable(sub.Description),
		UnifiedAPI:          sub.UnifiedAPI,
		Status:              sub.Status,
		DisabledReason:      sub.DisabledReason,
		DeliveryURL:         sub.DeliveryURL,
		Events:              sub.Events,
		ConsumerID:          nullable(sub.ConsumerID),
		RetrySchedule:       sub.RetrySchedule,
		DeliveryFormat:      sub.Format(),
		FailStreak:          sub.FailStreak,
		FailStreakStartedAt: timePtr(sub.FailStreakStartedAt),
		LastFailedAt:        timePtr(sub.LastFailedAt),
		CreatedAt:           formatTime(sub.CreatedAt),
		UpdatedAt:           formatTime(sub.UpdatedAt),
	}
	if v.DisabledReason == "" {
		v.DisabledReason = store.DisabledNone
	}
	if v.RetrySchedule == nil {
		v.RetrySchedule = s.retry
	}
	if v.Events == nil {
		v.Events = []string{}
	}
	if withSecret {
		v.Secret = sub.Secret
	}
	if vocab, ok := s.viewVocabulary(); ok {
		v.UnknownEvents = unknownEvents(vocab, sub.Events)
	}
	return v
}

// subscriptionRequest is the body of create and update. Pointers tell a
// missing field from an empty one.
type subscriptionRequest struct {
	Description   *string  `json:"description"`
	UnifiedAPI    *string  `json:"unified_api"`
	Status        *string  `json:"status"`
	DeliveryURL   *string  `json:"delivery_url"`
	Events        []string `json:"events"`
	ConsumerID    *string  `json:"consumer_id"`
	RetrySchedule []int    `json:"retry_schedule"`
	// DeliveryFormat and the write-only SigningKey: see checkFormat.
	DeliveryFormat *string `json:"delivery_format"`
	SigningKey     *string `json:"signing_key"`
}

// subscriptionPatch is the body of PATCH: unified_api is fixed at creation
// (matching and the events list depend on it), so it is an unknown field here.
type subscriptionPatch struct {
	Description    *string  `json:"description"`
	Status         *string  `json:"status"`
	DeliveryURL    *string  `json:"delivery_url"`
	Events         []string `json:"events"`
	ConsumerID     *string  `json:"consumer_id"`
	RetrySchedule  []int    `json:"retry_schedule"`
	DeliveryFormat *string  `json:"delivery_format"`
	SigningKey     *string  `json:"signing_key"`
}

func (s *server) createSubscription(c *gin.Context) {
	var req subscriptionRequest
	fields, err := DecodeJSON(c, &req)
	if err != nil {
		WriteError(c, err)
		return
	}
	var errs []FieldError
	sub := &store.Subscription{DisabledReason: store.DisabledNone}
	if req.Description != nil {
		sub.Description = *req.Description
		errs = append(errs, checkDescription(sub.Description)...)
	}
	switch {
	case req.UnifiedAPI == nil || *req.UnifiedAPI == "":
		errs = append(errs, FieldError{"unified_api", "is required"})
	case *req.UnifiedAPI != event.Wildcard && !event.ValidUnifiedAPI(*req.UnifiedAPI):
		errs = append(errs, FieldError{"unified_api", fmt.Sprintf(`must be a unified API id such as accounting, or "*", got %q`, *req.UnifiedAPI)})
	default:
		sub.UnifiedAPI = *req.UnifiedAPI
	}
	vocab, err := s.vocabulary(c.Request.Context())
	if err != nil {
		WriteError(c, err)
		return
	}
	if sub.UnifiedAPI != "" {
		if err := vocab.CheckUnifiedAPI(sub.UnifiedAPI); err != nil {
			errs = append(errs, nameError("unified_api", err))
		}
	}
	if req.Status == nil {
		errs = append(errs, FieldError{"status", "is required (enabled or disabled)"})
	} else {
		errs = append(errs, checkStatus(*req.Status)...)
		sub.Status = *req.Status
		if sub.Status == store.StatusDisabled {
			sub.DisabledReason = store.DisabledManual
		}
	}
	if req.DeliveryURL == nil {
		errs = append(errs, FieldError{"delivery_url", "is required"})
	} else {
		errs = append(errs, s.checkURL(*req.DeliveryURL)...)
		sub.DeliveryURL = *req.DeliveryURL
	}
	errs = append(errs, s.checkEvents(req.Events)...)
	errs = append(errs, checkEventNames(vocab, req.Events)...)
	sub.Events = event.SortedUnique(req.Events)
	if req.ConsumerID != nil {
		errs = append(errs, checkID("consumer_id", *req.ConsumerID, false)...)
		sub.ConsumerID = *req.ConsumerID
	}
	if err := CheckConsumer(c, "consumer_id", sub.ConsumerID); err != nil {
		WriteError(c, err)
		return
	}
	if p := Principal(c); p.Bound() {
		// A consumer's subscription is its own; it cannot make an
		// application-wide one.
		sub.ConsumerID = p.ConsumerID
	}
	if req.RetrySchedule != nil {
		errs = append(errs, s.checkRetrySchedule(req.RetrySchedule)...)
		sub.RetrySchedule = req.RetrySchedule
	}
	_, setFormat := fields["delivery_format"]
	_, setKey := fields["signing_key"]
	errs = append(errs, applyFormat(sub, setFormat, req.DeliveryFormat, setKey, req.SigningKey)...)
	if len(errs) > 0 {
		WriteError(c, Invalid(errs...))
		return
	}
	if err := s.checkSubscriptionCaps(c, sub.ConsumerID); err != nil {
		WriteError(c, err)
		return
	}
	sec, err := secret.NewWebhookSecret()
	if err != nil {
		WriteError(c, err)
		return
	}
	sub.Secret = sec
	now := s.now().UTC()
	sub.CreatedAt, sub.UpdatedAt = now, now
	if err := s.store.CreateSubscription(c.Request.Context(), ScopeOf(c), sub); err != nil {
		WriteError(c, fmt.Errorf("creating subscription: %w", err))
		return
	}
	Respond(c, http.StatusCreated, s.subscriptionView(sub, true))
}

func (s *server) listSubscriptions(c *gin.Context) {
	if _, err := parseFilters(c); err != nil {
		WriteError(c, err)
		return
	}
	q, err := parsePage(c, "webhooks")
	if err != nil {
		WriteError(c, err)
		return
	}
	ctx := c.Request.Context()
	pg, err := fetchPage(q, func(p store.Page) ([]*store.Subscription, error) {
		return s.store.ListSubscriptions(ctx, ScopeOf(c), p)
	}, func(sub *store.Subscription) string { return sub.ID })
	if err != nil {
		WriteError(c, fmt.Errorf("listing subscriptions: %w", err))
		return
	}
	views := mapPage(pg, func(sub *store.Subscription) subscriptionView { return s.subscriptionView(sub, false) })
	respondList(c, s.publicURL, q, views, func(v subscriptionView) string { return v.ID })
}

// loadSubscription turns the store's not-found into a 404 naming the id.
func (s *server) loadSubscription(c *gin.Context, id string) (*store.Subscription, error) {
	sub, err := s.store.GetSubscription(c.Request.Context(), ScopeOf(c), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, NotFound("subscription", id)
	}
	if err != nil {
		return nil, fmt.Errorf("loading subscription %s: %w", id, err)
	}
	return sub, nil
}

func (s *server) getSubscription(c *gin.Context) {
	sub, err := s.loadSubscription(c, c.Param("id"))
	if err != nil {
		WriteError(c, err)
		return
	}
	Respond(c, http.StatusOK, s.subscriptionView(sub, false))
}

func (s *server) updateSubscription(c *gin.Context) {
	var req subscriptionPatch
	fields, err := DecodeJSON(c, &req)
	if err != nil {
		WriteError(c, err)
		return
	}
	sub, err := s.loadSubscription(c, c.Param("id"))
	if err != nil {
		WriteError(c, err)
		return
	}
	var errs []FieldError
	if _, ok := fields["description"]; ok {
		sub.Description = ""
		if req.Description != nil {
			errs = append(errs, checkDescription(*req.Description)...)
			sub.Description = *req.Description
		}
	}
	if _, ok := fields["status"]; ok {
		if req.Status == nil {
			errs = append(errs, FieldError{"status", "must be enabled or disabled, got null"})
		} else if fe := checkStatus(*req.Status); fe != nil {
			errs = append(errs, fe...)
		} else {
			switch {
			case *req.Status == store.StatusEnabled && sub.Status != store.StatusEnabled:
				// Re-enabling is an operator saying the endpoint is fixed:
				// start the failure window afresh.
				sub.DisabledReason = store.DisabledNone
				sub.FailStreak = 0
				sub.FailStreakStartedAt = nil
			case *req.Status == store.StatusDisabled && sub.Status != store.StatusDisabled:
				sub.DisabledReason = store.DisabledManual
			}
			sub.Status = *req.Status
		}
	}
	if _, ok := fields["delivery_url"]; ok {
		if req.DeliveryURL == nil {
			errs = append(errs, FieldError{"delivery_url", "must be an absolute http(s) URL, got null"})
		} else {
			errs = append(errs, s.checkURL(*req.DeliveryURL)...)
			sub.DeliveryURL = *req.DeliveryURL
		}
	}
	if _, ok := fields["events"]; ok {
		errs = append(errs, s.checkEvents(req.Events)...)
		vocab, err := s.vocabulary(c.Request.Context())
		if err != nil {
			WriteError(c, err)
			return
		}
		errs = append(errs, checkEventNames(vocab, req.Events)...)
		sub.Events = event.SortedUnique(req.Events)
	}
	consumerBefore := sub.ConsumerID
	if _, ok := fields["consumer_id"]; ok {
		sub.ConsumerID = ""
		if req.ConsumerID != nil {
			errs = append(errs, checkID("consumer_id", *req.ConsumerID, false)...)
			sub.ConsumerID = *req.ConsumerID
		}
		// A bound caller may neither hand its subscription to another
		// consumer nor make it application-wide (null).
		if p := Principal(c); p.Bound() && sub.ConsumerID != p.ConsumerID {
			WriteError(c, ForeignConsumer("consumer_id", sub.ConsumerID, p.ConsumerID))
			return
		}
	}
	if _, ok := fields["retry_schedule"]; ok {
		sub.RetrySchedule = nil
		if req.RetrySchedule != nil {
			errs = append(errs, s.checkRetrySchedule(req.RetrySchedule)...)
			sub.RetrySchedule = req.RetrySchedule
		}
	}
	_, setFormat := fields["delivery_format"]
	_, setKey := fields["signing_key"]
	errs = append(errs, applyFormat(sub, setFormat, req.DeliveryFormat, setKey, req.SigningKey)...)
	if len(errs) > 0 {
		WriteError(c, Invalid(errs...))
		return
	}
	if sub.ConsumerID != consumerBefore {
		// Moving a subscription to another consumer adds one to its count.
		if err := s.checkConsumerCap(c, sub.ConsumerID); err != nil {
			WriteError(c, err)
			return
		}
	}
	sub.UpdatedAt = s.now().UTC()
	if err := s.updateSub(c, sub); err != nil {
		WriteError(c, err)
		return
	}
	Respond(c, http.StatusOK, s.subscriptionView(sub, false))
}

func (s *server) updateSub(c *gin.Context, sub *store.Subscription) error {
	err := s.store.UpdateSubscription(c.Request.Context(), ScopeOf(c), sub)
	if errors.Is(err, store.ErrNotFound) {
		return NotFound("subscription", sub.ID)
	}
	if err != nil {
		return fmt.Errorf("updating subscription %s: %w", sub.ID, err)
	}
	return nil
}

func (s *server) deleteSubscription(c *gin.Context) {
	id := c.Param("id")
	sub, err := s.loadSubscription(c, id)
	if err != nil {
		WriteError(c, err)
		return
	}
	err = s.store.DeleteSubscription(c.Request.Context(), ScopeOf(c), id)
	if errors.Is(err, store.ErrNotFound) {
		err = NotFound("subscription", id)
	}
	if err != nil {
		WriteError(c, fmt.Errorf("deleting subscription %s: %w", id, err))
		return
	}
	Respond(c, http.StatusOK, s.subscriptionView(sub, false))
}

// rotateSecret makes a new signing secret. The old one keeps signing (a
// second signature in webhook-signature) for the grace period, so receivers
// can switch without rejecting a delivery.
func (s *server) rotateSecret(c *gin.Context) {
	sub, err := s.loadSubscription(c, c.Param("id"))
	if err != nil {
		WriteError(c, err)
		return
	}
	sec, err := secret.NewWebhookSecret()
	if err != nil {
		WriteError(c, err)
		return
	}
	now := s.now().UTC()
	expires := now.Add(s.grace)
	sub.PreviousSecret = sub.Secret
	sub.PreviousSecretExpiresAt = &expires
	sub.Secret = sec
	sub.UpdatedAt = now
	if err := s.updateSub(c, sub); err != nil {
		WriteError(c, err)
		return
	}
	Respond(c, http.StatusOK, s.subscriptionView(sub, true))
}

// applyFormat sets a subscription's delivery_format and write-only
// signing_key from a create or update request (set: the field was sent).
// "standard" (Standard Webhooks) is the default; "apideck" needs a signing
// key, the one the receiver verifies x-apideck-signature with (on Apideck,
// its API key). A key is refused with the standard format, where nothing
// would use it; null removes it.
func applyFormat(sub *store.Subscription, setFormat bool, format *string, setKey bool, key *string) []FieldError {
	var errs []FieldError
	if setFormat {
		switch {
		case format == nil:
			errs = append(errs, FieldError{"delivery_format", fmt.Sprintf("must be %s or %s, got null", store.FormatStandard, store.FormatApideck)})
		case *format != store.FormatStandard && *format != store.FormatApideck:
			errs = append(errs, FieldError{"delivery_format", fmt.Sprintf("must be %s or %s, got %q", store.FormatStandard, store.FormatApideck, *format)})
		default:
			sub.DeliveryFormat = *format
		}
	}
	if setKey {
		switch {
		case key == nil:
			sub.SigningKey = ""
		case *key == "":
			errs = append(errs, FieldError{"signing_key", "must not be empty; send null to remove it"})
		case len(*key) > MaxSigningKeyLength:
			errs = append(errs, FieldError{"signing_key", fmt.Sprintf("must be at most %d characters, got %d", MaxSigningKeyLength, len(*key))})
		default:
			sub.SigningKey = *key
		}
	}
	if len(errs) > 0 {
		return errs
	}
	switch {
	case sub.Format() == store.FormatApideck && sub.SigningKey == "" && !sub.KeepsSealedSecrets():
		return []FieldError{{"signing_key", "is required with delivery_format apideck: the key the receiver verifies x-apideck-signature with (on Apideck, your API key)"}}
	case sub.Format() == store.FormatStandard && setKey && key != nil:
		return []FieldError{{"signing_key", "is only used with delivery_format apideck; Standard Webhooks deliveries are signed with the subscription's secret"}}
	}
	return nil
}

func (s *server) checkURL(raw string) []FieldError {
	if raw == "" {
		return []FieldError{{"delivery_url", "is required"}}
	}
	if errs := checkLength("delivery_url", raw, MaxDeliveryURLLength); errs != nil {
		return errs
	}
	if err := s.validateURL(raw); err != nil {
		return []FieldError{{"delivery_url", urlReason(err)}}
	}
	return nil
}

func checkDescription(d string) []FieldError {
	return checkLength("description", d, MaxDescriptionLength)
}

func checkStatus(st string) []FieldError {
	if st != store.StatusEnabled && st != store.StatusDisabled {
		return []FieldError{{"status", fmt.Sprintf("must be enabled or disabled, got %q", st)}}
	}
	return nil
}

func (s *server) checkEvents(events []string) []FieldError {
	if len(events) == 0 {
		return []FieldError{{"events", `must list at least one event type, or "*" for all`}}
	}
	if len(events) > s.maxEvents {
		return []FieldError{{"events", fmt.Sprintf("must list at most %d event types, got %d", s.maxEvents, len(events))}}
	}
	var errs []FieldError
	for i, name := range events {
		field := fmt.Sprintf("events[%d]", i)
		if fe := checkLength(field, name, MaxEventTypeLength); fe != nil {
			errs = append(errs, fe...)
			continue
		}
		if name != event.Wildcard && !event.ValidType(name) {
			errs = append(errs, FieldError{field,
				fmt.Sprintf(`must be "*" or an event type such as accounting.invoice.created, got %q`, name)})
		}
	}
	return errs
}

// checkRetrySchedule bounds a subscription's waits between tries. The floor
// (--min-retry-delay) keeps one event from becoming a burst of tries: twenty
// zeros used to mean 21 requests to the endpoint within a second.
func (s *server) checkRetrySchedule(sched []int) []FieldError {
	if len(sched) == 0 || len(sched) > maxRetryTries {
		return []FieldError{{"retry_schedule", fmt.Sprintf("must list 1 to %d delays in seconds, got %d", maxRetryTries, len(sched))}}
	}
	var errs []FieldError
	for i, d := range sched {
		field := fmt.Sprintf("retry_schedule[%d]", i)
		switch {
		case d < 0 || time.Duration(d)*time.Second < s.minRetryDelay:
			errs = append(errs, FieldError{field, fmt.Sprintf("must be at least %d seconds (the hub's minimum retry delay, --min-retry-delay %s), got %d",
				s.minRetrySeconds(), s.minRetryDelay, d)})
		case d > maxRetryDelaySecond:
			errs = append(errs, FieldError{field, fmt.Sprintf("must be at most %d seconds (one week), got %d", maxRetryDelaySecond, d)})
		}
	}
	return errs
}

// minRetrySeconds is the floor in the whole seconds a schedule is written in.
func (s *server) minRetrySeconds() int {
	return int((s.minRetryDelay + time.Second - 1) / time.Second)
}

// checkSubscriptionCaps refuses a new subscription when its consumer (or,
// without one, the application) or the hub already has as many as allowed:
// every subscription multiplies each matching event into one more delivery.
// The count is read before the insert, so concurrent creates may pass the
// cap by the few that race; the cap bounds growth, not an exact number.
func (s *server) checkSubscriptionCaps(c *gin.Context, consumerID string) error {
	counts, err := s.store.CountSubscriptions(c.Request.Context(), consumerID)
	if err != nil {
		return fmt.Errorf("counting subscriptions: %w", err)
	}
	if counts.Total >= s.maxSubs {
		return Invalid(FieldError{"", fmt.Sprintf(
			"the hub already has %d subscriptions, the most it allows (--max-subscriptions %d); delete unused ones first",
			counts.Total, s.maxSubs)})
	}
	return s.consumerCapError(consumerID, counts.Consumer)
}

// checkConsumerCap is the per-consumer half of checkSubscriptionCaps, for a
// subscription moved to another consumer.
func (s *server) checkConsumerCap(c *gin.Context, consumerID string) error {
	counts, err := s.store.CountSubscriptions(c.Request.Context(), consumerID)
	if err != nil {
		return fmt.Errorf("counting subscriptions: %w", err)
	}
	return s.consumerCapError(consumerID, counts.Consumer)
}

func (s *server) consumerCapError(consumerID string, n int) error {
	if n < s.maxSubsPerConsumer {
		return nil
	}
	who := fmt.Sprintf("consumer %q", consumerID)
	if consumerID == "" {
		who = "the application (subscriptions without consumer_id)"
	}
	return Invalid(FieldError{"consumer_id", fmt.Sprintf(
		"%s already has %d subscriptions, the most one consumer may have (--max-subscriptions-per-consumer %d); delete one first",
		who, n, s.maxSubsPerConsumer)})
}

// checkID checks a free-form identifier (consumer id, idempotency key). An
// empty optional one means "not given".
func checkID(field, v string, required bool) []FieldError {
	if v == "" && required {
		return []FieldError{{field, "is required"}}
	}
	return checkLength(field, v, MaxIDLength)
}

// urlReason phrases a URL validator's error as the reason part of
// "delivery_url <reason>".
func urlReason(err error) string {
	msg := strings.TrimPrefix(err.Error(), "delivery_url ")
	if strings.HasPrefix(msg, "must ") || strings.HasPrefix(msg, "is ") {
		return msg
	}
	return "must be an absolute http(s) URL: " + msg
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// formatTime renders times in UTC RFC 3339 with nanoseconds, as in delivered
// payloads.
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func timePtr(t *time.Time) *string {
	if t == nil || t.IsZero() {
		return nil
	}
	s := formatTime(*t)
	return &s
}
