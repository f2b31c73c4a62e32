package main

import (
	"bytes"
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func runTrigger(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(append([]string{"trigger"}, args...))
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// TestTriggerPublishesTheCatalogueExample: against a running hub, trigger
// delivers the example to a subscription, --set overrides a field, and an
// override the schema refuses (or an unknown name) fails with the hub's
// reason.
func TestTriggerPublishesTheCatalogueExample(t *testing.T) {
	t.Parallel()
	p := startHub(t, t.TempDir(), freeAddr(t))
	rcv := newReceiver(t)
	rcv.up.Store(true)
	code, sub := p.do(t, http.MethodPost, "/webhook/webhooks", map[string]any{
		"unified_api": "accounting", "status": "enabled", "delivery_url": rcv.srv.URL + "/hook",
		"events": []string{"accounting.invoice.updated"},
	})
	require.Equal(t, http.StatusCreated, code, sub)
	rcv.mu.Lock()
	rcv.secret = sub["data"].(map[string]any)["secret"].(string)
	rcv.mu.Unlock()
	base := []string{"--hub-url", "http://" + p.addr, "--api-key", p.key}

	out, err := runTrigger(t, append([]string{"accounting.invoice.paid", "--consumer", "globex"}, base...)...)
	require.NoError(t, err)
	require.Contains(t, out, "Published accounting.invoice.paid")
	require.Contains(t, out, "1 deliveries")
	got := rcv.waitPayload(t, 1)
	require.Equal(t, "accounting.invoice.paid", got["event_type"])
	require.Equal(t, "accounting.invoice.updated", got["base_event_type"])
	require.Equal(t, "globex", got["consumer_id"])
	require.Equal(t, "inv_abc123", got["entity_id"])

	_, err = runTrigger(t, append([]string{"accounting.invoice.paid", "--set", "total=99.5", "--set", "customer.id=cus_42"}, base...)...)
	require.NoError(t, err)
	got = rcv.waitPayload(t, 2)
	entity := got["entity"].(map[string]any)
	require.Equal(t, 99.5, entity["total"])
	require.Equal(t, "cus_42", entity["customer"].(map[string]any)["id"])

	_, err = runTrigger(t, append([]string{"accounting.invoice.paid", "--set", "total=lots"}, base...)...)
	require.ErrorContains(t, err, "422")
	require.ErrorContains(t, err, "entity/total")
	_, err = runTrigger(t, append([]string{"accounting.invoice.paid", "--set", "totl=3"}, base...)...)
	require.ErrorContains(t, err, "totl")
	_, err = runTrigger(t, append([]string{"acounting.invoice.payed"}, base...)...)
	require.ErrorContains(t, err, "did you mean accounting.invoice.paid")
}
