package delivery_test

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/delivery"
	"github.com/switchboardhq/switchboard/hub/signature"
	"github.com/switchboardhq/switchboard/hub/store"
)

// An apideck-format subscription gets Apideck's body and headers, signed
// with its signing key; a standard one in the same fan-out is unchanged.
func TestDeliverApideckFormat(t *testing.T) {
	t.Parallel()
	rc := &recorder{}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	svc := delivery.New(delivery.Config{AllowPrivate: true}, nil)
	ev := newEvent(t)
	ev.Entity = json.RawMessage(`{"status":"paid","id":"inv_abc123","total":1190.00,"note":"<b>&</b>"}`)

	target := newTarget(t, ev, srv.URL+"/apideck")
	target.Subscription.DeliveryFormat = store.FormatApideck
	target.Subscription.SigningKey = "sk_test_key"
	for attempt := 1; attempt <= 2; attempt++ {
		target.Delivery.Attempts = attempt - 1
		o, err := svc.Deliver(t.Context(), ev, target)
		require.NoError(t, err)
		require.Equal(t, store.DeliveryDelivered, o.Status)
	}
	reqs := rc.requests()
	require.Len(t, reqs, 2)
	for i, got := range reqs {
		assert.Equal(t, ev.EventType, got.Header.Get("x-apideck-event-type"))
		assert.Equal(t, ev.ID, got.Header.Get("x-apideck-idempotency-key"), "the same on every try")
		assert.Empty(t, got.Header.Get("webhook-signature"), "no Standard Webhooks headers")
		assert.Empty(t, got.Header.Get("webhook-id"))
		require.NoError(t, signature.ApideckVerify("sk_test_key", got.Header, got.Body))
		require.ErrorIs(t, signature.ApideckVerify("another", got.Header, got.Body), signature.ErrApideckMismatch)
		canon, err := signature.ApideckCanonical(got.Body)
		require.NoError(t, err)
		assert.Equal(t, string(canon), string(got.Body), "the body is sent in the form its signature covers")

		var body struct {
			Payload map[string]any `json:"payload"`
		}
		require.NoError(t, json.Unmarshal(got.Body, &body))
		p := body.Payload
		assert.Equal(t, map[string]any{
			"event_type": ev.EventType, "unified_api": "accounting", "service_id": "dversum", "consumer_id": "acme",
			"event_id": ev.ID, "entity_id": "inv_abc123", "entity_url": ev.EntityURL, "entity_type": "invoice",
			"occurred_at": "2024-01-15T10:30:00.000Z", "execution_attempt": float64(i + 1),
			"entity": map[string]any{"id": "inv_abc123", "note": "<b>&</b>", "status": "paid", "total": float64(1190)},
		}, p, "Apideck's WebhookEvent fields, without ours")
	}
	assert.Contains(t, string(reqs[0].Body), `"note":"<b>&</b>"`, "written as JSON.stringify writes it")

	std := newTarget(t, ev, srv.URL+"/standard")
	_, err := svc.Deliver(t.Context(), ev, std)
	require.NoError(t, err)
	last := rc.requests()[2]
	assert.Empty(t, last.Header.Get("x-apideck-signature"))
	assert.Equal(t, 1, verifyIndependently(t, std.Subscription.Secret, last.Header, last.Body))
}
