package apikey_test

import (
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/apikey"
	"github.com/switchboardhq/switchboard/hub/store"
)

func TestGenerate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		scopes  []string
		wantErr string
		want    []string
	}{
		{name: "one scope", scopes: []string{apikey.ScopeWebhooksRead}, want: []string{"webhooks:read"}},
		{name: "sorted and unique", scopes: []string{"events:write", "admin", "events:write"}, want: []string{"admin", "events:write"}},
		{name: "no scope", scopes: nil, wantErr: "at least one scope"},
		{name: "unknown scope", scopes: []string{"webhooks:read", "root"}, wantErr: `unknown scope "root"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			plain, k, err := apikey.Generate("ci", tt.scopes, "")
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(plain, "sb_"+k.ID+"_"), "key %q embeds its id %q", plain, k.ID)
			assert.Equal(t, tt.want, k.Scopes)
			assert.Equal(t, "ci", k.Name)
			sum := sha256.Sum256([]byte(plain))
			assert.Equal(t, sum[:], k.Hash, "only the SHA-256 of the whole key is kept")
			assert.NotContains(t, string(k.Hash), plain)
			id, err := apikey.Parse(plain)
			require.NoError(t, err)
			assert.Equal(t, k.ID, id)
			assert.True(t, apikey.Verify(k, plain))
		})
	}
}

func TestGenerateIsRandom(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		plain, k, err := apikey.Generate("x", []string{apikey.ScopeAdmin}, "")
		require.NoError(t, err)
		require.False(t, seen[plain] || seen[k.ID], "repeated key or id")
		seen[plain], seen[k.ID] = true, true
		// 3 + 16 + 1 + 43 characters: sb_, hex id, _, base64url of 32 bytes.
		require.Len(t, plain, 63)
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		wantID string
	}{
		{in: "sb_0123456789abcdef_c2VjcmV0", wantID: "0123456789abcdef"},
		{in: "sb_0123456789abcdef_with_underscores-and-dashes", wantID: "0123456789abcdef"},
		{in: ""},
		{in: "sb_"},
		{in: "0123456789abcdef_secret"},
		{in: "sk_0123456789abcdef_secret"},
		{in: "sb_0123456789abcdef_"},
		{in: "sb_0123456789abcdef"},
		{in: "sb_0123456789abcde_secret"},   // id too short
		{in: "sb_0123456789abcdefg_secret"}, // id too long
		{in: "sb_0123456789abcdeZ_secret"},  // not hex
		{in: "Bearer sb_0123456789abcdef_secret"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			id, err := apikey.Parse(tt.in)
			if tt.wantID == "" {
				require.ErrorIs(t, err, apikey.ErrMalformed)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantID, id)
		})
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	plain, k, err := apikey.Generate("ci", []string{apikey.ScopeWebhooksRead}, "")
	require.NoError(t, err)
	revoked := *k
	at := time.Now()
	revoked.RevokedAt = &at

	tests := []struct {
		name  string
		key   *store.APIKey
		plain string
		want  bool
	}{
		{name: "right key", key: k, plain: plain, want: true},
		{name: "last character changed", key: k, plain: plain[:len(plain)-1] + flip(plain[len(plain)-1]), want: false},
		{name: "prefix only", key: k, plain: plain[:20], want: false},
		{name: "empty", key: k, plain: "", want: false},
		{name: "revoked", key: &revoked, plain: plain, want: false},
		{name: "unknown key", key: nil, plain: plain, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, apikey.Verify(tt.key, tt.plain))
		})
	}
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func TestBootstrap(t *testing.T) {
	t.Parallel()
	k := apikey.Bootstrap("any string at all")
	assert.Equal(t, apikey.BootstrapID, k.ID)
	assert.True(t, apikey.Verify(k, "any string at all"))
	assert.False(t, apikey.Verify(k, "any string at al"))
	assert.False(t, apikey.Verify(k, ""))
	assert.Equal(t, apikey.AllScopes, k.Scopes, "the bootstrap key has every scope")
	_, err := apikey.Parse(k.ID)
	assert.Error(t, err, "the bootstrap id can never be a generated id")
}

func TestValidScope(t *testing.T) {
	t.Parallel()
	for _, s := range apikey.AllScopes {
		assert.True(t, apikey.ValidScope(s), s)
	}
	for _, s := range []string{"", "Admin", "webhooks", "webhooks:*", "events:read"} {
		assert.False(t, apikey.ValidScope(s), s)
	}
}
