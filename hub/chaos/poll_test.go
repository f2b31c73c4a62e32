//go:build chaos

package chaos

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/connectors/vplan/vplanfake"
)

// TestHubKilledWhilePolling (scenario i): a vPlan that forgets every
// webhook, so only polls bring its changes in. Changes keep coming, polls
// are made back to back (each held at vPlan for a while, so kills land
// mid-poll), and the hub is SIGKILLed scale.crashes times. Afterwards every
// change is stored as exactly one event (the cursor and the events commit
// together; a repeated poll is deduplicated) and delivered with a valid
// signature; delivery duplicates are allowed and counted.
func TestHubKilledWhilePolling(t *testing.T) {
	r := track(t, "i: hub SIGKILL mid-poll (virtual webhooks)")
	rnd := rng(t)
	changes := 40
	if scale.name == "full" {
		changes = 400
	}
	r.sent = changes
	const key, env, consumer = "chaos-vp-key", "chaos-vp-env", "chaos-poll"
	fake := vplanfake.New(key, env)
	t.Cleanup(fake.Close)
	h := newHub(t, t.TempDir(), "--poll-scan-interval", "200ms", "--poll-timeout", "3s")
	rcv := newReceiver(t, "polled", nil)
	a := h.must(http.StatusCreated, http.MethodPost, "/webhook/webhooks", "", map[string]any{
		"unified_api": "issue-tracking", "status": "enabled", "delivery_url": rcv.url(), "consumer_id": consumer,
		"events": []string{"*"}, "retry_schedule": shortSchedule, "description": "chaos polled",
	})
	rcv.setSecret(a.str("data", "secret"))
	settings := map[string]any{"base_url": fake.URL, "event_types": []string{"card.updated"}, "polling": true, "poll_interval": 10}
	c := h.must(http.StatusCreated, http.MethodPost, "/vault/connections", consumer, map[string]any{
		"service_id": "vplan", "settings": settings, "credentials": map[string]any{"api_key": key, "api_env": env}})
	connID := c.str("data", "id")
	pollPath := "/vault/connections/" + connID + "/poll"
	eventually(t, time.Minute, "the first poll", func() (bool, string) {
		a, err := h.call(context.Background(), http.MethodGet, "/vault/connections/"+connID, consumer, nil)
		return err == nil && a.body["data"].(map[string]any)["last_polled_at"] != nil, "no last_polled_at"
	})
	time.Sleep(5 * time.Millisecond)

	fake.Forget(changes)
	fake.SlowLists(200 * time.Millisecond)
	var (
		made  atomic.Int64
		stop  = make(chan struct{})
		wg    sync.WaitGroup
		polls atomic.Int64
	)
	wg.Go(func() { // the provider changes
		for i := range changes {
			id := "chaos-card-" + strconv.Itoa(i)
			if _, _, err := fake.Change(context.Background(), "card.updated", func(d map[string]any) { d["id"] = id }); err != nil {
				t.Errorf("change %d: %v", i, err)
			}
			made.Add(1)
			time.Sleep(25 * time.Millisecond)
		}
	})
	wg.Go(func() { // polls back to back, whatever the hub's state
		for {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if a, err := h.call(ctx, http.MethodPost, pollPath, consumer, nil); err == nil && a.status == http.StatusOK {
				polls.Add(1)
			}
			cancel()
			time.Sleep(10 * time.Millisecond)
		}
	})
	for k := range scale.crashes {
		target := int64((k + 1) * changes / (scale.crashes + 1))
		for made.Load() < target {
			time.Sleep(5 * time.Millisecond)
		}
		// Kill while a list call is held at vPlan, when one is.
		inFlightBy := time.Now().Add(2 * time.Second)
		for fake.MaxConcurrentLists() == 0 && time.Now().Before(inFlightBy) {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(time.Duration(rnd.IntN(150)) * time.Millisecond)
		h.kill()
		down := time.Duration(rnd.IntN(400)) * time.Millisecond
		time.Sleep(down)
		require.NoError(t, h.start(), "restart after kill %d", k+1)
		t.Logf("kill %d after %d changes, down %s", k+1, target, down)
	}
	for made.Load() < int64(changes) {
		time.Sleep(10 * time.Millisecond)
	}
	fake.SlowLists(0)

	// Every change is stored once: the consumer's events, one per card.
	var ids []string
	eventually(t, scale.settle, "every change stored", func() (bool, string) {
		a, err := h.call(context.Background(), http.MethodGet, "/webhook/events?limit=200&filter[consumer_id]="+consumer, "", nil)
		if err != nil || a.status != http.StatusOK {
			return false, fmt.Sprint(a.status, err)
		}
		data, _ := a.body["data"].([]any)
		perCard := map[string]int{}
		ids = ids[:0]
		for _, e := range data {
			ev := e.(map[string]any)
			if strings.HasPrefix(fmt.Sprint(ev["event_type"]), "vault.") {
				continue // the connection's own vault.connection.* events
			}
			perCard[fmt.Sprint(ev["entity_id"])]++
			ids = append(ids, fmt.Sprint(ev["id"]))
		}
		for card, n := range perCard {
			if n > 1 {
				t.Errorf("card %s stored as %d events", card, n)
			}
		}
		return len(perCard) == changes, fmt.Sprintf("%d of %d cards stored", len(perCard), changes)
	})
	close(stop)
	wg.Wait()
	r.accepted = len(ids)
	assert.Equal(t, changes, len(ids), "one stored event per change")
	waitDelivered(t, r, ids, rcv)
	sumReceivers(t, r, rcv)
	r.note = fmt.Sprintf("polls_ok=%d max_concurrent_lists=%d", polls.Load(), fake.MaxConcurrentLists())
	assert.Equal(t, 1, fake.MaxConcurrentLists(), "two polls of the connection ran at once")
}
