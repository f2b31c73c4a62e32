package secret

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBoxRoundTripAndTamper(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{7}, KeySize)
	box, err := NewBox(key)
	require.NoError(t, err)

	sealed, err := box.Seal([]byte("whsec_abc"))
	require.NoError(t, err)
	require.NotContains(t, string(sealed), "whsec_abc")

	again, err := box.Seal([]byte("whsec_abc"))
	require.NoError(t, err)
	require.NotEqual(t, sealed, again, "nonces must differ")

	pt, err := box.Open(sealed)
	require.NoError(t, err)
	require.Equal(t, "whsec_abc", string(pt))

	sealed[len(sealed)-1] ^= 1
	_, err = box.Open(sealed)
	require.ErrorIs(t, err, ErrTampered)

	other, err := NewBox(bytes.Repeat([]byte{8}, KeySize))
	require.NoError(t, err)
	_, err = other.Open(again)
	require.ErrorIs(t, err, ErrTampered)

	empty, err := box.Seal(nil)
	require.NoError(t, err)
	require.Nil(t, empty)
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	raw := bytes.Repeat([]byte{0xab}, KeySize)
	for name, tc := range map[string]struct {
		in      string
		wantErr bool
	}{
		"hex":        {in: strings.Repeat("ab", 32)},
		"base64":     {in: base64.StdEncoding.EncodeToString(raw)},
		"passphrase": {in: strings.Repeat("x", 40)},
		"short":      {in: "too-short", wantErr: true},
	} {
		t.Run(name, func(t *testing.T) {
			k, err := ParseKey(tc.in)
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Len(t, k, KeySize)
		})
	}
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	k1, created, err := LoadOrCreateKeyFile(dir)
	require.NoError(t, err)
	require.True(t, created)
	st, err := os.Stat(filepath.Join(dir, KeyFileName))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	k2, created, err := LoadOrCreateKeyFile(dir)
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, k1, k2)
}

func TestNewWebhookSecret(t *testing.T) {
	t.Parallel()
	s, err := NewWebhookSecret()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(s, WebhookSecretPrefix))
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, WebhookSecretPrefix))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(b), 24)
}

func TestFingerprintIdentifiesTheKeyWithoutRevealingIt(t *testing.T) {
	t.Parallel()
	a := bytes.Repeat([]byte{1}, KeySize)
	b := bytes.Repeat([]byte{2}, KeySize)
	require.Len(t, Fingerprint(a), 32)
	require.Equal(t, Fingerprint(a), Fingerprint(bytes.Clone(a)), "stable for one key")
	require.NotEqual(t, Fingerprint(a), Fingerprint(b))
	require.False(t, bytes.Contains(Fingerprint(a), a[:8]), "not the key")
	// Pinned: a recorded fingerprint must keep matching across versions.
	require.Equal(t, "296254558f4e0f5db08497ffa10d0d5fcc2d587a3d96390147eaeb27ec6e0516", hex.EncodeToString(Fingerprint(a)))
}
