package postgres

import (
	"context"
	"fmt"
	"sync"
)

// parallelWrites is how many groups of one kind are written at once. On
// the 2-core bench machine, with PostgreSQL on the same cores, one is best
// (publish fan-out 1, 20k events: 2,493 and 2,556 deliveries/s with one,
// 1,868 and 2,148 with two, 1,531 and 1,895 with four): the machine is out
// of CPU, and bigger groups cost less per event. A database on cores of its
// own may reward more.
const parallelWrites = 1

// combiner merges concurrent calls of one kind of write into shared
// transactions.
//
// With the first try made in process, publishes and outcome writes come
// from many goroutines at once, each a short transaction. On a 2-core
// machine whose PostgreSQL shares the cores, their cost is per statement
// and per commit far more than per row: with the outcome writes left out
// altogether, the bench delivered 1,007/s instead of 588/s. Writing
// everything that queued while the previous write ran in one transaction,
// with one statement per table for the whole group, shares that cost.
//
// As in the SQLite store's batcher there is no background goroutine: a
// caller that finds fewer than parallel groups being written leads; it
// takes what is queued (up to max, by size), has run write the group, and
// hands leadership to the oldest waiting caller. With parallel above one,
// PostgreSQL writes one group while another waits for its commit.
type combiner[T combined] struct {
	// run writes a group and sets each request's result. Groups written at
	// once must not deadlock each other.
	run      func(ctx context.Context, group []T)
	size     func(T) int
	max      int
	parallel int

	mu      sync.Mutex
	queue   []*waiter[T]
	leading int // groups being written
}

// combined is a request of a combiner, which carries its own result.
type combined interface {
	// fail sets the request's result to err.
	fail(err error)
}

type waiter[T combined] struct {
	req     T
	ctx     context.Context
	granted bool          // lead is closed, or about to be
	done    chan struct{} // closed once the result is final
	lead    chan struct{} // closed to make this caller a leader
}

// do writes req together with those of concurrent callers and returns once
// req's result is set. Only a ctx already done when it is called stops it;
// once queued, a request is written whatever happens to ctx.
func (c *combiner[T]) do(ctx context.Context, req T) {
	if err := ctx.Err(); err != nil {
		req.fail(err)
		return
	}
	w := &waiter[T]{req: req, ctx: ctx, done: make(chan struct{}), lead: make(chan struct{})}
	c.mu.Lock()
	c.queue = append(c.queue, w)
	if c.leading < c.parallel {
		c.leading++
		c.grant(w)
	}
	c.mu.Unlock()

	select {
	case <-w.done:
		// Written by another leader, perhaps after this caller was made
		// one too (both channels closed): give the place up.
		c.mu.Lock()
		if w.granted {
			c.handOff()
		}
		c.mu.Unlock()
		return
	case <-w.lead:
	}
	// Leading. Another leader may have taken this request into its group
	// meanwhile; lead until it is written anyway, then hand over.
	for {
		c.mu.Lock()
		group := c.take()
		if len(group) == 0 {
			c.leading--
			c.mu.Unlock()
			<-w.done
			return
		}
		c.mu.Unlock()
		c.write(group)
		select {
		case <-w.done:
			c.mu.Lock()
			c.handOff()
			c.mu.Unlock()
			return
		default:
		}
	}
}

// take removes the next group from the queue: its oldest requests up to
// max by size, at least one if any.
func (c *combiner[T]) take() []*waiter[T] {
	n, size := 0, 0
	for n < len(c.queue) && (n == 0 || size+c.size(c.queue[n].req) <= c.max) {
		size += c.size(c.queue[n].req)
		n++
	}
	group := c.queue[:n:n]
	c.queue = c.queue[n:]
	if len(c.queue) == 0 {
		c.queue = nil
	}
	return group
}

// handOff gives a leader's place to the oldest queued request not yet made
// one, or frees it. Called with mu held.
func (c *combiner[T]) handOff() {
	if next := c.waiting(); next != nil {
		c.grant(next)
	} else {
		c.leading--
	}
}

// waiting returns the oldest queued request not yet made a leader, or nil.
func (c *combiner[T]) waiting() *waiter[T] {
	for _, w := range c.queue {
		if !w.granted {
			return w
		}
	}
	return nil
}

func (c *combiner[T]) grant(w *waiter[T]) {
	w.granted = true
	close(w.lead)
}

// write runs a group. A panic fails the group instead of unwinding the
// leader: a caller that recovers it would leave no leader, and every later
// write waiting forever.
func (c *combiner[T]) write(group []*waiter[T]) {
	reqs := make([]T, len(group))
	for i, w := range group {
		reqs[i] = w.req
	}
	defer func() {
		if p := recover(); p != nil {
			for _, r := range reqs {
				r.fail(fmt.Errorf("write panicked: %v", p))
			}
		}
		for _, w := range group {
			close(w.done)
		}
	}()
	// No caller's context may end the shared transaction; the store's
	// writes run to completion whatever happens to it anyway.
	c.run(context.WithoutCancel(group[0].ctx), reqs)
}
