//go:build chaos

package chaos

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// storageFault is what the two storage scenarios (d: database locked, e:
// disk full) share around their fault: a steady phase delivered in full, a
// burst whose tries are still in flight when the fault comes, and, once it
// is gone, publishing at once, a second steady phase and the accounting.
type storageFault struct {
	t        *testing.T
	r        *row
	h        *hubProc
	rcv      *receiver
	sub      string
	acc      *accepted
	scenario string
	n, burst int
}

// beforeStorageFault subscribes a receiver to h, publishes the steady phase
// and waits for it, then publishes the burst with the receiver slowed to
// 1 s per try and returns once its first try arrived. The caller makes the
// fault, then sets rcv.delay back to 0.
func beforeStorageFault(t *testing.T, r *row, h *hubProc, scenario string) *storageFault {
	t.Helper()
	f := &storageFault{t: t, r: r, h: h, rcv: newReceiver(t, "steady", nil), acc: newAccepted(),
		scenario: scenario, n: scale.faultEvents}
	f.sub = h.subscribe(f.rcv, shortSchedule)
	f.burst = max(5, f.n/5)

	publishPhase(t, h, f.acc, scenario, 0, f.n)
	eventually(t, 30*time.Second, "events before the fault delivered", func() (bool, string) {
		m := f.rcv.missing(f.acc.list())
		return len(m) == 0, fmt.Sprintf("%d missing", len(m))
	})

	// A burst whose tries are still in flight when the fault comes: their
	// outcomes cannot be recorded, nor their jobs completed, until it goes.
	f.rcv.delay.Store(int64(time.Second))
	before := f.rcv.stats().requests
	publishPhase(t, h, f.acc, scenario, f.n, f.n+f.burst)
	eventually(t, 10*time.Second, "burst tries in flight", func() (bool, string) {
		return f.rcv.stats().requests > before, "no try of the burst arrived"
	})
	return f
}

// after checks the hub recovered from the fault that ended at ended: a
// publish is accepted at once (what names the fault's end in the failure
// message), a second steady phase follows, every accepted event is
// delivered and the log accounts for every try the receiver saw. faulted is
// how many publishes were made during the fault. It returns how long the
// first publish after the fault took.
func (f *storageFault) after(ended time.Time, what string, faulted int) time.Duration {
	t, h := f.t, f.h
	t.Helper()
	first := f.n + f.burst
	a, err := h.call(context.Background(), http.MethodPost, "/webhook/events", "", eventBody(f.scenario, first))
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, a.status, "publish after %s: %s", what, a.raw)
	require.NoError(t, f.acc.add(fmt.Sprint(first), a.str("data", "id")))
	recovered := time.Since(ended)
	publishPhase(t, h, f.acc, f.scenario, first+1, first+f.n)

	ids := f.acc.list()
	f.r.sent = 2*f.n + f.burst + faulted
	f.r.accepted = len(ids)
	waitDelivered(t, f.r, ids, f.rcv)
	quiet(func() int { return f.rcv.stats().requests }, 3*time.Second, 30*time.Second)
	sumReceivers(t, f.r, f.rcv)
	// No crash here, so the log must account for every try the receiver
	// saw (an outcome whose write failed is written once the fault is gone).
	f.r.triesLogged = everyTryLogged(t, h, f.sub, f.rcv, 30*time.Second)
	return recovered
}
