// Package signature signs and verifies webhook deliveries the way Standard
// Webhooks (https://www.standardwebhooks.com) specifies, so a subscriber can
// check them with any Standard Webhooks library instead of code of ours.
//
// A signature is "v1," + base64(HMAC-SHA256(key, id + "." + timestamp + "." +
// body)) where key is the base64-decoded secret without its "whsec_" prefix.
// While a rotated-out secret is still in its grace period a delivery carries
// one signature per valid secret, space-separated, and a verifier accepts the
// message when any of them matches.
package signature

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names, lower-case as the spec writes them (HTTP header names are
// case-insensitive; Go canonicalises them on the wire).
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix marks a Standard Webhooks symmetric secret.
const SecretPrefix = "whsec_"

// DefaultTolerance is how far a webhook-timestamp may be from the verifier's
// clock, both ways: the spec's recommended replay window.
const DefaultTolerance = 5 * time.Minute

// Errors Verify returns (wrapped), so a receiver can tell a stale or replayed
// message from a forged one and a misconfigured secret from both.
var (
	// ErrMissingHeaders: webhook-id, webhook-timestamp or webhook-signature is absent.
	ErrMissingHeaders = errors.New("missing webhook-id, webhook-timestamp or webhook-signature header")
	// ErrBadTimestamp: webhook-timestamp is not unix seconds.
	ErrBadTimestamp = errors.New("webhook-timestamp is not a unix timestamp in seconds")
	// ErrTimestampTooOld: the message is older than the tolerance (a replay or a slow queue).
	ErrTimestampTooOld = errors.New("webhook-timestamp is too old")
	// ErrTimestampTooNew: the message is dated further ahead than the tolerance (clock skew).
	ErrTimestampTooNew = errors.New("webhook-timestamp is too far in the future")
	// ErrNoMatchingSignature: no v1 signature in the header matches the body and secret.
	ErrNoMatchingSignature = errors.New("no matching v1 signature")
	// ErrBadSecret: the secret is empty or not base64 (with or without "whsec_").
	ErrBadSecret = errors.New("secret must be base64, optionally prefixed with whsec_")
)

// DecodeSecret returns the HMAC key of a "whsec_<base64>" secret. The prefix
// is optional because some senders hand out the bare base64.
func DecodeSecret(secret string) ([]byte, error) {
	s := strings.TrimPrefix(strings.TrimSpace(secret), SecretPrefix)
	if s == "" {
		return nil, ErrBadSecret
	}
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		// Unpadded base64 is common in copy-pasted secrets.
		if key, err = base64.RawStdEncoding.DecodeString(s); err != nil {
			return nil, ErrBadSecret
		}
	}
	if len(key) == 0 {
		return nil, ErrBadSecret
	}
	return key, nil
}

// Sign returns the "v1,<base64>" signature of one message: body as sent,
// msgID as in webhook-id and ts as in webhook-timestamp (whole seconds).
func Sign(secret, msgID string, ts time.Time, body []byte) (string, error) {
	key, err := DecodeSecret(secret)
	if err != nil {
		return "", err
	}
	return "v1," + base64.StdEncoding.EncodeToString(mac(key, msgID, ts.Unix(), body)), nil
}

// Header returns the webhook-signature value for several secrets: one v1
// signature per secret, space-separated, so receivers still holding the
// previous secret keep verifying during a rotation.
func Header(secrets []string, msgID string, ts time.Time, body []byte) (string, error) {
	if len(secrets) == 0 {
		return "", fmt.Errorf("signing message %s: %w", msgID, ErrBadSecret)
	}
	sigs := make([]string, 0, len(secrets))
	for i, s := range secrets {
		sig, err := Sign(s, msgID, ts, body)
		if err != nil {
			return "", fmt.Errorf("signing message %s with secret %d: %w", msgID, i, err)
		}
		sigs = append(sigs, sig)
	}
	return strings.Join(sigs, " "), nil
}

// Verify checks a received message: the three headers are present, the
// timestamp is within tolerance of now (DefaultTolerance when tolerance is 0)
// and one of the v1 signatures matches body under secret. Comparison is
// constant-time. It returns nil or one of the package's errors, wrapped.
func Verify(secret string, header http.Header, body []byte, tolerance time.Duration, now time.Time) error {
	key, err := DecodeSecret(secret)
	if err != nil {
		return err
	}
	id := header.Get(HeaderID)
	tsRaw := header.Get(HeaderTimestamp)
	sigs := header.Get(HeaderSignature)
	if id == "" || tsRaw == "" || sigs == "" {
		return ErrMissingHeaders
	}
	ts, err := strconv.ParseInt(strings.TrimSpace(tsRaw), 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrBadTimestamp, tsRaw)
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	sent := time.Unix(ts, 0)
	switch {
	case now.Sub(sent) > tolerance:
		return fmt.Errorf("%w: sent %s, %s before now (tolerance %s)", ErrTimestampTooOld, sent.UTC().Format(time.RFC3339), now.Sub(sent).Round(time.Second), tolerance)
	case sent.Sub(now) > tolerance:
		return fmt.Errorf("%w: sent %s, %s after now (tolerance %s)", ErrTimestampTooNew, sent.UTC().Format(time.RFC3339), sent.Sub(now).Round(time.Second), tolerance)
	}
	want := mac(key, id, ts, body)
	for _, sig := range strings.Fields(sigs) {
		version, enc, ok := strings.Cut(sig, ",")
		if !ok || version != "v1" {
			continue // other schemes (v1a asymmetric) are not ours to check
		}
		got, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			continue
		}
		if hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrNoMatchingSignature
}

func mac(key []byte, msgID string, ts int64, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msgID))
	h.Write([]byte{'.'})
	h.Write(strconv.AppendInt(nil, ts, 10))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}
