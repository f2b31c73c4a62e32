// Package secret seals secrets at rest and makes new ones.
//
// Subscription signing secrets and connection credentials are stored sealed
// with AES-256-GCM under a master key. The key comes from
// SWITCHBOARD_MASTER_KEY or, on the embedded store, from a key file created in
// the data directory on first start. Each sealed value carries a key id byte
// so keys can be rotated later without re-encrypting in place.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the length of a master key: AES-256.
const KeySize = 32

const version byte = 1

// ErrTampered means a sealed value did not authenticate: wrong master key or
// modified ciphertext.
var ErrTampered = errors.New("sealed secret did not authenticate (wrong master key or corrupted value)")

// Box seals and opens secrets with one master key.
type Box struct {
	aead cipher.AEAD
}

// NewBox returns a Box for a 32-byte master key.
func NewBox(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("master key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("creating cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("creating GCM: %w", err)
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts plaintext; the result is version || nonce || ciphertext.
// An empty plaintext seals to nil so optional secrets stay empty.
func (b *Box) Seal(plaintext []byte) ([]byte, error) {
	if len(plaintext) == 0 {
		return nil, nil
	}
	out := make([]byte, 1+b.aead.NonceSize(), 1+b.aead.NonceSize()+len(plaintext)+b.aead.Overhead())
	out[0] = version
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("reading nonce: %w", err)
	}
	return b.aead.Seal(out, out[1:1+b.aead.NonceSize()], plaintext, []byte{version}), nil
}

// Open decrypts what Seal produced.
func (b *Box) Open(sealed []byte) ([]byte, error) {
	if len(sealed) == 0 {
		return nil, nil
	}
	n := b.aead.NonceSize()
	if len(sealed) < 1+n+b.aead.Overhead() || sealed[0] != version {
		return nil, ErrTampered
	}
	pt, err := b.aead.Open(nil, sealed[1:1+n], sealed[1+n:], sealed[:1])
	if err != nil {
		return nil, ErrTampered
	}
	return pt, nil
}

// ParseKey reads a master key given as 64 hex characters or standard/URL
// base64 of 32 bytes. Any other string of at least 32 characters is
// stretched with SHA-256, so a long passphrase works too.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) == KeySize {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == KeySize {
			return b, nil
		}
	}
	if len(s) >= 32 {
		sum := sha256.Sum256([]byte(s))
		return sum[:], nil
	}
	return nil, errors.New("master key must be 32 bytes as hex or base64, or a passphrase of at least 32 characters")
}

// fingerprintLabel is what a master key's fingerprint is the MAC of; its
// version lets the scheme change without a fingerprint of one kind being
// compared with one of another.
const fingerprintLabel = "switchboard key fingerprint v1"

// Fingerprint identifies a master key without revealing it:
// HMAC-SHA256(key, "switchboard key fingerprint v1"). The database records
// it so that a hub started with another key than the one its secrets are
// sealed with is refused.
func Fingerprint(key []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(fingerprintLabel))
	return m.Sum(nil)
}

// ReadKeyFile reads a master key file (hex, base64 or a long passphrase,
// as ParseKey takes) and returns the key and the file's permission bits.
func ReadKeyFile(path string) ([]byte, fs.FileMode, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("reading master key file %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, 0, fmt.Errorf("reading master key file %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("reading master key file %s: not a regular file", path)
	}
	// A key is at most a few hundred characters; the cap keeps a wrong
	// path (a log file, a device) from being read whole.
	raw, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return nil, 0, fmt.Errorf("reading master key file %s: %w", path, err)
	}
	key, err := ParseKey(string(raw))
	if err != nil {
		return nil, 0, fmt.Errorf("reading master key file %s: %w", path, err)
	}
	return key, st.Mode().Perm(), nil
}

// KeyFileName is the master key file created in the data directory.
const KeyFileName = "master.key"

// LoadOrCreateKeyFile reads the master key file in dir, creating it (mode
// 0600, 32 random bytes, hex) if it does not exist. created reports whether
// it was made now.
func LoadOrCreateKeyFile(dir string) (key []byte, created bool, err error) {
	path := filepath.Join(dir, KeyFileName)
	raw, err := os.ReadFile(path)
	if err == nil {
		key, err := ParseKey(string(raw))
		if err != nil {
			return nil, false, fmt.Errorf("reading master key file %s: %w", path, err)
		}
		return key, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("reading master key file %s: %w", path, err)
	}
	key = make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, false, fmt.Errorf("generating master key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("creating master key file %s: %w", path, err)
	}
	if _, err := f.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
		f.Close()
		return nil, false, fmt.Errorf("writing master key file %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, false, fmt.Errorf("syncing master key file %s: %w", path, err)
	}
	return key, true, f.Close()
}

// WebhookSecretPrefix marks Standard Webhooks signing secrets.
const WebhookSecretPrefix = "whsec_"

// NewWebhookSecret returns a fresh signing secret: whsec_ + base64 of 32
// random bytes (Standard Webhooks asks for 24 to 64).
func NewWebhookSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating webhook secret: %w", err)
	}
	return WebhookSecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// Token returns n random bytes as unpadded URL-safe base64: for API keys and
// inbound URL tokens.
func Token(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
