package postgres

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type testReq struct {
	n      int
	result int
	err    error
}

func (r *testReq) fail(err error) { r.err = err }

// TestCombiner drives the leader/follower logic alone, without a database:
// every request gets its own result exactly once, groups respect max, and
// no more than parallel groups are written at once.
func TestCombiner(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		parallel, max int
	}{
		{"one writer", 1, 8},
		{"three writers", 3, 8},
		{"groups of one", 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var (
				running, peak atomic.Int32
				groups        atomic.Int32
				mu            sync.Mutex
				written       = map[int]int{}
			)
			c := &combiner[*testReq]{
				size: func(*testReq) int { return 1 }, max: tc.max, parallel: tc.parallel,
				run: func(_ context.Context, group []*testReq) {
					now := running.Add(1)
					defer running.Add(-1)
					for p := peak.Load(); now > p && !peak.CompareAndSwap(p, now); p = peak.Load() {
					}
					assert.LessOrEqual(t, len(group), tc.max)
					groups.Add(1)
					time.Sleep(time.Millisecond) // a commit
					mu.Lock()
					defer mu.Unlock()
					for _, r := range group {
						written[r.n]++
						r.result = r.n * 2
					}
				},
			}
			const callers = 200
			reqs := make([]*testReq, callers)
			var wg sync.WaitGroup
			for i := range callers {
				reqs[i] = &testReq{n: i}
				wg.Go(func() { c.do(context.Background(), reqs[i]) })
			}
			wg.Wait()
			for i, r := range reqs {
				assert.NoError(t, r.err)
				assert.Equal(t, 2*i, r.result, "request %d", i)
				assert.Equal(t, 1, written[i], "request %d written once", i)
			}
			assert.LessOrEqual(t, peak.Load(), int32(tc.parallel), "groups written at once")
			assert.Zero(t, c.leading, "no leader left")
			assert.Empty(t, c.queue)
			if tc.max > 1 {
				assert.Less(t, groups.Load(), int32(callers), "some requests shared a group")
			}
		})
	}
}

// TestCombinerPanicFailsTheGroup: a panic in a write fails its group's
// requests and leaves the combiner working.
func TestCombinerPanicFailsTheGroup(t *testing.T) {
	t.Parallel()
	boom := true
	c := &combiner[*testReq]{
		size: func(*testReq) int { return 1 }, max: 8, parallel: 1,
		run: func(_ context.Context, group []*testReq) {
			if boom {
				boom = false
				panic("boom")
			}
			for _, r := range group {
				r.result = 1
			}
		},
	}
	first := &testReq{}
	c.do(context.Background(), first)
	require.Error(t, first.err)
	assert.Contains(t, first.err.Error(), "boom")
	second := &testReq{}
	c.do(context.Background(), second)
	assert.NoError(t, second.err)
	assert.Equal(t, 1, second.result)
}

// TestCombinerDoneContext: a request whose context is already done is not
// written.
func TestCombinerDoneContext(t *testing.T) {
	t.Parallel()
	c := &combiner[*testReq]{
		size: func(*testReq) int { return 1 }, max: 8, parallel: 1,
		run: func(context.Context, []*testReq) { t.Error("written") },
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := &testReq{}
	c.do(ctx, r)
	assert.True(t, errors.Is(r.err, context.Canceled))
}
