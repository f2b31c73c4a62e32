//go:build chaos

package chaos

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRestartWithAnotherMasterKey publishes events with fan-out 2 to receivers
// slow enough that first tries are in flight, SIGKILLs the hub, and starts
// it again with another SWITCHBOARD_MASTER_KEY: the start must be refused
// loudly (its log names SWITCHBOARD_MASTER_KEY) and nothing may listen, not
// even for a moment. Started again with the right key, it must deliver
// every event accepted before, and the ones published after, with valid
// signatures.
func TestRestartWithAnotherMasterKey(t *testing.T) {
	r := track(t, "g: restart with another master key")
	newKey := func() string {
		b := make([]byte, 32)
		_, err := rand.Read(b)
		require.NoError(t, err)
		return hex.EncodeToString(b)
	}
	right, wrong := "SWITCHBOARD_MASTER_KEY="+newKey(), "SWITCHBOARD_MASTER_KEY="+newKey()
	h := newHubEnv(t, t.TempDir(), []string{right})
	rcvs := []*receiver{newReceiver(t, "first", nil), newReceiver(t, "second", nil)}
	for _, rcv := range rcvs {
		rcv.delay.Store(int64(200 * time.Millisecond))
	}
	subs := []string{h.subscribe(rcvs[0], shortSchedule), h.subscribe(rcvs[1], shortSchedule)}
	acc := newAccepted()
	n := scale.faultEvents
	r.sent = 2 * n

	publishPhase(t, h, acc, "masterkey", 0, n)
	h.kill()

	// The wrong key: refused before anything listens.
	h.env = []string{wrong}
	listened := make(chan bool, 1)
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				listened <- false
				return
			default:
			}
			if c, err := net.DialTimeout("tcp", h.addr, 50*time.Millisecond); err == nil {
				c.Close()
				listened <- true
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	err := h.start()
	close(stop)
	require.Error(t, err, "a hub started with another master key must not become ready")
	assert.Contains(t, err.Error(), "exited before it was ready")
	assert.False(t, <-listened, "the refused hub must not listen at all")
	assert.True(t, h.logContains("SWITCHBOARD_MASTER_KEY"), "the refusal names SWITCHBOARD_MASTER_KEY")
	assert.True(t, h.logContains("master key does not match the database"), "the refusal says why")

	// The right key again: everything accepted before is delivered, and
	// the hub takes new events.
	h.env = []string{right}
	require.NoError(t, h.start())
	publishPhase(t, h, acc, "masterkey", n, 2*n)
	ids := acc.list()
	r.accepted = len(ids)
	assert.Equal(t, 2*n, len(ids))
	waitDelivered(t, r, ids, rcvs...)
	quiet(func() int { return rcvs[0].stats().requests + rcvs[1].stats().requests }, 3*time.Second, time.Minute)
	sumReceivers(t, r, rcvs...)
	for _, sub := range subs {
		logged, err := h.logCount(sub)
		require.NoError(t, err)
		r.triesLogged += logged
	}
	r.note = fmt.Sprintf("SIGKILL after %d events with tries in flight (receivers answer in 200 ms), restart with another key refused before listening, restart with the right key delivers all", n)
}
