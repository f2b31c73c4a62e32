package dversum

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/switchboardhq/switchboard/plugins"
)

// FuzzHandleInbound feeds arbitrary bodies, signature headers and secrets
// through signature verification and parsing. sign=true replaces the header
// with a valid signature so the parser behind the signature gate is reached.
// Whatever comes in, HandleInbound must not panic, must fail only with
// ErrBadSignature or ErrMalformed, and must never accept an event that is
// not correctly signed, not a JSON object, or without a type.
func FuzzHandleInbound(f *testing.F) {
	seeds := []string{
		`{"event":"invoice.created","timestamp":"2024-01-15T10:30:00Z","data":{"id":"inv_abc123","total":1190.00}}`,
		`{"event":"page.updated"}`,
		`{"event":"a","event":"b"}`,
		`{"event":42}`,
		`[1,2,3]`,
		`{"event":"x","timestamp":"2024-13-45T99:99:99Z"}`,
		`{"event":"\u0000"}`,
		`{"event":"\ud800"}`,
		"{\"event\":\"invoice.paid\"}\n{}",
		``,
		`{`,
	}
	for _, s := range seeds {
		f.Add([]byte(s), "", "secret", true)
		f.Add([]byte(s), Sign("secret", []byte(s)), "secret", false)
	}
	f.Add([]byte(`{"event":"invoice.paid"}`), "sha256=00", "secret", false)
	f.Add([]byte(`{"event":"invoice.paid"}`), "sha256=", "", false)
	f.Add([]byte(`{"event":"invoice.paid"}`), ",,,sha256=zz, SHA256=", "k", false)

	c := New()
	f.Fuzz(func(t *testing.T, body []byte, sig, secret string, sign bool) {
		if sign {
			sig = Sign(secret, body)
		}
		req := &plugins.InboundRequest{
			Method:     http.MethodPost,
			Headers:    http.Header{HeaderSignature: {sig}},
			Body:       body,
			Connection: plugins.Connection{Credentials: map[string]string{plugins.CredentialSigningSecret: secret}},
		}
		res, err := c.HandleInbound(t.Context(), req)
		if err != nil {
			if !errors.Is(err, plugins.ErrBadSignature) && !errors.Is(err, plugins.ErrMalformed) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		if secret == "" || verify(secret, body, []string{sig}) != nil {
			t.Fatalf("accepted a request whose signature does not verify")
		}
		if !json.Valid(body) || plugins.JSONKind(body) != "an object" {
			t.Fatalf("accepted a body that is not a JSON object: %q", body)
		}
		if len(res.Events) != 1 || res.Events[0].Type == "" || res.Events[0].IdempotencyKey == "" {
			t.Fatalf("unexpected result: %+v", res)
		}
		if !bytes.Equal(res.Events[0].Payload, body) {
			t.Fatalf("payload is not the body")
		}
	})
}
