package event

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWildcardSkipsHubEvents: "*" never matches vault.* or webhook.*, the
// hub's own events, whatever the subscription's unified API; a
// subscription receives them only by name, within its consumer.
func TestWildcardSkipsHubEvents(t *testing.T) {
	t.Parallel()
	conn := &Event{EventType: "vault.connection.created", UnifiedAPI: "vault", ServiceID: "dversum", ConsumerID: "acme"}
	failing := &Event{EventType: "webhook.subscription.failing", UnifiedAPI: "webhook", ServiceID: "webhook", ConsumerID: "acme"}
	for _, tc := range []struct {
		name string
		sub  Subscriber
		ev   *Event
		want bool
	}{
		{"wildcard any api skips vault", Subscriber{UnifiedAPI: "*", Events: []string{"*"}}, conn, false},
		{"wildcard of vault skips vault", Subscriber{UnifiedAPI: "vault", Events: []string{"*"}}, conn, false},
		{"wildcard of the service skips vault", Subscriber{UnifiedAPI: "dversum", Events: []string{"*"}}, conn, false},
		{"wildcard any api skips webhook", Subscriber{UnifiedAPI: "*", Events: []string{"*"}}, failing, false},
		{"wildcard of webhook skips webhook", Subscriber{UnifiedAPI: "webhook", Events: []string{"*"}}, failing, false},
		{"vault event by name", Subscriber{UnifiedAPI: "*", Events: []string{"*", "vault.connection.created"}}, conn, true},
		{"vault event by name, bound to same consumer", Subscriber{UnifiedAPI: "vault", Events: []string{"vault.connection.created"}, ConsumerID: "acme"}, conn, true},
		{"vault event by name, bound to other consumer", Subscriber{UnifiedAPI: "vault", Events: []string{"vault.connection.created"}, ConsumerID: "globex"}, conn, false},
		{"webhook event by name", Subscriber{UnifiedAPI: "*", Events: []string{"webhook.subscription.failing"}}, failing, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, tc.sub.Matches(tc.ev))
		})
	}
	require.True(t, IsHubAPI("vault"))
	require.True(t, IsHubAPI("webhook"))
	require.False(t, IsHubAPI("accounting"))
}
