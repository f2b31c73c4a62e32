//go:build chaos

package chaos

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestFlakyReceivers fans every event out to four receivers that misbehave
// in the ways real endpoints do: one fails half its tries at random with a
// 500, one sometimes answers only after the hub's delivery timeout, one
// throttles each event's first try with 429 Retry-After: 1, and one answers
// each event's first try with a 302 redirect (which the hub must not
// follow). With a short retry schedule every event must still reach every
// receiver, and GET /webhook/logs must hold exactly one entry per request
// each receiver saw, and one success per delivery.
func TestFlakyReceivers(t *testing.T) {
	r := track(t, "b: flaky receivers")
	rnd := rng(t)
	var rndMu sync.Mutex
	coin := func(p float64) bool {
		rndMu.Lock()
		defer rndMu.Unlock()
		return rnd.Float64() < p
	}
	h := newHub(t, t.TempDir(), "--delivery-timeout", "1s")
	rcvs := []*receiver{
		newReceiver(t, "500 half the time", func(int) action {
			if coin(0.5) {
				return fail
			}
			return accept
		}),
		newReceiver(t, "slow past the timeout", func(int) action {
			if coin(0.25) {
				return slow
			}
			return accept
		}),
		newReceiver(t, "429 first", func(try int) action {
			if try == 1 {
				return throttle
			}
			return accept
		}),
		newReceiver(t, "302 first", func(try int) action {
			if try == 1 {
				return redirect
			}
			return accept
		}),
	}
	subs := make([]string, len(rcvs))
	for i, rcv := range rcvs {
		subs[i] = h.subscribe(rcv, shortSchedule)
	}
	acc := newAccepted()
	n := scale.flakyEvents
	r.sent = n
	publishPhase(t, h, acc, "flaky", 0, n)
	ids := acc.list()
	r.accepted = len(ids)
	waitDelivered(t, r, ids, rcvs...)
	quiet(func() int {
		n := 0
		for _, rcv := range rcvs {
			n += rcv.stats().requests
		}
		return n
	}, 3*time.Second, 30*time.Second)
	sumReceivers(t, r, rcvs...)

	// Every request a receiver saw is one log entry of its subscription
	// once the hub has recorded the last outcomes.
	var lines []string
	for i, rcv := range rcvs {
		logged := everyTryLogged(t, h, subs[i], rcv, 30*time.Second)
		successes, err := h.logCount(subs[i], "filter[success]", "true")
		if assert.NoError(t, err) {
			s := rcv.stats()
			assert.Equal(t, s.unique+s.duplicates, successes, "receiver %s: one successful log entry per 2xx answer", rcv.name)
		}
		r.triesLogged += logged
		lines = append(lines, fmt.Sprintf("%s %d tries/%d ok", rcv.name, logged, successes))
	}
	r.note = "delivery timeout 1s; " + strings.Join(lines, ", ")
}
