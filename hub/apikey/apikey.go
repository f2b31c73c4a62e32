// Package apikey makes, parses and checks the API keys that authenticate
// requests to the REST API.
//
// A key reads sb_<id>_<secret>: the id is short, random and stored in clear so
// a request's key is found with one lookup; the secret is 32 random bytes.
// Only the SHA-256 of the whole key is stored and it is compared in constant
// time, so a copy of the database does not hand out working keys and a
// timing probe learns nothing about the hash.
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/switchboardhq/switchboard/hub/store"
)

// Prefix starts every generated key, so a leaked key is recognisable by
// secret scanners and by eye.
const Prefix = "sb_"

const (
	idBytes     = 8  // 16 hex characters: enough to never collide among one hub's keys
	secretBytes = 32 // 256 bits of secret
)

// Scopes a key can carry. Each route needs one; Admin implies them all.
const (
	ScopeWebhooksRead     = "webhooks:read"     // list and read subscriptions, events and logs
	ScopeWebhooksWrite    = "webhooks:write"    // create, change, rotate and delete subscriptions
	ScopeEventsWrite      = "events:write"      // publish and replay events
	ScopeConnectionsWrite = "connections:write" // manage vault connections
	ScopeAdmin            = "admin"             // everything, including key management
)

// AllScopes lists every scope, in the order they are documented.
var AllScopes = []string{ScopeWebhooksRead, ScopeWebhooksWrite, ScopeEventsWrite, ScopeConnectionsWrite, ScopeAdmin}

// BootstrapID is the id of the key given by SWITCHBOARD_API_KEY. It is never
// stored, so it cannot clash with a generated id (those are hex).
const BootstrapID = "bootstrap"

// ErrMalformed means a string is not shaped like a generated key.
var ErrMalformed = errors.New("malformed API key")

// ValidScope reports whether s is a scope this hub knows, so a typo in
// `keys create --scope` is refused instead of producing a useless key.
func ValidScope(s string) bool { return slices.Contains(AllScopes, s) }

// Generate makes a new key, bound to consumerID when it is not empty. The
// plaintext is returned once for the caller to show; k holds only its hash
// and is ready for store.CreateAPIKey.
func Generate(name string, scopes []string, consumerID string) (plaintext string, k *store.APIKey, err error) {
	sorted, err := CheckScopes(scopes, consumerID != "")
	if err != nil {
		return "", nil, err
	}
	id, plaintext, err := newToken(Prefix)
	if err != nil {
		return "", nil, fmt.Errorf("generating API key: %w", err)
	}
	return plaintext, &store.APIKey{
		ID:         id,
		Name:       name,
		Hash:       Hash(plaintext),
		Scopes:     sorted,
		ConsumerID: consumerID,
		CreatedAt:  time.Now().UTC(),
	}, nil
}

// ErrBoundAdmin refuses admin to a credential bound to one consumer: admin
// manages keys and reaches every consumer.
var ErrBoundAdmin = errors.New("a key or session bound to one consumer cannot hold the admin scope")

// CheckScopes checks a credential's scopes (at least one, each known, no
// admin when bound) and returns them sorted without repeats.
func CheckScopes(scopes []string, bound bool) ([]string, error) {
	if len(scopes) == 0 {
		return nil, errors.New("an API key needs at least one scope")
	}
	for _, s := range scopes {
		if !ValidScope(s) {
			return nil, fmt.Errorf("unknown scope %q (valid: %s)", s, strings.Join(AllScopes, ", "))
		}
		if bound && s == ScopeAdmin {
			return nil, ErrBoundAdmin
		}
	}
	sorted := slices.Clone(scopes)
	slices.Sort(sorted)
	return slices.Compact(sorted), nil
}

// newToken makes prefix<id>_<secret> with a random hex id and a random
// URL-safe secret.
func newToken(prefix string) (id, plaintext string, err error) {
	raw := make([]byte, idBytes+secretBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", "", err
	}
	id = hex.EncodeToString(raw[:idBytes])
	return id, prefix + id + "_" + base64.RawURLEncoding.EncodeToString(raw[idBytes:]), nil
}

// Parse returns the id part of a generated key, the part used to look the
// key up. It checks the shape only; Verify checks the secret.
func Parse(plaintext string) (id string, err error) { return parseToken(Prefix, plaintext) }

// SessionPrefix starts every consumer session token: sbs_<id>_<secret>.
const SessionPrefix = "sbs_"

// NewSessionToken makes a session token; the store keeps its id and Hash.
func NewSessionToken() (id, plaintext string, err error) {
	id, plaintext, err = newToken(SessionPrefix)
	if err != nil {
		return "", "", fmt.Errorf("generating session token: %w", err)
	}
	return id, plaintext, nil
}

// ParseSession returns the id part of a session token.
func ParseSession(plaintext string) (id string, err error) {
	return parseToken(SessionPrefix, plaintext)
}

func parseToken(prefix, plaintext string) (string, error) {
	rest, ok := strings.CutPrefix(plaintext, prefix)
	if !ok {
		return "", ErrMalformed
	}
	id, sec, ok := strings.Cut(rest, "_")
	if !ok || len(id) != 2*idBytes || sec == "" {
		return "", ErrMalformed
	}
	if _, err := hex.DecodeString(id); err != nil {
		return "", ErrMalformed
	}
	return id, nil
}

// Hash is what is stored for a key: the SHA-256 of the whole key string.
func Hash(plaintext string) []byte {
	sum := sha256.Sum256([]byte(plaintext))
	return sum[:]
}

// Verify reports whether plaintext is the key k was made from and k is not
// revoked. The hashes are compared in constant time.
func Verify(k *store.APIKey, plaintext string) bool {
	if k == nil {
		// Spend the same work as a real comparison so an unknown id and a
		// wrong secret take equally long.
		subtle.ConstantTimeCompare(Hash(plaintext), make([]byte, sha256.Size))
		return false
	}
	match := subtle.ConstantTimeCompare(Hash(plaintext), k.Hash) == 1
	return match && k.RevokedAt == nil
}

// Bootstrap turns the SWITCHBOARD_API_KEY value (any string) into an
// in-memory key with every scope, so scripted setups and tests can call the
// API without creating a key first. It is never stored; Verify checks it like
// any other key.
func Bootstrap(plaintext string) *store.APIKey {
	return &store.APIKey{
		ID:     BootstrapID,
		Name:   "SWITCHBOARD_API_KEY",
		Hash:   Hash(plaintext),
		Scopes: slices.Clone(AllScopes),
	}
}
