package auth_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/switchboardhq/switchboard/hub/auth"
	"github.com/switchboardhq/switchboard/hub/store"
)

func TestAllows(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		p     *auth.Principal
		scope string
		want  bool
	}{
		{"exact", &auth.Principal{Scopes: []string{"webhooks:read"}}, "webhooks:read", true},
		{"other scope", &auth.Principal{Scopes: []string{"webhooks:read"}}, "webhooks:write", false},
		{"read does not imply write", &auth.Principal{Scopes: []string{"webhooks:read", "events:write"}}, "webhooks:write", false},
		{"admin implies all", &auth.Principal{Scopes: []string{"admin"}}, "connections:write", true},
		{"no scopes", &auth.Principal{}, "webhooks:read", false},
		{"nil principal", nil, "webhooks:read", false},
		{"a bound principal never holds admin", &auth.Principal{Scopes: []string{"admin"}, ConsumerID: "acme"}, "admin", false},
		{"nor what admin implies", &auth.Principal{Scopes: []string{"admin"}, ConsumerID: "acme"}, "webhooks:read", false},
		{"a bound principal's own scopes", &auth.Principal{Scopes: []string{"webhooks:read"}, ConsumerID: "acme"}, "webhooks:read", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, tt.p.Allows(tt.scope))
		})
	}
}

func TestScope(t *testing.T) {
	t.Parallel()
	var none *auth.Principal
	assert.False(t, none.Scope().Valid(), "no principal: the zero scope")
	assert.True(t, (&auth.Principal{}).Scope().All(), "an application key: every consumer")
	bound := (&auth.Principal{ConsumerID: "acme"}).Scope()
	assert.True(t, bound.Matches("acme"))
	assert.False(t, bound.Matches("globex"))
	assert.False(t, bound.Matches(""), "never application-wide rows")
	assert.Equal(t, store.Consumer("acme"), bound)
}
