package signature_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/signature"
)

// The example from the Standard Webhooks specification and its reference
// libraries' test suites.
const (
	specSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTS     = 1614265330
	specBody   = `{"test": 2432232314}`
	specSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

// independentSign is the Standard Webhooks algorithm written out from the
// spec, sharing no code with the package under test.
func independentSign(t *testing.T, secret, id string, ts int64, body []byte) string {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	require.NoError(t, err)
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s.%d.%s", id, ts, body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func TestSignSpecVector(t *testing.T) {
	t.Parallel()
	got, err := signature.Sign(specSecret, specID, time.Unix(specTS, 0), []byte(specBody))
	require.NoError(t, err)
	assert.Equal(t, specSig, got)
	assert.Equal(t, specSig, independentSign(t, specSecret, specID, specTS, []byte(specBody)), "the independent implementation agrees with the spec too")

	h := http.Header{}
	h.Set(signature.HeaderID, specID)
	h.Set(signature.HeaderTimestamp, fmt.Sprint(specTS))
	h.Set(signature.HeaderSignature, specSig)
	require.NoError(t, signature.Verify(specSecret, h, []byte(specBody), 0, time.Unix(specTS+10, 0)))
}

func TestSignMatchesIndependentImplementation(t *testing.T) {
	t.Parallel()
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	bodies := [][]byte{
		[]byte(`{"payload":{"event_id":"0190","event_type":"accounting.invoice.paid"}}`),
		[]byte(""),
		[]byte("{\"unicode\":\"äöü €\",\n\"nl\":true}"),
	}
	for i, body := range bodies {
		ts := time.Unix(1700000000+int64(i), 0)
		got, err := signature.Sign(secret, "evt_"+fmt.Sprint(i), ts, body)
		require.NoError(t, err)
		assert.Equal(t, independentSign(t, secret, "evt_"+fmt.Sprint(i), ts.Unix(), body), got)

		// The prefix is optional.
		bare, err := signature.Sign(strings.TrimPrefix(secret, "whsec_"), "evt_"+fmt.Sprint(i), ts, body)
		require.NoError(t, err)
		assert.Equal(t, got, bare)
	}
}

func TestHeaderSignsWithEverySecret(t *testing.T) {
	t.Parallel()
	current := "whsec_" + base64.StdEncoding.EncodeToString([]byte("current-secret-current-secret-32"))
	previous := "whsec_" + base64.StdEncoding.EncodeToString([]byte("previous-secret-previous-secret!"))
	ts := time.Unix(1700000000, 0)
	body := []byte(`{"a":1}`)

	got, err := signature.Header([]string{current, previous}, "msg_1", ts, body)
	require.NoError(t, err)
	assert.Equal(t, independentSign(t, current, "msg_1", ts.Unix(), body)+" "+independentSign(t, previous, "msg_1", ts.Unix(), body), got)

	// A receiver holding either secret verifies the message.
	h := http.Header{}
	h.Set(signature.HeaderID, "msg_1")
	h.Set(signature.HeaderTimestamp, fmt.Sprint(ts.Unix()))
	h.Set(signature.HeaderSignature, got)
	require.NoError(t, signature.Verify(current, h, body, 0, ts))
	require.NoError(t, signature.Verify(previous, h, body, 0, ts))

	_, err = signature.Header(nil, "msg_1", ts, body)
	require.ErrorIs(t, err, signature.ErrBadSecret)
	_, err = signature.Header([]string{current, "whsec_!!notbase64"}, "msg_1", ts, body)
	require.ErrorIs(t, err, signature.ErrBadSecret)
}

func TestVerify(t *testing.T) {
	t.Parallel()
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("verify-secret-verify-secret-1234"))
	other := "whsec_" + base64.StdEncoding.EncodeToString([]byte("another-secret-another-secret-12"))
	now := time.Unix(1700000000, 0)
	body := []byte(`{"payload":{"x":1}}`)
	good := independentSign(t, secret, "msg_v", now.Unix(), body)

	headers := func(id, ts, sig string) http.Header {
		h := http.Header{}
		if id != "" {
			h.Set("Webhook-Id", id) // any case works
		}
		if ts != "" {
			h.Set(signature.HeaderTimestamp, ts)
		}
		if sig != "" {
			h.Set(signature.HeaderSignature, sig)
		}
		return h
	}
	tsNow := fmt.Sprint(now.Unix())

	tests := []struct {
		name      string
		secret    string
		header    http.Header
		body      []byte
		tolerance time.Duration
		want      error
	}{
		{"valid", secret, headers("msg_v", tsNow, good), body, 0, nil},
		{"valid among several", secret, headers("msg_v", tsNow, "v1a,bm9wZQ== v1,AAAA "+good), body, 0, nil},
		{"secret without prefix", strings.TrimPrefix(secret, "whsec_"), headers("msg_v", tsNow, good), body, 0, nil},
		{"missing id", secret, headers("", tsNow, good), body, 0, signature.ErrMissingHeaders},
		{"missing timestamp", secret, headers("msg_v", "", good), body, 0, signature.ErrMissingHeaders},
		{"missing signature", secret, headers("msg_v", tsNow, ""), body, 0, signature.ErrMissingHeaders},
		{"timestamp not a number", secret, headers("msg_v", "yesterday", good), body, 0, signature.ErrBadTimestamp},
		{"too old", secret, headers("msg_v", fmt.Sprint(now.Add(-6*time.Minute).Unix()), independentSign(t, secret, "msg_v", now.Add(-6*time.Minute).Unix(), body)), body, 0, signature.ErrTimestampTooOld},
		{"too new", secret, headers("msg_v", fmt.Sprint(now.Add(6*time.Minute).Unix()), independentSign(t, secret, "msg_v", now.Add(6*time.Minute).Unix(), body)), body, 0, signature.ErrTimestampTooNew},
		{"old but within a custom tolerance", secret, headers("msg_v", fmt.Sprint(now.Add(-6*time.Minute).Unix()), independentSign(t, secret, "msg_v", now.Add(-6*time.Minute).Unix(), body)), body, 10 * time.Minute, nil},
		{"tampered body", secret, headers("msg_v", tsNow, good), []byte(`{"payload":{"x":2}}`), 0, signature.ErrNoMatchingSignature},
		{"other id", secret, headers("msg_w", tsNow, good), body, 0, signature.ErrNoMatchingSignature},
		{"timestamp changed", secret, headers("msg_v", fmt.Sprint(now.Unix()-1), good), body, 0, signature.ErrNoMatchingSignature},
		{"wrong secret", other, headers("msg_v", tsNow, good), body, 0, signature.ErrNoMatchingSignature},
		{"only other versions", secret, headers("msg_v", tsNow, strings.Replace(good, "v1,", "v2,", 1)), body, 0, signature.ErrNoMatchingSignature},
		{"garbage signature", secret, headers("msg_v", tsNow, "v1,%%%"), body, 0, signature.ErrNoMatchingSignature},
		{"empty secret", "", headers("msg_v", tsNow, good), body, 0, signature.ErrBadSecret},
		{"secret not base64", "whsec_not*base64", headers("msg_v", tsNow, good), body, 0, signature.ErrBadSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := signature.Verify(tt.secret, tt.header, tt.body, tt.tolerance, now)
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.want)
		})
	}
}

func TestDecodeSecretAcceptsUnpadded(t *testing.T) {
	t.Parallel()
	raw := []byte("sixteen-byte-key!") // 17 bytes: padded base64 ends in "="
	padded := base64.StdEncoding.EncodeToString(raw)
	require.True(t, strings.HasSuffix(padded, "="))
	for _, s := range []string{"whsec_" + padded, padded, "whsec_" + strings.TrimRight(padded, "=")} {
		key, err := signature.DecodeSecret(s)
		require.NoError(t, err, s)
		assert.Equal(t, raw, key)
	}
}
