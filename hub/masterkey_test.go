package hub

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/secret"
	"github.com/switchboardhq/switchboard/hub/signature"
	"github.com/switchboardhq/switchboard/hub/store"
	"github.com/switchboardhq/switchboard/hub/store/postgres/pgtest"
	"github.com/switchboardhq/switchboard/hub/store/sqlite"
	"github.com/switchboardhq/switchboard/plugins/host"
)

func newMasterKey(t *testing.T) string {
	t.Helper()
	raw := make([]byte, secret.KeySize)
	_, err := rand.Read(raw)
	require.NoError(t, err)
	return hex.EncodeToString(raw)
}

// openClose opens a hub with cfg (its store only) and closes it again.
func openClose(t *testing.T, cfg Config) error {
	t.Helper()
	h, err := Open(t.Context(), cfg, nil, nil)
	if err == nil {
		h.closeStore()
	}
	return err
}

// requireKeyMismatch checks err is the refusal of another master key, in
// words an operator can act on.
func requireKeyMismatch(t *testing.T, err error) {
	t.Helper()
	require.ErrorIs(t, err, ErrMasterKeyMismatch)
	require.ErrorContains(t, err, "SWITCHBOARD_MASTER_KEY")
	require.ErrorContains(t, err, "--master-key-file")
}

func TestShortAPIKeyRefusedBeforeAnySideEffect(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	err := openClose(t, Config{DataDir: dir, APIKey: "x"})
	require.ErrorContains(t, err, "SWITCHBOARD_API_KEY")
	require.ErrorContains(t, err, "1 characters")
	require.ErrorContains(t, err, "at least 32")
	require.NotContains(t, err.Error(), `"x"`, "the key itself is not echoed")
	_, statErr := os.Stat(dir)
	require.ErrorIs(t, statErr, fs.ErrNotExist, "nothing is created before the configuration is valid")

	require.NoError(t, openClose(t, Config{DataDir: dir, APIKey: testAPIKey[:MinAPIKeyLength]}), "exactly the minimum is enough")
}

func TestAnotherMasterKeyIsRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keyA, keyB := newMasterKey(t), newMasterKey(t)
	require.NoError(t, openClose(t, Config{DataDir: dir, MasterKey: keyA, APIKey: testAPIKey}))

	requireKeyMismatch(t, openClose(t, Config{DataDir: dir, MasterKey: keyB, APIKey: testAPIKey}))

	// The same key as a file is the same key.
	keyFile := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(keyFile, []byte(keyA+"\n"), 0o600))
	require.NoError(t, openClose(t, Config{DataDir: dir, MasterKeyFile: keyFile, APIKey: testAPIKey}))
	require.NoError(t, openClose(t, Config{DataDir: dir, MasterKey: keyA, APIKey: testAPIKey}))

	// Client commands compare too, and never record.
	_, _, err := OpenStore(t.Context(), StoreOptions{DataDir: dir, MasterKey: keyB})
	requireKeyMismatch(t, err)
}

func TestLostKeyFileIsRefusedAndNotReplaced(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keyPath := filepath.Join(dir, secret.KeyFileName)
	require.NoError(t, openClose(t, Config{DataDir: dir, APIKey: testAPIKey}))
	original, err := os.ReadFile(keyPath)
	require.NoError(t, err)
	require.NoError(t, os.Remove(keyPath))

	err = openClose(t, Config{DataDir: dir, APIKey: testAPIKey})
	requireKeyMismatch(t, err)
	require.ErrorContains(t, err, keyPath+" was missing")
	_, statErr := os.Stat(keyPath)
	require.ErrorIs(t, statErr, fs.ErrNotExist, "a refused start leaves no new key file behind")

	require.NoError(t, os.WriteFile(keyPath, original, 0o600))
	require.NoError(t, openClose(t, Config{DataDir: dir, APIKey: testAPIKey}), "restoring the key file is the fix")
}

// TestDatabaseFromBeforeFingerprints: a database that holds secrets but no
// fingerprint (written before fingerprints existed) is checked by opening
// its secrets before a key is recorded as its own.
func TestDatabaseFromBeforeFingerprints(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keyA, keyB := newMasterKey(t), newMasterKey(t)
	raw, err := secret.ParseKey(keyA)
	require.NoError(t, err)
	box, err := secret.NewBox(raw)
	require.NoError(t, err)
	st, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(dir, "switchboard.db"), Sealer: box})
	require.NoError(t, err)
	whsec, err := secret.NewWebhookSecret()
	require.NoError(t, err)
	require.NoError(t, st.CreateSubscription(t.Context(), store.AllConsumers(), &store.Subscription{UnifiedAPI: "accounting",
		Status: store.StatusEnabled, DisabledReason: store.DisabledNone, DeliveryURL: "https://example.com/h",
		Events: []string{"*"}, Secret: whsec}))
	require.NoError(t, st.Close())

	err = openClose(t, Config{DataDir: dir, MasterKey: keyB, APIKey: testAPIKey})
	requireKeyMismatch(t, err)
	require.ErrorContains(t, err, "none of the 1 newest subscriptions' secrets open with it")
	require.NoError(t, openClose(t, Config{DataDir: dir, MasterKey: keyA, APIKey: testAPIKey}))
	requireKeyMismatch(t, openClose(t, Config{DataDir: dir, MasterKey: keyB, APIKey: testAPIKey}))
}

func TestMasterKeySourceRules(t *testing.T) {
	t.Parallel()
	keyFile := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(keyFile, []byte(newMasterKey(t)), 0o600))
	for name, tc := range map[string]struct {
		cfg  Config
		want []string
	}{
		"postgres without key": {
			Config{DatabaseURL: "postgres://127.0.0.1:1/none"},
			[]string{"PostgreSQL", "SWITCHBOARD_MASTER_KEY", "--master-key-file"},
		},
		"both sources": {
			Config{MasterKey: newMasterKey(t), MasterKeyFile: keyFile},
			[]string{"SWITCHBOARD_MASTER_KEY", "--master-key-file"},
		},
		"short key": {
			Config{MasterKey: "short"},
			[]string{"SWITCHBOARD_MASTER_KEY", "at least 32"},
		},
		"missing key file": {
			Config{MasterKeyFile: filepath.Join(t.TempDir(), "absent")},
			[]string{"--master-key-file", "absent"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "data")
			tc.cfg.DataDir, tc.cfg.APIKey = dir, testAPIKey
			err := openClose(t, tc.cfg)
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
			_, statErr := os.Stat(dir)
			require.ErrorIs(t, statErr, fs.ErrNotExist, "no data directory, no key file")
		})
	}
}

func TestPostgreSQLNodesWithDifferentKeys(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	dataDir := t.TempDir()
	cfg := Config{DataDir: dataDir, DatabaseURL: db, MasterKey: newMasterKey(t), APIKey: testAPIKey}
	require.NoError(t, openClose(t, cfg))
	other := cfg
	other.MasterKey = newMasterKey(t)
	requireKeyMismatch(t, openClose(t, other))
	require.NoError(t, openClose(t, cfg))
	entries, err := os.ReadDir(dataDir)
	require.NoError(t, err)
	require.Empty(t, entries, "PostgreSQL mode writes no key file (nor anything else) to the data directory")
}

func TestClientCommandsCreateNoKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, _, err := OpenStore(t.Context(), StoreOptions{DataDir: dir})
	require.NoError(t, err, "keys create works before the first serve")
	require.NoError(t, st.Close())
	_, statErr := os.Stat(filepath.Join(dir, secret.KeyFileName))
	require.ErrorIs(t, statErr, fs.ErrNotExist)

	// What needs the key says so.
	c := &store.Connection{ConsumerID: "acme", ServiceID: "dversum", TokenHash: []byte{1}, Token: "t", Credentials: map[string]string{"signing_secret": "s"}}
	st, _, err = OpenStore(t.Context(), StoreOptions{DataDir: dir})
	require.NoError(t, err)
	defer st.Close()
	err = st.CreateConnection(t.Context(), store.AllConsumers(), c)
	require.ErrorContains(t, err, "no master key")
	require.ErrorContains(t, err, "SWITCHBOARD_MASTER_KEY")
}

func TestFilesArePrivate(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	require.NoError(t, os.Mkdir(dir, 0o755))
	require.NoError(t, os.Chmod(dir, 0o755)) // whatever the umask
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	h, err := Open(t.Context(), Config{DataDir: dir, APIKey: testAPIKey}, logger, nil)
	require.NoError(t, err)
	_, err = h.store.ListAPIKeys(t.Context()) // something to touch the WAL
	require.NoError(t, err)

	mode := func(p string) fs.FileMode {
		st, err := os.Stat(p)
		require.NoError(t, err)
		return st.Mode().Perm()
	}
	assert.Equal(t, fs.FileMode(0o700), mode(dir), "pre-existing data directory tightened")
	assert.Contains(t, logs.String(), "tightened data directory permissions")
	db := filepath.Join(dir, "switchboard.db")
	for _, p := range []string{db, db + "-wal", db + "-shm", filepath.Join(dir, secret.KeyFileName)} {
		assert.Equal(t, fs.FileMode(0o600), mode(p), p)
	}
	h.closeStore()

	// Files another version left readable are tightened at the next start.
	require.NoError(t, os.Chmod(db, 0o644))
	require.NoError(t, os.Chmod(filepath.Join(dir, secret.KeyFileName), 0o644))
	logs.Reset()
	h, err = Open(t.Context(), Config{DataDir: dir, APIKey: testAPIKey}, logger, nil)
	require.NoError(t, err)
	h.closeStore()
	assert.Equal(t, fs.FileMode(0o600), mode(db))
	assert.Equal(t, fs.FileMode(0o600), mode(filepath.Join(dir, secret.KeyFileName)))
	assert.Contains(t, logs.String(), "tightened database file permissions")
	assert.Contains(t, logs.String(), "tightened master key file permissions")
}

// TestUnopenableSubscriptionFailsAlone runs a hub whose database holds a
// subscription sealed under another master key (as a node with the wrong
// key would have written it before fingerprints): the event's other
// subscription is delivered, the unopenable one gets a logged failed try
// naming the reason, and it can be read, changed, re-keyed and deleted.
func TestUnopenableSubscriptionFailsAlone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var (
		mu               sync.Mutex
		goodSecret       string
		goodGot, badGot  int
		goodVerifyFailed bool
	)
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		goodGot++
		if signature.Verify(goodSecret, r.Header, body, time.Minute, time.Now()) != nil {
			goodVerifyFailed = true
		}
	}))
	t.Cleanup(good.Close)
	bad := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		badGot++
	}))
	t.Cleanup(bad.Close)

	cfg := Config{Addr: "127.0.0.1:0", DataDir: dir, MasterKey: newMasterKey(t), APIKey: testAPIKey,
		AllowPrivateDestinations: true, RetrySchedule: []time.Duration{time.Hour}, Connectors: map[string]host.Command{}}
	require.NoError(t, openClose(t, cfg)) // the hub's key is the database's
	other, err := secret.ParseKey(newMasterKey(t))
	require.NoError(t, err)
	otherBox, err := secret.NewBox(other)
	require.NoError(t, err)
	st, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(dir, "switchboard.db"), Sealer: otherBox})
	require.NoError(t, err)
	whsec, err := secret.NewWebhookSecret()
	require.NoError(t, err)
	foreign := &store.Subscription{UnifiedAPI: "accounting", Status: store.StatusEnabled, DisabledReason: store.DisabledNone,
		DeliveryURL: bad.URL, Events: []string{"*"}, Secret: whsec}
	require.NoError(t, st.CreateSubscription(t.Context(), store.AllConsumers(), foreign))
	require.NoError(t, st.Close())

	n := startNode(t, cfg)

	var sub struct {
		Data struct{ ID, Secret string } `json:"data"`
	}
	require.Equal(t, http.StatusCreated, n.call(t, http.MethodPost, "/webhook/webhooks", map[string]any{
		"unified_api": "accounting", "status": "enabled", "delivery_url": good.URL, "events": []string{"*"},
	}, &sub))
	mu.Lock()
	goodSecret = sub.Data.Secret
	mu.Unlock()

	var pub struct {
		Data struct {
			ID         string
			Deliveries int
		} `json:"data"`
	}
	require.Equal(t, http.StatusAccepted, n.call(t, http.MethodPost, "/webhook/events", map[string]any{
		"event_type": "accounting.invoice.created", "consumer_id": "acme", "entity_id": "inv_1",
	}, &pub))
	require.Equal(t, 2, pub.Data.Deliveries)

	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return goodGot == 1
	}, 30*time.Second, 10*time.Millisecond, "the readable subscription is delivered")
	type logPage struct {
		Data []struct {
			Success        bool    `json:"success"`
			Error          *string `json:"error"`
			RetryScheduled bool    `json:"retry_scheduled"`
		} `json:"data"`
	}
	var logs logPage
	require.Eventually(t, func() bool {
		q := url.Values{"filter[subscription_id]": {foreign.ID}}
		require.Equal(t, http.StatusOK, n.call(t, http.MethodGet, "/webhook/logs?"+q.Encode(), nil, &logs))
		return len(logs.Data) == 1
	}, 30*time.Second, 20*time.Millisecond, "the unopenable subscription's try is logged")
	require.False(t, logs.Data[0].Success)
	require.NotNil(t, logs.Data[0].Error)
	assert.Contains(t, *logs.Data[0].Error, "signing secret cannot be opened with this master key")
	assert.True(t, logs.Data[0].RetryScheduled, "it fails on its own retry schedule")
	mu.Lock()
	assert.Zero(t, badGot, "nothing unsigned is sent")
	assert.False(t, goodVerifyFailed, "the readable subscription's delivery verifies")
	mu.Unlock()

	var got map[string]any
	require.Equal(t, http.StatusOK, n.call(t, http.MethodGet, "/webhook/webhooks/"+foreign.ID, nil, &got))
	assert.NotContains(t, got["data"], "secret")
	require.Equal(t, http.StatusOK, n.call(t, http.MethodGet, "/webhook/webhooks", nil, nil))
	require.Equal(t, http.StatusOK, n.call(t, http.MethodPatch, "/webhook/webhooks/"+foreign.ID,
		map[string]any{"description": "re-keyed below"}, nil))
	var rotated struct {
		Data struct{ Secret string } `json:"data"`
	}
	require.Equal(t, http.StatusOK, n.call(t, http.MethodPost, "/webhook/webhooks/"+foreign.ID+"/rotate-secret", nil, &rotated))
	assert.NotEmpty(t, rotated.Data.Secret)
	require.Equal(t, http.StatusOK, n.call(t, http.MethodDelete, "/webhook/webhooks/"+foreign.ID, nil, nil))
	require.NoError(t, n.stop())
}
