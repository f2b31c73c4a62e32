package signature_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/signature"
)

// The vectors were computed with node 20 the way Apideck's "Webhook
// Signature Verification" guide verifies a delivery: JSON.parse, sort the
// object keys recursively, JSON.stringify, then
// crypto.createHmac('sha256', apiKey).update(...).digest('hex'). Apideck
// publishes no vector of its own; the first body is the example of its
// accounting.customer.created webhook (openapi-specs accounting.yml).
func TestApideckSignKnownVectors(t *testing.T) {
	t.Parallel()
	const key = "sk_test_apideck_key"
	tests := map[string]struct{ body, canonical, sig string }{
		"apideck example event": {
			body:      `{"payload":{"event_type":"accounting.customer.created","unified_api":"accounting","service_id":"xero","consumer_id":"test_user_id","event_id":"d290f1ee-6c54-4b01-90e6-d701748f0851","entity_id":"123456ASDF","entity_url":"https://unify.apideck.com/accounting/customers/123456ASDF","entity_type":"customer","occurred_at":"2020-01-01T00:00:00.000Z"}}`,
			canonical: `{"payload":{"consumer_id":"test_user_id","entity_id":"123456ASDF","entity_type":"customer","entity_url":"https://unify.apideck.com/accounting/customers/123456ASDF","event_id":"d290f1ee-6c54-4b01-90e6-d701748f0851","event_type":"accounting.customer.created","occurred_at":"2020-01-01T00:00:00.000Z","service_id":"xero","unified_api":"accounting"}}`,
			sig:       "1c3645051a7a81053e1057f5ef251fac1dee813bc3086dfbde3ffd81f0fc0699",
		},
		"javascript numbers, escapes and key order": {
			body:      `{"b":1.0,"a":[{"z":1,"y":2}],"10":"x","2":"y","é":"<&>\u2028","\ud83d\ude00":1e21,"n":1e-7,"m":-0,"big":12345678901234567890,"f":0.1,"g":123456789012345678901234,"h":1.5e300,"c":"tab\tnl\nq\"bs\\ctl\u0001","arr":[{"y":1,"x":{"d":1,"c":2}}]}`,
			canonical: "{\"2\":\"y\",\"10\":\"x\",\"a\":[{\"y\":2,\"z\":1}],\"arr\":[{\"x\":{\"c\":2,\"d\":1},\"y\":1}],\"b\":1,\"big\":12345678901234567000,\"c\":\"tab\\tnl\\nq\\\"bs\\\\ctl\\u0001\",\"f\":0.1,\"g\":1.2345678901234569e+23,\"h\":1.5e+300,\"m\":0,\"n\":1e-7,\"é\":\"<&>\u2028\",\"😀\":1e+21}",
			sig:       "d57654e3ac3307f4cd0dc358849762edb7f4445386b8718530124f21089bf5a4",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			canon, err := signature.ApideckCanonical([]byte(tc.body))
			require.NoError(t, err)
			require.Equal(t, tc.canonical, string(canon))
			again, err := signature.ApideckCanonical(canon)
			require.NoError(t, err)
			require.Equal(t, string(canon), string(again), "the canonical form is a fixed point")

			sig, err := signature.ApideckSign(key, []byte(tc.body))
			require.NoError(t, err)
			require.Equal(t, tc.sig, sig)
			direct, err := signature.ApideckSignCanonical(key, canon)
			require.NoError(t, err)
			require.Equal(t, tc.sig, direct)

			h := http.Header{}
			h.Set(signature.HeaderApideckSignature, sig)
			require.NoError(t, signature.ApideckVerify(key, h, []byte(tc.body)))
			require.ErrorIs(t, signature.ApideckVerify("another key", h, []byte(tc.body)), signature.ErrApideckMismatch)
		})
	}
}

func TestApideckVerifyRejects(t *testing.T) {
	t.Parallel()
	body := []byte(`{"payload":{"event_id":"e1"}}`)
	sig, err := signature.ApideckSign("k", body)
	require.NoError(t, err)
	tests := map[string]struct {
		key    string
		header string
		body   string
		want   error
	}{
		"no header":       {key: "k", body: string(body), want: signature.ErrApideckMissingSignature},
		"tampered body":   {key: "k", header: sig, body: `{"payload":{"event_id":"e2"}}`, want: signature.ErrApideckMismatch},
		"wrong signature": {key: "k", header: "00" + sig[2:], body: string(body), want: signature.ErrApideckMismatch},
		"empty key":       {key: "", header: sig, body: string(body), want: signature.ErrApideckNoKey},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			if tc.header != "" {
				h.Set(signature.HeaderApideckSignature, tc.header)
			}
			require.ErrorIs(t, signature.ApideckVerify(tc.key, h, []byte(tc.body)), tc.want)
		})
	}
	_, err = signature.ApideckCanonical([]byte(`{"a":1} {"b":2}`))
	require.Error(t, err, "two JSON values are not one body")
	_, err = signature.ApideckCanonical([]byte(`{"a":`))
	require.Error(t, err)
}

// BenchmarkApideckSign measures the canonicalisation and signature of a
// typical delivery body (done once per event, attempt and format).
func BenchmarkApideckSign(b *testing.B) {
	body := []byte(`{"payload":{"event_type":"accounting.invoice.created","unified_api":"accounting","service_id":"dversum","consumer_id":"acme","event_id":"0193a8e7-7d1c-7c4e-9d7e-2b1f4a9c0e11","entity_id":"inv_abc123","entity_url":"https://hub.example/accounting/invoices/inv_abc123","entity_type":"invoice","occurred_at":"2024-01-15T10:30:00.000Z","execution_attempt":1,"entity":{"id":"inv_abc123","number":"RE-2024-0001","status":"draft","total":1190,"currency":"EUR","customer":{"id":"cli_xyz789","name":"Acme GmbH"},"lines":[{"description":"Consulting","quantity":10,"unit_price":100,"tax_rate":19}]}}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := signature.ApideckSign("sk_live_key", body); err != nil {
			b.Fatal(err)
		}
	}
}
