package store

import (
	"encoding/json"
	"fmt"
	"time"
)

// SealString seals a secret for storage. An empty secret stays empty (nil),
// so optional secrets such as a subscription's previous secret need no flag.
func SealString(s Sealer, plaintext string) ([]byte, error) {
	if plaintext == "" {
		return nil, nil
	}
	sealed, err := s.Seal([]byte(plaintext))
	if err != nil {
		return nil, fmt.Errorf("sealing secret: %w", err)
	}
	return sealed, nil
}

// OpenString opens what SealString produced.
func OpenString(s Sealer, sealed []byte) (string, error) {
	if len(sealed) == 0 {
		return "", nil
	}
	pt, err := s.Open(sealed)
	if err != nil {
		return "", fmt.Errorf("opening sealed secret: %w", err)
	}
	return string(pt), nil
}

// OpenConnection opens a connection's sealed inbound token and credentials
// into c, as every store reads them back. No sealed credentials means none
// (a nil map).
func OpenConnection(s Sealer, c *Connection, token, credentials []byte) error {
	t, err := OpenString(s, token)
	if err != nil {
		return fmt.Errorf("opening inbound token of connection %s: %w", c.ID, err)
	}
	c.Token = t
	if credentials == nil {
		return nil
	}
	plain, err := s.Open(credentials)
	if err != nil {
		return fmt.Errorf("opening credentials of connection %s: %w", c.ID, err)
	}
	if err := json.Unmarshal(plain, &c.Credentials); err != nil {
		// The error would quote the plaintext; say only where it failed.
		return fmt.Errorf("reading credentials of connection %s: not a JSON object of strings", c.ID)
	}
	return nil
}

// ConnectionColumns checks c's JSON documents, normalises empty settings to
// {} and returns settings, sealed credentials and registrations (nil or the
// JSON text) as every store keeps them.
func ConnectionColumns(s Sealer, c *Connection) (settings string, credentials []byte, registrations any, err error) {
	if len(c.Settings) == 0 {
		c.Settings = json.RawMessage(`{}`)
	}
	if !json.Valid(c.Settings) {
		return "", nil, nil, fmt.Errorf("connection %s: settings are not valid JSON", c.ID)
	}
	if len(c.Registrations) > 0 {
		if !json.Valid(c.Registrations) {
			return "", nil, nil, fmt.Errorf("connection %s: registrations are not valid JSON", c.ID)
		}
		registrations = string(c.Registrations)
	}
	if c.Credentials != nil {
		plain, err := json.Marshal(c.Credentials)
		if err != nil {
			return "", nil, nil, fmt.Errorf("encoding credentials of connection %s: %w", c.ID, err)
		}
		if credentials, err = s.Seal(plain); err != nil {
			return "", nil, nil, fmt.Errorf("sealing credentials of connection %s: %w", c.ID, err)
		}
	}
	return string(c.Settings), credentials, registrations, nil
}

// SealedSubscription is a subscription row as a store reads it, its secrets
// still sealed, so that they are opened outside any transaction and once
// per subscription.
type SealedSubscription struct {
	Subscription
	SealedSecret, SealedPrevious []byte
	SealedSigningKey             []byte
}

// Open returns a copy of the subscription with its secrets opened. s itself
// is left alone: a row may be shared (the events of one combined publish
// share their subscriptions) and opened by several goroutines at once.
//
// A secret that does not open (sealed under another master key, or
// corrupted) is no error here: the copy comes back with SecretUnreadable set
// and no secrets, so that one such subscription can still be listed, changed
// and deleted, and fails its own deliveries (ErrSecretUnreadable) instead of
// every read or fan-out it is part of. The error return is kept for the
// callers' sake; it is always nil.
func (s *SealedSubscription) Open(sealer Sealer) (*Subscription, error) {
	opened := s.Subscription
	secret, err := OpenString(sealer, s.SealedSecret)
	if err == nil {
		var previous string
		if previous, err = OpenString(sealer, s.SealedPrevious); err == nil {
			var key string
			if key, err = OpenString(sealer, s.SealedSigningKey); err == nil {
				opened.Secret, opened.PreviousSecret, opened.SigningKey = secret, previous, key
				return &opened, nil
			}
		}
	}
	opened.Secret, opened.PreviousSecret, opened.SigningKey = "", "", ""
	opened.SecretUnreadable = true
	return &opened, nil
}

// SealSubscription rounds sub's optional times as every store keeps them
// and returns its secrets sealed.
func SealSubscription(sealer Sealer, sub *Subscription) (secret, previous []byte, err error) {
	if secret, err = SealString(sealer, sub.Secret); err != nil {
		return nil, nil, fmt.Errorf("subscription %s: %w", sub.ID, err)
	}
	if previous, err = SealString(sealer, sub.PreviousSecret); err != nil {
		return nil, nil, fmt.Errorf("subscription %s previous secret: %w", sub.ID, err)
	}
	for _, t := range []**time.Time{&sub.PreviousSecretExpiresAt, &sub.FailStreakStartedAt, &sub.LastFailedAt, &sub.LastSucceededAt} {
		if *t != nil {
			v := Time(**t)
			*t = &v
		}
	}
	return secret, previous, nil
}

// SealFormat returns the delivery_format and sealed signing_key columns of
// sub as every store keeps them: the format spelled out (FormatStandard for
// ""), the key sealed like the other secrets (nil when there is none).
// sub.DeliveryFormat is spelled out as stored.
func SealFormat(sealer Sealer, sub *Subscription) (format string, key []byte, err error) {
	switch format = sub.Format(); format {
	case FormatStandard, FormatApideck:
	default:
		return "", nil, fmt.Errorf("subscription %s: unknown delivery format %q", sub.ID, format)
	}
	sub.DeliveryFormat = format
	if key, err = SealString(sealer, sub.SigningKey); err != nil {
		return "", nil, fmt.Errorf("subscription %s signing key: %w", sub.ID, err)
	}
	return format, key, nil
}
