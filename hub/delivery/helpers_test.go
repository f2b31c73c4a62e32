package delivery_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/secret"
	"github.com/switchboardhq/switchboard/hub/store"
)

func newID(t *testing.T) string {
	t.Helper()
	id, err := uuid.NewV7()
	require.NoError(t, err)
	return id.String()
}

func newSecret(t *testing.T) string {
	t.Helper()
	s, err := secret.NewWebhookSecret()
	require.NoError(t, err)
	return s
}

func newEvent(t *testing.T) *event.Event {
	t.Helper()
	return &event.Event{
		ID:                  newID(t),
		EventType:           "accounting.invoice.paid",
		BaseEventType:       "accounting.invoice.updated",
		UnifiedAPI:          "accounting",
		ServiceID:           "dversum",
		ConsumerID:          "acme",
		ConnectionID:        newID(t),
		EntityID:            "inv_abc123",
		EntityType:          "invoice",
		EntityURL:           "http://hub.example/accounting/invoices/inv_abc123",
		DownstreamEventType: "invoice.paid",
		EventSource:         event.SourceNative,
		OccurredAt:          time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC),
		CreatedAt:           time.Now(),
		Entity:              json.RawMessage(`{"id":"inv_abc123","total":1190.00,"currency":"EUR","status":"paid"}`),
	}
}

// newTarget is a pending, untried delivery of ev to url.
func newTarget(t *testing.T, ev *event.Event, url string) *store.Target {
	t.Helper()
	return &store.Target{
		Delivery: store.Delivery{
			ID:             newID(t),
			EventID:        ev.ID,
			SubscriptionID: "sub",
			Status:         store.DeliveryPending,
		},
		Subscription: store.Subscription{
			ID:          newID(t),
			UnifiedAPI:  "accounting",
			Status:      store.StatusEnabled,
			DeliveryURL: url,
			Events:      []string{"*"},
			Secret:      newSecret(t),
		},
	}
}

// received is one request a test receiver got.
type received struct {
	Header http.Header
	Body   []byte
	At     time.Time
}

// recorder is an HTTP receiver that records every request and answers
// with the next of its handlers (the last one repeats).
type recorder struct {
	mu       sync.Mutex
	reqs     []received
	handlers []http.HandlerFunc
}

func answer(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	n := len(rc.reqs)
	rc.reqs = append(rc.reqs, received{Header: r.Header.Clone(), Body: body, At: time.Now()})
	h := answer(http.StatusNoContent)
	if len(rc.handlers) > 0 {
		h = rc.handlers[min(n, len(rc.handlers)-1)]
	}
	rc.mu.Unlock()
	h(w, r)
}

func (rc *recorder) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.reqs...)
}

// verifyIndependently checks a delivery's signature header the way the
// Standard Webhooks spec describes it, without the signature package:
// it returns how many of the header's v1 signatures secret matches.
func verifyIndependently(t *testing.T, secret string, h http.Header, body []byte) int {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	require.NoError(t, err)
	ts, err := strconv.ParseInt(h.Get("webhook-timestamp"), 10, 64)
	require.NoError(t, err, "webhook-timestamp must be unix seconds")
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s.%d.%s", h.Get("webhook-id"), ts, body)
	want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	matches := 0
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			matches++
		}
	}
	return matches
}
