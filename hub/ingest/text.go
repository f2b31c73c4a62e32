package ingest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Provider payloads are stored as they came, but not every byte sequence can
// be: PostgreSQL refuses NUL characters (and lone UTF-16 surrogate escapes)
// in text and jsonb, so such a webhook used to fail with a 500 that the
// provider retried forever, while SQLite stored it and the hub delivered
// invalid JSON. The API refuses such input with a 400; a provider cannot fix
// its payload, so ingest repairs it instead, the same way on both stores:
// invalid UTF-8 becomes U+FFFD, NUL characters (raw or as \u0000 escapes)
// are dropped and a lone surrogate escape becomes \ufffd.

const replacement = "\uFFFD"

var (
	nulEscape = []byte(`\u0000`)
	// A surrogate escape starts \uD8..\uDF, in either case.
	surrogatePrefixes = [][]byte{[]byte(`\ud`), []byte(`\uD`)}
)

// cleanJSON returns raw with the repairs above; raw itself when it needs
// none (nearly always).
func cleanJSON(raw []byte) []byte {
	if utf8.Valid(raw) && bytes.IndexByte(raw, 0) < 0 && !bytes.Contains(raw, nulEscape) &&
		!bytes.Contains(raw, surrogatePrefixes[0]) && !bytes.Contains(raw, surrogatePrefixes[1]) {
		return raw
	}
	raw = bytes.ToValidUTF8(raw, []byte(replacement))
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		b := raw[i]
		switch {
		case b == 0:
			continue
		case b != '\\' || i+1 >= len(raw):
			out = append(out, b)
			continue
		case raw[i+1] != 'u':
			// Any other escape, copied whole so an escaped backslash
			// followed by "u0000" is left alone.
			out = append(out, raw[i], raw[i+1])
			i++
			continue
		}
		r, ok := hex4(raw, i+2)
		switch {
		case !ok:
			out = append(out, b) // not JSON; the mapping will say so
		case r == 0:
			i += 5
		case r >= 0xD800 && r <= 0xDBFF:
			if i+11 < len(raw) && raw[i+6] == '\\' && raw[i+7] == 'u' {
				if lo, ok := hex4(raw, i+8); ok && lo >= 0xDC00 && lo <= 0xDFFF {
					out = append(out, raw[i:i+12]...)
					i += 11
					continue
				}
			}
			out = append(out, `\ufffd`...)
			i += 5
		case r >= 0xDC00 && r <= 0xDFFF:
			out = append(out, `\ufffd`...)
			i += 5
		default:
			out = append(out, raw[i:i+6]...)
			i += 5
		}
	}
	return out
}

// hex4 reads the four hex digits of a \u escape at raw[at:].
func hex4(raw []byte, at int) (rune, bool) {
	if at+4 > len(raw) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(raw[at:at+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	return rune(n), true
}

// cleanString repairs a string field the same way.
func cleanString(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, replacement), "\x00", "")
}

// maxKeyLength bounds a provider's idempotency key as stored; a longer one
// is stored as its hash, so a provider (or whoever holds an inbound URL)
// cannot make an index entry of arbitrary size (PostgreSQL refuses btree
// entries over about 2.7 kB, which would be a 500 and endless retries).
const maxKeyLength = 255

func cleanKey(k string) string {
	k = cleanString(k)
	if len(k) <= maxKeyLength {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	return "sha256:" + hex.EncodeToString(sum[:])
}
