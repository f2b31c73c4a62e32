package store_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/store"
)

func TestScopeMatches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		scope store.Scope
		owner string
		want  bool
	}{
		{"zero scope, a consumer's row", store.Scope{}, "acme", false},
		{"zero scope, an application row", store.Scope{}, "", false},
		{"empty consumer is the zero scope", store.Consumer(""), "", false},
		{"own row", store.Consumer("acme"), "acme", true},
		{"another consumer's row", store.Consumer("acme"), "globex", false},
		{"an application-wide row", store.Consumer("acme"), "", false},
		{"all consumers, a consumer's row", store.AllConsumers(), "globex", true},
		{"all consumers, an application row", store.AllConsumers(), "", true},
		{"narrowed to own", store.AllConsumers().Narrow("acme"), "acme", true},
		{"narrowed, another", store.AllConsumers().Narrow("acme"), "globex", false},
		{"a consumer cannot widen", store.Consumer("acme").Narrow("globex"), "globex", false},
		{"a consumer narrowed to itself", store.Consumer("acme").Narrow("acme"), "acme", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, tt.scope.Matches(tt.owner))
		})
	}
}

func TestWhereScope(t *testing.T) {
	t.Parallel()
	dollar := func(n int) string { return "$" + string(rune('0'+n)) }
	tests := []struct {
		name  string
		scope store.Scope
		want  string
		args  []any
	}{
		{"zero scope matches nothing", store.Scope{}, " WHERE id = $1 AND 1 = 0", []any{"x"}},
		{"consumer", store.Consumer("acme"), " WHERE id = $1 AND consumer_id = $2", []any{"x", "acme"}},
		{"all consumers adds nothing", store.AllConsumers(), " WHERE id = $1", []any{"x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := store.NewWhere(dollar)
			w.Add("id", "=", "x")
			w.Scope("consumer_id", tt.scope)
			assert.Equal(t, tt.want, w.Clause())
			assert.Equal(t, tt.args, w.Args())
		})
	}
}

// unscoped are the Store methods that take no Scope, each with why. Every
// other method must take one: a new method that touches consumer data and
// forgets it fails here.
var unscoped = map[string]string{
	"Ping":                      "database health",
	"Close":                     "lifecycle",
	"StartQueue":                "lifecycle",
	"StopQueue":                 "lifecycle",
	"QueueStats":                "queue metrics, no consumer data",
	"CreateAPIKey":              "keys are managed by unbound admin credentials only",
	"GetAPIKey":                 "authentication: looked up before any caller is known",
	"ListAPIKeys":               "keys are managed by unbound admin credentials only",
	"RevokeAPIKey":              "keys are managed by unbound admin credentials only",
	"CountActiveAPIKeys":        "first start: is there any key at all",
	"GetSession":                "authentication: looked up before any caller is known",
	"ConnectionByToken":         "the inbound URL token is the provider's credential for one connection",
	"FanoutTargets":             "queue worker: acts for the hub on an id from its own job",
	"RetryTarget":               "queue worker: acts for the hub on an id from its own job",
	"RecordOutcomes":            "queue worker: acts for the hub on ids from its own job",
	"RecoverBatch":              "queue worker: acts for the hub on the id of its own job (StartRecovery checked the scope)",
	"FailRecovery":              "queue worker: gives up on the recovery of its own job",
	"CountSubscriptions":        "caps: counts only, never returns or changes rows",
	"MasterKeyFingerprint":      "start-up: the hub's own master key check",
	"ClaimMasterKeyFingerprint": "start-up: the hub's own master key check",
	"PutEventType":              "application-wide vocabulary, registered by unbound admin credentials; no consumer data",
	"GetEventType":              "application-wide vocabulary every entry point checks names against; no consumer data",
	"ListEventTypes":            "application-wide vocabulary every entry point checks names against; no consumer data",
	"Purge":                     "retention: the hub deletes every consumer's rows past the retention age, on its own behalf",
	"ClaimPoll":                 "queue worker: acts for the hub on the connection id of its own poll job",
	"FailPoll":                  "queue worker: records the outcome of its own poll",
	"PollableConnections":       "scheduler: the hub lists what it polls, on its own behalf (ids only)",
	"QueuePolls":                "scheduler: inserts the hub's own poll jobs",
}

func TestEveryStoreMethodIsScopedOrListed(t *testing.T) {
	t.Parallel()
	scopeType := reflect.TypeFor[store.Scope]()
	st := reflect.TypeFor[store.Store]()
	var methods []string
	for i := range st.NumMethod() {
		m := st.Method(i)
		methods = append(methods, m.Name)
		scoped := false
		for j := range m.Type.NumIn() {
			if m.Type.In(j) == scopeType {
				scoped = true
			}
		}
		why, exempt := unscoped[m.Name]
		switch {
		case scoped && exempt:
			t.Errorf("%s takes a Scope but is listed as unscoped (%s): drop it from the list", m.Name, why)
		case !scoped && !exempt:
			t.Errorf("%s takes no store.Scope: give it one, or list it in unscoped with the reason it reaches no consumer's data on a caller's behalf", m.Name)
		}
	}
	for name := range unscoped {
		assert.True(t, slices.Contains(methods, name), "unscoped lists %s, which is not a Store method", name)
	}
}

func TestIDBefore(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC)
	before := store.IDBefore(at)
	for _, d := range []time.Duration{-time.Hour, -time.Millisecond} {
		id := uuidAt(t, at.Add(d))
		assert.Less(t, id, before, "an id made %s before sorts below", -d)
	}
	for _, d := range []time.Duration{0, time.Millisecond, time.Hour} {
		id := uuidAt(t, at.Add(d))
		assert.GreaterOrEqual(t, id, before, "an id made %s after sorts above", d)
	}
}

// uuidAt makes a UUIDv7 as NewID would at t.
func uuidAt(t *testing.T, at time.Time) string {
	t.Helper()
	u, err := uuid.NewV7FromReader(strings.NewReader(strings.Repeat("\xff", 64)))
	require.NoError(t, err)
	ms := uint64(at.UnixMilli())
	for i := 0; i < 6; i++ {
		u[i] = byte(ms >> (40 - 8*i))
	}
	return u.String()
}
