package api_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/api"
	"github.com/switchboardhq/switchboard/hub/apideck"
	"github.com/switchboardhq/switchboard/hub/apikey"
	"github.com/switchboardhq/switchboard/hub/console"
	"github.com/switchboardhq/switchboard/hub/ingest"
	"github.com/switchboardhq/switchboard/hub/vault"
	"github.com/switchboardhq/switchboard/plugins"
)

// noConnectors is a vault.Connectors with nothing loaded: the route table
// needs the vault's routes, not its connectors.
type noConnectors struct{}

func (noConnectors) List() []vault.Info            { return nil }
func (noConnectors) Get(string) (vault.Info, bool) { return vault.Info{}, false }
func (noConnectors) Unsubscribe(context.Context, string, *plugins.UnsubscribeRequest) error {
	return nil
}
func (noConnectors) Subscribe(context.Context, string, *plugins.SubscribeRequest) (*plugins.SubscribeResult, error) {
	return nil, nil
}

// TestRouteTable walks every route the hub's router serves (its own, the
// vault's and ingest's, as hub.Run mounts them) and fails on one without a
// declared tenancy mode and scope, or whose declaration contradicts the
// tenancy rules: admin routes are for unbound callers only, and only
// inbound provider webhooks and operations probes are public.
func TestRouteTable(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	routes := append(ingest.New(ingest.Config{}).Routes(),
		vault.New(vault.Config{Store: h.store, Connectors: noConnectors{}}).Routes()...)
	cons, err := console.New(console.Config{})
	require.NoError(t, err)
	routes = append(routes, cons.Routes()...)
	routes = append(routes, apideck.New(apideck.Config{Store: h.store, Connectors: noConnectors{}}).Routes()...)
	served, declared, err := api.Inspect(api.Config{Store: h.store, Routes: routes})
	require.NoError(t, err)
	require.NotEmpty(t, served)

	public := []string{"GET /healthz", "GET /readyz", "GET /metrics", "GET /openapi.json", "GET /asyncapi.json", "GET /apideck/openapi.json", "POST /webhook/inbound/:service_id/:token", "GET /webhook/inbound/:service_id/:token",
		// The web console's static files: they hold no data, every call
		// they make carries the signed-in credential.
		"GET /console", "GET /console/*path"}
	var table []string
	for _, r := range served {
		key := r.Method + " " + r.Path
		d, ok := declared[key]
		if !assert.Truef(t, ok, "%s is served but not declared", key) {
			continue
		}
		assert.NotEqualf(t, "undeclared", d.Tenancy.String(), "%s declares no tenancy mode", key)
		if d.Tenancy == api.Public {
			assert.Containsf(t, public, key, "%s is public: only provider webhooks and probes may be", key)
			assert.Emptyf(t, d.Scope, "%s is public and needs no scope", key)
		} else {
			assert.Truef(t, apikey.ValidScope(d.Scope), "%s declares scope %q", key, d.Scope)
		}
		if d.Scope == apikey.ScopeAdmin {
			assert.Equalf(t, api.Application, d.Tenancy, "%s needs admin: it must refuse bound callers", key)
		}
		if strings.HasPrefix(r.Path, "/vault/") || strings.HasPrefix(r.Path, "/webhook/webhooks") || strings.HasPrefix(r.Path, "/webhook/events") || r.Path == "/webhook/logs" {
			assert.Equalf(t, api.Scoped, d.Tenancy, "%s reads or changes consumer data: it must be scoped", key)
		}
		table = append(table, key+" "+d.Tenancy.String()+" "+d.Scope)
	}
	assert.Len(t, declared, len(served), "every declared route is served")
	slices.Sort(table)
	t.Logf("route table (%d routes):\n%s", len(table), strings.Join(table, "\n"))
}
