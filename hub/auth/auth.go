// Package auth is who a request acts as: the Principal that one middleware
// resolves from the request's credential (the SWITCHBOARD_API_KEY bootstrap
// key, a stored API key, or a consumer session) and puts in the request's
// context. Handlers read it with From and never look at the credential
// themselves; the store scope every handler passes comes from it.
//
// There are two kinds of principal. An unbound one (an application's API
// key) acts for every consumer; a bound one (a key bound to one consumer, or
// a session minted for one) acts for that consumer only and never holds the
// admin scope.
package auth

import (
	"context"
	"slices"

	"github.com/switchboardhq/switchboard/hub/apikey"
	"github.com/switchboardhq/switchboard/hub/store"
)

// Principal is the authenticated caller.
type Principal struct {
	// KeyID is the API key that authenticated the request; for a session,
	// the key that minted it.
	KeyID string
	// SessionID is set when a consumer session authenticated the request.
	SessionID string
	// Scopes are what the credential may do (see package apikey).
	Scopes []string
	// ConsumerID binds the principal to one consumer; "" for an
	// application key.
	ConsumerID string
}

// Bound reports whether the principal acts for one consumer only.
func (p *Principal) Bound() bool { return p != nil && p.ConsumerID != "" }

// Session reports whether a consumer session authenticated the request.
func (p *Principal) Session() bool { return p != nil && p.SessionID != "" }

// Allows reports whether the principal holds scope. Admin implies every
// scope, and a bound principal never holds admin, whatever its stored
// scopes say.
func (p *Principal) Allows(scope string) bool {
	if p == nil {
		return false
	}
	if slices.Contains(p.Scopes, apikey.ScopeAdmin) && !p.Bound() {
		return true
	}
	return scope != apikey.ScopeAdmin && slices.Contains(p.Scopes, scope)
}

// Scope is the store scope of the principal: its consumer's rows when bound,
// every consumer's otherwise. A nil principal has the zero Scope, which
// matches nothing.
func (p *Principal) Scope() store.Scope {
	switch {
	case p == nil:
		return store.Scope{}
	case p.Bound():
		return store.Consumer(p.ConsumerID)
	default:
		return store.AllConsumers()
	}
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// From returns the principal of ctx, or nil on public routes.
func From(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
