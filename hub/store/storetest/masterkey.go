package storetest

import (
	"bytes"
	"crypto/rand"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/secret"
	"github.com/switchboardhq/switchboard/hub/store"
)

// Opener opens one more handle on the same database with the given
// sealer, its queue started with Workers(), closed when the test ends.
type Opener func(t *testing.T, sealer store.Sealer) store.Store

// RunMasterKey runs the master key part of the conformance suite, which
// needs several handles on one database sealing with different keys (as
// hubs started with different master keys would be). newDatabase creates a
// fresh, empty database and returns how to open handles on it.
//
// It pins down:
//   - ClaimMasterKeyFingerprint records the first fingerprint claimed and
//     returns it to every later claim, from any handle; MasterKeyFingerprint
//     reads it (nil before).
//   - A subscription whose secrets were sealed under another key reads back
//     with SecretUnreadable and no secrets, from GetSubscription,
//     ListSubscriptions, FanoutTargets, RetryTarget and a dispatcher's
//     handover, and the other subscriptions of the same event are unharmed.
//   - Updating such a subscription keeps its sealed secrets (the right key
//     still opens them); setting a new Secret replaces them; deleting it works.
func RunMasterKey(t *testing.T, newDatabase func(t *testing.T) Opener) {
	t.Helper()
	for _, name := range slices.Sorted(maps.Keys(masterKeyTests)) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			masterKeyTests[name](t, newDatabase(t))
		})
	}
}

// NewSealer returns a Box with a fresh random master key.
func NewSealer(t testing.TB) *secret.Box {
	t.Helper()
	key := make([]byte, secret.KeySize)
	_, err := rand.Read(key)
	require.NoError(t, err)
	box, err := secret.NewBox(key)
	require.NoError(t, err)
	return box
}

var masterKeyTests = map[string]func(*testing.T, Opener){
	"FingerprintFirstClaimWins": func(t *testing.T, open Opener) {
		ctx := t.Context()
		a, b := open(t, NewSealer(t)), open(t, NewSealer(t))
		got, err := a.MasterKeyFingerprint(ctx)
		require.NoError(t, err)
		assert.Nil(t, got, "a fresh database records no fingerprint")

		fpA, fpB := bytes.Repeat([]byte{0xa}, 32), bytes.Repeat([]byte{0xb}, 32)
		stored, err := a.ClaimMasterKeyFingerprint(ctx, fpA)
		require.NoError(t, err)
		assert.Equal(t, fpA, stored, "the first claim records its fingerprint")
		stored, err = a.ClaimMasterKeyFingerprint(ctx, fpA)
		require.NoError(t, err)
		assert.Equal(t, fpA, stored, "claiming the same fingerprint again")
		stored, err = b.ClaimMasterKeyFingerprint(ctx, fpB)
		require.NoError(t, err)
		assert.Equal(t, fpA, stored, "a later claim with another key gets the recorded one, unchanged")
		got, err = b.MasterKeyFingerprint(ctx)
		require.NoError(t, err)
		assert.Equal(t, fpA, got)
	},
	"FingerprintConcurrentClaimsAgree": func(t *testing.T, open Opener) {
		// Nodes starting together against a fresh database: one claim
		// wins and every node is told the same fingerprint.
		const nodes = 6
		handles := make([]store.Store, nodes)
		for i := range handles {
			handles[i] = open(t, NewSealer(t))
		}
		got := make([][]byte, nodes)
		errs := make([]error, nodes)
		var wg sync.WaitGroup
		for i, h := range handles {
			wg.Go(func() {
				got[i], errs[i] = h.ClaimMasterKeyFingerprint(t.Context(), bytes.Repeat([]byte{byte(i + 1)}, 32))
			})
		}
		wg.Wait()
		for i := range nodes {
			require.NoError(t, errs[i], "node %d", i)
			require.NotEmpty(t, got[i], "node %d", i)
			assert.Equal(t, got[0], got[i], "node %d", i)
		}
	},
	"UnreadableSubscriptionFailsAlone": func(t *testing.T, open Opener) {
		ctx := t.Context()
		otherKey, ours := open(t, NewSealer(t)), open(t, NewSealer(t))
		foreign := (&env{t: t, ctx: ctx, s: otherKey}).subscription(func(s *store.Subscription) {
			s.PreviousSecret = "whsec_cHJldmlvdXNwcmV2aW91c3ByZXZpb3VzcHJldmlvdXM="
		})
		e := &env{t: t, ctx: ctx, s: ours}
		good := e.subscription()

		got, err := ours.GetSubscription(ctx, store.AllConsumers(), foreign.ID)
		require.NoError(t, err, "a secret that does not open must not fail the read")
		assert.True(t, got.SecretUnreadable)
		assert.Empty(t, got.Secret)
		assert.Empty(t, got.PreviousSecret)
		assert.Equal(t, foreign.DeliveryURL, got.DeliveryURL)

		list, err := ours.ListSubscriptions(ctx, store.AllConsumers(), store.Page{})
		require.NoError(t, err, "one unreadable subscription must not fail the list")
		require.Len(t, list, 2)
		for _, s := range list {
			assert.Equal(t, s.ID == foreign.ID, s.SecretUnreadable, "subscription %s", s.ID)
		}

		res := e.publish()
		ev, targets, err := ours.FanoutTargets(ctx, res.Event.ID)
		require.NoError(t, err, "one unreadable subscription must not fail the event's fan-out")
		require.Equal(t, res.Event.ID, ev.ID)
		require.Len(t, targets, 2)
		byID := map[string]*store.Target{}
		for _, tg := range targets {
			byID[tg.Subscription.ID] = tg
		}
		assert.True(t, byID[foreign.ID].Subscription.SecretUnreadable)
		assert.False(t, byID[good.ID].Subscription.SecretUnreadable)
		assert.Equal(t, good.Secret, byID[good.ID].Subscription.Secret)

		_, rt, err := ours.RetryTarget(ctx, byID[foreign.ID].Delivery.ID)
		require.NoError(t, err)
		assert.True(t, rt.Subscription.SecretUnreadable)

		// The in-process handover gets both as well.
		d := &dispatcher{}
		e.withDispatcher(d)
		res = e.publish()
		_, released, dispatched := d.counts()
		require.Equal(t, 1, dispatched, "the event is handed over, not sent to the queue")
		assert.Zero(t, released)
		handed := d.dispatched[res.Event.ID]
		require.Len(t, handed, 2)
		for _, tg := range handed {
			assert.Equal(t, tg.Subscription.ID == foreign.ID, tg.Subscription.SecretUnreadable)
		}

		// Changing its configuration keeps the sealed secrets as they are:
		// the key that sealed them still opens them.
		got.Description = "changed while unreadable"
		require.NoError(t, ours.UpdateSubscription(ctx, store.AllConsumers(), got))
		assert.True(t, got.SecretUnreadable)
		back, err := otherKey.GetSubscription(ctx, store.AllConsumers(), foreign.ID)
		require.NoError(t, err)
		assert.False(t, back.SecretUnreadable)
		assert.Equal(t, foreign.Secret, back.Secret, "secret kept")
		assert.Equal(t, foreign.PreviousSecret, back.PreviousSecret, "previous secret kept")
		assert.Equal(t, "changed while unreadable", back.Description)

		// A rotation replaces them with secrets this key opens.
		got.Secret = "whsec_bmV3bmV3bmV3bmV3bmV3bmV3bmV3bmV3bmV3bmV3bmU="
		require.NoError(t, ours.UpdateSubscription(ctx, store.AllConsumers(), got))
		assert.False(t, got.SecretUnreadable)
		back, err = ours.GetSubscription(ctx, store.AllConsumers(), foreign.ID)
		require.NoError(t, err)
		assert.False(t, back.SecretUnreadable)
		assert.Equal(t, got.Secret, back.Secret)
		assert.Empty(t, back.PreviousSecret)

		require.NoError(t, ours.DeleteSubscription(ctx, store.AllConsumers(), foreign.ID))
		_, err = ours.GetSubscription(ctx, store.AllConsumers(), foreign.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
	},
}
