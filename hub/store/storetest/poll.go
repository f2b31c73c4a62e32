package storetest

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/store"
)

// polledEvent is an event of connection c as a poll stores it.
func polledEvent(c *store.Connection, key, payload string) *event.Event {
	sum := sha256.Sum256([]byte(payload))
	return newEvent(func(ev *event.Event) {
		ev.ConsumerID, ev.ConnectionID, ev.ServiceID = c.ConsumerID, c.ID, c.ServiceID
		ev.EventSource = event.SourceVirtual
		ev.DedupeKey = "conn:" + c.ID + ":" + key
		ev.RequestHash = hex.EncodeToString(sum[:])
	})
}

var pollTests = map[string]func(*testing.T, *harness){
	"LeaseCursorAndEventsInOneTransaction": func(t *testing.T, h *harness) {
		e := h.env(t)
		c := e.connection("acme")
		acme := store.Consumer("acme")
		st, err := e.s.GetPollState(e.ctx, acme, c.ID)
		require.NoError(t, err)
		assert.Equal(t, c.ID, st.ConnectionID)
		assert.Empty(t, st.Cursor)
		assert.Nil(t, st.LastPolledAt)

		now := store.Now()
		claim, err := e.s.ClaimPoll(e.ctx, c.ID, now, now.Add(time.Minute))
		require.NoError(t, err)
		require.NotZero(t, claim.Lease)
		_, err = e.s.ClaimPoll(e.ctx, c.ID, now, now.Add(time.Minute))
		require.ErrorIs(t, err, store.ErrPollBusy, "one poll of a connection at a time")

		sub := e.subscription(func(s *store.Subscription) { s.ConsumerID = "acme" })
		evs := []*event.Event{polledEvent(c, "inv_1@t1", `{"a":1}`), polledEvent(c, "inv_2@t1", `{"a":2}`)}
		res, err := e.s.CommitPoll(e.ctx, acme, &store.PollCommit{ConnectionID: c.ID, Lease: claim.Lease, Events: evs, Cursor: "c1", At: now})
		require.NoError(t, err)
		require.Len(t, res, 2)
		for _, r := range res {
			assert.False(t, r.Duplicate)
			assert.Equal(t, 1, r.Deliveries)
			assert.Equal(t, 1, e.pendingTo(r.Event.ID, sub.ID))
		}
		st, err = e.s.GetPollState(e.ctx, acme, c.ID)
		require.NoError(t, err)
		assert.Equal(t, "c1", st.Cursor)
		require.NotNil(t, st.CursorAt)
		assert.Equal(t, store.Time(now), *st.CursorAt)
		assert.Nil(t, st.LeaseUntil, "a commit releases the lease")

		// The same lease cannot store twice: its events and cursor stay out.
		late := polledEvent(c, "inv_3@t1", `{"a":3}`)
		_, err = e.s.CommitPoll(e.ctx, acme, &store.PollCommit{ConnectionID: c.ID, Lease: claim.Lease, Events: []*event.Event{late}, Cursor: "c2"})
		require.ErrorIs(t, err, store.ErrPollLeaseLost)
		_, err = e.s.GetEvent(e.ctx, acme, late.ID)
		require.ErrorIs(t, err, store.ErrNotFound, "a fenced poll stores no event")

		// An expired lease is taken over; the old one is then fenced off.
		old, err := e.s.ClaimPoll(e.ctx, c.ID, now, now.Add(time.Second))
		require.NoError(t, err)
		newer, err := e.s.ClaimPoll(e.ctx, c.ID, now.Add(2*time.Second), now.Add(time.Minute))
		require.NoError(t, err)
		assert.Greater(t, newer.Lease, old.Lease)
		_, err = e.s.CommitPoll(e.ctx, acme, &store.PollCommit{ConnectionID: c.ID, Lease: old.Lease, Cursor: "stale"})
		require.ErrorIs(t, err, store.ErrPollLeaseLost)

		// A failure keeps the cursor, counts and releases.
		nb := now.Add(time.Hour)
		require.NoError(t, e.s.FailPoll(e.ctx, c.ID, newer.Lease, "provider answered 500", nb, now))
		st, err = e.s.GetPollState(e.ctx, acme, c.ID)
		require.NoError(t, err)
		assert.Equal(t, "c1", st.Cursor)
		assert.Equal(t, "provider answered 500", st.LastError)
		assert.Equal(t, 1, st.Failures)
		require.NotNil(t, st.NotBefore)
		assert.Equal(t, store.Time(nb), *st.NotBefore)
		assert.Nil(t, st.LeaseUntil)

		// Success clears the error; an empty cursor keeps the stored one.
		claim, err = e.s.ClaimPoll(e.ctx, c.ID, now, now.Add(time.Minute))
		require.NoError(t, err)
		_, err = e.s.CommitPoll(e.ctx, acme, &store.PollCommit{ConnectionID: c.ID, Lease: claim.Lease})
		require.NoError(t, err)
		st, err = e.s.GetPollState(e.ctx, acme, c.ID)
		require.NoError(t, err)
		assert.Equal(t, "c1", st.Cursor)
		assert.Empty(t, st.LastError)
		assert.Zero(t, st.Failures)
	},
	"PushedAndPolledCopyAreOneEvent": func(t *testing.T, h *harness) {
		e := h.env(t)
		c := e.connection("acme")
		acme := store.Consumer("acme")
		e.subscription(func(s *store.Subscription) { s.ConsumerID = "acme" })
		pushed := polledEvent(c, "card:1@2024-03-04T09:15:01Z", `{"webhook":true}`)
		pushed.EventSource = event.SourceNative
		first, err := e.s.PublishEvent(e.ctx, acme, pushed)
		require.NoError(t, err)

		now := store.Now()
		claim, err := e.s.ClaimPoll(e.ctx, c.ID, now, now.Add(time.Minute))
		require.NoError(t, err)
		copyOf := polledEvent(c, "card:1@2024-03-04T09:15:01Z", `{"list":true}`)
		twice := polledEvent(c, "card:2@2024-03-04T09:15:01Z", `{"list":2}`)
		again := polledEvent(c, "card:2@2024-03-04T09:15:01Z", `{"list":2}`)
		res, err := e.s.CommitPoll(e.ctx, acme, &store.PollCommit{ConnectionID: c.ID, Lease: claim.Lease,
			Events: []*event.Event{copyOf, twice, again}, Cursor: "c"})
		require.NoError(t, err)
		require.Len(t, res, 3)
		assert.True(t, res[0].Duplicate, "the polled copy of a pushed change is a duplicate")
		assert.Equal(t, first.Event.ID, res[0].Event.ID)
		assert.False(t, res[1].Duplicate)
		assert.True(t, res[2].Duplicate, "one change twice in a poll is stored once")
		evs, err := e.s.ListEvents(e.ctx, acme, store.EventFilter{}, store.Page{})
		require.NoError(t, err)
		assert.Len(t, evs, 2)
	},
	"Tenancy": func(t *testing.T, h *harness) {
		e := h.env(t)
		c := e.connection("acme")
		_, err := e.s.GetPollState(e.ctx, store.Consumer("globex"), c.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = e.s.GetPollState(e.ctx, store.Scope{}, c.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = e.s.ClaimPoll(e.ctx, "no-such-connection", store.Now(), store.Now().Add(time.Minute))
		require.ErrorIs(t, err, store.ErrNotFound)
		now := store.Now()
		claim, err := e.s.ClaimPoll(e.ctx, c.ID, now, now.Add(time.Minute))
		require.NoError(t, err)
		_, err = e.s.CommitPoll(e.ctx, store.Consumer("globex"), &store.PollCommit{ConnectionID: c.ID, Lease: claim.Lease,
			Events: []*event.Event{polledEvent(c, "k", "{}")}})
		require.ErrorIs(t, err, store.ErrOutOfScope)
		// The poll state goes with its connection (a lease held included).
		require.NoError(t, e.s.DeleteConnection(e.ctx, store.Consumer("acme"), c.ID))
		_, err = e.s.GetPollState(e.ctx, store.Consumer("acme"), c.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = e.s.ClaimPoll(e.ctx, c.ID, store.Now(), store.Now().Add(time.Minute))
		require.ErrorIs(t, err, store.ErrNotFound)
	},
	"OnePollJobPerConnection": func(t *testing.T, h *harness) {
		e := h.env(t)
		a := e.connection("acme", func(c *store.Connection) { c.ServiceID = "pollme" })
		b := e.connection("globex", func(c *store.Connection) { c.ServiceID = "pollme" })
		e.connection("acme", func(c *store.Connection) { c.ServiceID = "other" })
		e.connection("acme", func(c *store.Connection) { c.ServiceID = "pollme"; c.Status = store.ConnectionDisabled })
		refs, err := e.s.PollableConnections(e.ctx, []string{"pollme"})
		require.NoError(t, err)
		ids := []string{}
		for _, r := range refs {
			ids = append(ids, r.ConnectionID)
			assert.Equal(t, "pollme", r.ServiceID)
		}
		assert.ElementsMatch(t, []string{a.ID, b.ID}, ids)

		require.NoError(t, e.s.QueuePolls(e.ctx, refs))
		require.Eventually(t, func() bool { return PollJobsWorked(a.ID) == 1 && PollJobsWorked(b.ID) == 1 }, waitFor, 10*time.Millisecond)
		// The jobs are snoozed (scheduled): queueing again adds none.
		require.NoError(t, e.s.QueuePolls(e.ctx, refs))
		require.NoError(t, e.s.QueuePolls(e.ctx, refs[:1]))
		time.Sleep(300 * time.Millisecond)
		assert.Equal(t, 1, PollJobsWorked(a.ID))
		assert.Equal(t, 1, PollJobsWorked(b.ID))
	},
}
