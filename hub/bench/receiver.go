package bench

import (
	"bytes"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboardhq/switchboard/hub/signature"
)

// maxDeliveryBytes bounds what the receiver reads of one delivery; the
// bench's events are a few hundred bytes.
const maxDeliveryBytes = 1 << 20

// headerID is signature.HeaderID in Go's canonical form, so reading it is a
// map lookup without canonicalising (and allocating) on every request.
const headerID = "Webhook-Id"

// receiver is the subscriber side of a run: one HTTP handler for all
// subscriptions, told apart by path ("/0", "/1", …). It verifies every
// delivery's signature and records the first arrival of each webhook-id per
// subscription. It is on the measured path, so it does no logging and keeps
// per-request work to an HMAC, a pooled body buffer and one map insert.
type receiver struct {
	base  time.Time // arrival times are durations since base (monotonic)
	slots []*slot
	bufs  sync.Pool

	unique atomic.Int64 // first arrivals, all slots
	dups   atomic.Int64
	bad    atomic.Int64
	strays atomic.Int64 // requests to a path that is no subscription
}

// slot is one subscription's view: its secret and what arrived there.
type slot struct {
	// secret is set once the subscription exists; deliveries cannot come
	// earlier, but the race detector cannot know that, so it is atomic.
	secret   atomic.Pointer[string]
	mu       sync.Mutex
	arrivals map[string]time.Duration // webhook-id -> first arrival
}

func newReceiver(subscriptions, perSlot int, base time.Time) *receiver {
	r := &receiver{base: base, slots: make([]*slot, subscriptions)}
	for i := range r.slots {
		r.slots[i] = &slot{arrivals: make(map[string]time.Duration, perSlot)}
	}
	r.bufs.New = func() any { return bytes.NewBuffer(make([]byte, 0, 4<<10)) }
	return r
}

// setSecret arms slot i with its subscription's signing secret.
func (r *receiver) setSecret(i int, secret string) { r.slots[i].secret.Store(&secret) }

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	now := time.Now()
	i, ok := slotIndex(req.URL.Path, len(r.slots))
	if !ok {
		r.strays.Add(1)
		w.WriteHeader(http.StatusNotFound)
		return
	}
	s := r.slots[i]
	buf := r.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer r.bufs.Put(buf)
	_, err := buf.ReadFrom(io.LimitReader(req.Body, maxDeliveryBytes))
	secret := s.secret.Load()
	if err != nil || secret == nil || signature.Verify(*secret, req.Header, buf.Bytes(), 0, now) != nil {
		r.bad.Add(1)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var id string
	if v := req.Header[headerID]; len(v) > 0 {
		id = v[0]
	}
	s.mu.Lock()
	_, dup := s.arrivals[id]
	if !dup {
		s.arrivals[id] = now.Sub(r.base)
	}
	s.mu.Unlock()
	if dup {
		r.dups.Add(1)
	} else {
		r.unique.Add(1)
	}
	w.WriteHeader(http.StatusNoContent)
}

// slotIndex parses "/<n>" with n < slots, without allocating.
func slotIndex(path string, slots int) (int, bool) {
	if len(path) < 2 || path[0] != '/' || len(path) > 8 {
		return 0, false
	}
	n := 0
	for _, c := range []byte(path[1:]) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n < slots
}

// snapshot copies every slot's arrivals, for analysis after the run.
func (r *receiver) snapshot() []map[string]time.Duration {
	out := make([]map[string]time.Duration, len(r.slots))
	for i, s := range r.slots {
		s.mu.Lock()
		out[i] = make(map[string]time.Duration, len(s.arrivals))
		for id, at := range s.arrivals {
			out[i][id] = at
		}
		s.mu.Unlock()
	}
	return out
}

// arrivedOf counts how many of the accepted ids arrived at every slot,
// i.e. the deliveries owed that were made.
func (r *receiver) arrivedOf(accepted map[string]struct{}) int64 {
	var n int64
	for _, s := range r.slots {
		s.mu.Lock()
		for id := range s.arrivals {
			if _, ok := accepted[id]; ok {
				n++
			}
		}
		s.mu.Unlock()
	}
	return n
}
