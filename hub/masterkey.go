package hub

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/switchboardhq/switchboard/hub/secret"
	"github.com/switchboardhq/switchboard/hub/store"
)

// Where the master key comes from, as errors name it.
const (
	envMasterKey      = "SWITCHBOARD_MASTER_KEY"
	flagMasterKeyFile = "--master-key-file"
)

// ErrMasterKeyMismatch: the master key given is not the one the database's
// secrets are sealed with (their recorded fingerprints differ).
var ErrMasterKeyMismatch = errors.New("master key does not match the database")

// checkKeySource validates where the master key is to come from, touching
// nothing: both sources at once are ambiguous, a configured key (or key
// file) must parse,
// and PostgreSQL needs one, because a key file generated in each node's
// data directory would give every node its own key and each would fail to
// open the others' secrets.
func checkKeySource(databaseURL, masterKey, masterKeyFile string) error {
	switch {
	case masterKey != "" && masterKeyFile != "":
		return fmt.Errorf("both %s and %s are set: give the master key one way", envMasterKey, flagMasterKeyFile)
	case masterKey != "":
		if _, err := secret.ParseKey(masterKey); err != nil {
			return fmt.Errorf("%s: %w", envMasterKey, err)
		}
	case masterKeyFile != "":
		if _, _, err := secret.ReadKeyFile(masterKeyFile); err != nil {
			return fmt.Errorf("%s: %w", flagMasterKeyFile, err)
		}
	case masterKeyFile == "" && databaseURL != "":
		return fmt.Errorf("the PostgreSQL store needs the master key every node shares: set %s or %s (no key file is generated in PostgreSQL mode)", envMasterKey, flagMasterKeyFile)
	}
	return nil
}

// masterKey is the key a process seals with and where it came from.
type masterKey struct {
	key []byte // nil: none (a client command before the first serve)
	// created is the key file made by this start, removed again if the
	// start fails, so a refused start leaves nothing behind.
	created string
}

// loadMasterKey reads the master key from SWITCHBOARD_MASTER_KEY, the
// --master-key-file or, on the embedded store, the key file in the data
// directory. Only a serving process creates that file when it is missing;
// client commands go on without a key (see keylessSealer).
// The caller has checked the source (checkKeySource).
func loadMasterKey(o StoreOptions, logger *slog.Logger) (masterKey, error) {
	switch {
	case o.MasterKey != "":
		k, err := secret.ParseKey(o.MasterKey)
		if err != nil {
			return masterKey{}, fmt.Errorf("%s: %w", envMasterKey, err)
		}
		return masterKey{key: k}, nil
	case o.MasterKeyFile != "":
		k, mode, err := secret.ReadKeyFile(o.MasterKeyFile)
		if err != nil {
			return masterKey{}, fmt.Errorf("%s: %w", flagMasterKeyFile, err)
		}
		if mode&0o077 != 0 {
			// The operator's file (perhaps a read-only secret mount): say
			// so rather than change it.
			logger.Warn("the master key file can be read by other users; make it mode 0600",
				"path", o.MasterKeyFile, "mode", fmt.Sprintf("%04o", mode))
		}
		return masterKey{key: k}, nil
	}
	path := filepath.Join(o.DataDir, secret.KeyFileName)
	k, mode, err := secret.ReadKeyFile(path)
	switch {
	case err == nil:
		if mode&0o077 != 0 {
			if err := os.Chmod(path, 0o600); err != nil {
				return masterKey{}, fmt.Errorf("tightening master key file %s to 0600: %w", path, err)
			}
			logger.Warn("tightened master key file permissions to 0600", "path", path, "was", fmt.Sprintf("%04o", mode))
		}
		return masterKey{key: k}, nil
	case !errors.Is(err, fs.ErrNotExist):
		return masterKey{}, err
	case !o.Serve:
		return masterKey{}, nil
	}
	k, created, err := secret.LoadOrCreateKeyFile(o.DataDir)
	if err != nil {
		return masterKey{}, err
	}
	mk := masterKey{key: k}
	if created {
		mk.created = path
		logger.Info("created master key file; back it up, secrets cannot be read without it", "path", path)
	}
	return mk, nil
}

// sealer is the Box of the key, or a keylessSealer without one.
func (mk masterKey) sealer(dataDir string) (store.Sealer, error) {
	if mk.key == nil {
		return keylessSealer{path: filepath.Join(dataDir, secret.KeyFileName)}, nil
	}
	return secret.NewBox(mk.key)
}

// discard removes a key file this start created; called when the start fails.
func (mk masterKey) discard(logger *slog.Logger) {
	if mk.created == "" {
		return
	}
	if err := os.Remove(mk.created); err != nil && !errors.Is(err, fs.ErrNotExist) {
		logger.Error("removing the master key file created by a failed start", "path", mk.created, "error", err)
	}
}

// checkFingerprint compares the key with the one the database records. A
// serving process records its key's fingerprint if none is recorded (the
// first start, or the first since fingerprints exist, once the key is seen
// to open the secrets already stored); a client command only compares.
// Without a key there is nothing to compare.
func checkFingerprint(ctx context.Context, st store.Store, mk masterKey, serve bool, keyFile string) error {
	if mk.key == nil {
		return nil
	}
	fp := secret.Fingerprint(mk.key)
	recorded, err := st.MasterKeyFingerprint(ctx)
	if err != nil {
		return fmt.Errorf("checking the master key: %w", err)
	}
	if recorded == nil && serve {
		// A database from before fingerprints may already hold secrets:
		// the key must open them before it is recorded as theirs.
		if n, err := unreadableSubscriptions(ctx, st); err != nil {
			return err
		} else if n > 0 {
			return mismatch(mk, keyFile, fmt.Sprintf("none of the %d newest subscriptions' secrets open with it", n))
		}
		if recorded, err = st.ClaimMasterKeyFingerprint(ctx, fp); err != nil {
			return fmt.Errorf("checking the master key: %w", err)
		}
	}
	if recorded == nil || hmac.Equal(recorded, fp) {
		return nil
	}
	return mismatch(mk, keyFile, "its secrets are sealed with another master key (fingerprints differ)")
}

// mismatch is the refusal of a master key, saying what to do.
func mismatch(mk masterKey, keyFile, why string) error {
	hint := fmt.Sprintf("set %s (or %s) to the key this database was first started with", envMasterKey, flagMasterKeyFile)
	if mk.created != "" {
		hint = fmt.Sprintf("%s was missing and a new key would not open the existing secrets: restore it from a backup, or %s", keyFile, hint)
	}
	return fmt.Errorf("%w: %s; %s. Refusing to start, since events accepted now could not be signed",
		ErrMasterKeyMismatch, why, hint)
}

// sampledSubscriptions is how many of the newest subscriptions a database
// without a fingerprint is checked against.
const sampledSubscriptions = 50

// unreadableSubscriptions returns how many of the newest subscriptions
// there are if the key opens none of their secrets, else 0. Some opening
// and some not (nodes that ran with different keys) is no reason to refuse
// a key that opens some: those that do not fail alone.
func unreadableSubscriptions(ctx context.Context, st store.Store) (int, error) {
	subs, err := st.ListSubscriptions(ctx, store.AllConsumers(), store.Page{Limit: sampledSubscriptions})
	if err != nil {
		return 0, fmt.Errorf("checking the master key against stored secrets: %w", err)
	}
	for _, s := range subs {
		if !s.SecretUnreadable {
			return 0, nil
		}
	}
	return len(subs), nil
}

// keylessSealer stands in for the master key in a client command run
// before any key exists (keys create on a fresh data directory): API keys
// need no sealing, and anything that does fails saying why.
type keylessSealer struct{ path string }

func (k keylessSealer) err() error {
	return fmt.Errorf("no master key: set %s or %s, or start switchboard serve once to create %s", envMasterKey, flagMasterKeyFile, k.path)
}

func (k keylessSealer) Seal([]byte) ([]byte, error) { return nil, k.err() }
func (k keylessSealer) Open([]byte) ([]byte, error) { return nil, k.err() }

// tightenDataDir makes a pre-existing data directory private (0700), as a
// new one is created: it holds the database and the master key.
func tightenDataDir(dir string, logger *slog.Logger) error {
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("checking data directory %s: %w", dir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("data directory %s is not a directory", dir)
	}
	if mode := st.Mode().Perm(); mode&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("tightening data directory %s to 0700: %w", dir, err)
		}
		logger.Warn("tightened data directory permissions to 0700", "path", dir, "was", fmt.Sprintf("%04o", mode))
	}
	return nil
}
