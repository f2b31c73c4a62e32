package netguard_test

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/plugins/netguard"
)

// classifyCases are addresses and the word their refusal must contain
// ("" for a global unicast address, which is allowed).
var classifyCases = []struct {
	ip     string
	reason string
}{
	// IPv4 special-purpose ranges.
	{"0.0.0.0", "unspecified"},
	{"0.1.2.3", "unspecified"},
	{"10.0.0.1", "private"},
	{"10.255.255.255", "private"},
	{"100.64.0.1", "carrier-grade NAT"},
	{"100.127.255.254", "carrier-grade NAT"},
	{"127.0.0.1", "loopback"},
	{"127.8.9.10", "loopback"},
	{"169.254.169.254", "link-local"},
	{"172.16.5.4", "private"},
	{"172.31.255.255", "private"},
	{"192.0.0.8", "IETF protocol assignments"},
	{"192.0.0.170", "IETF protocol assignments"},
	{"192.0.2.1", "documentation"},
	{"192.88.99.1", "6to4 relay"},
	{"192.168.1.1", "private"},
	{"198.18.0.1", "benchmarking"},
	{"198.19.255.254", "benchmarking"},
	{"198.51.100.7", "documentation"},
	{"203.0.113.9", "documentation"},
	{"224.0.0.1", "multicast"},
	{"239.1.2.3", "multicast"},
	{"240.0.0.1", "reserved"},
	{"254.1.2.3", "reserved"},
	{"255.255.255.255", "broadcast"},
	// IPv4 global unicast, including neighbours of the ranges above.
	{"1.1.1.1", ""},
	{"8.8.8.8", ""},
	{"11.0.0.1", ""},
	{"100.63.255.255", ""},
	{"100.128.0.1", ""},
	{"126.255.255.255", ""},
	{"128.0.0.1", ""},
	{"169.253.0.1", ""},
	{"172.15.255.255", ""},
	{"172.32.0.1", ""},
	{"192.0.1.1", ""},
	{"192.0.3.1", ""},
	{"192.167.255.255", ""},
	{"192.169.0.1", ""},
	{"198.17.255.255", ""},
	{"198.20.0.1", ""},
	{"198.51.101.1", ""},
	{"203.0.112.1", ""},
	{"203.0.114.1", ""},
	{"223.255.255.254", ""},
	// IPv4-mapped: the IPv4 address decides.
	{"::ffff:127.0.0.1", "loopback"},
	{"::ffff:192.168.1.1", "private"},
	{"::ffff:169.254.169.254", "link-local"},
	{"::ffff:198.18.0.1", "benchmarking"},
	{"::ffff:8.8.8.8", ""},
	// IPv4-compatible (deprecated): never dialled.
	{"::127.0.0.1", "IPv4-compatible"},
	{"::10.0.0.1", "IPv4-compatible"},
	{"::8.8.8.8", "IPv4-compatible"},
	// NAT64: the well-known prefix is judged by its IPv4 address, the
	// local-use prefix is refused.
	{"64:ff9b::a00:1", "private"},
	{"64:ff9b::7f00:1", "loopback"},
	{"64:ff9b::a9fe:a9fe", "link-local"},
	{"64:ff9b::c000:201", "documentation"},
	{"64:ff9b::808:808", ""},
	{"64:ff9b:1::808:808", "local-use NAT64"},
	{"64:ff9b:1:ffff::1", "local-use NAT64"},
	// Tunnels: refused whatever they embed.
	{"2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"},
	{"2001::1", "Teredo"},
	{"2002:7f00:1::1", "6to4"},
	{"2002:808:808::1", "6to4"},
	// Other IPv6 special ranges.
	{"::", "unspecified"},
	{"::1", "loopback"},
	{"100::1", "discard"},
	{"2001:2::1", "IETF protocol assignments"},
	{"2001:10::1", "IETF protocol assignments"},
	{"2001:db8::1", "documentation"},
	{"2001:db8:ffff::1", "documentation"},
	{"3fff::1", "documentation"},
	{"fc00::1", "private"},
	{"fd00::2", "private"},
	{"fe80::1", "link-local"},
	{"fe80::1%eth0", "link-local"},
	{"fec0::1", "site-local"},
	{"ff02::1", "multicast"},
	{"ff0e::1", "multicast"},
	{"4000::1", "outside 2000::/3"},
	{"1000::1", "outside 2000::/3"},
	{"::ffff:0:7f00:1", "outside 2000::/3"}, // IPv4-translated
	// IPv6 global unicast.
	{"2001:200::1", ""},
	{"2001:4860:4860::8888", ""},
	{"2606:4700:4700::1111", ""},
	{"2a00:1450:4001::1", ""},
	{"3ffe::1", ""},
}

func TestClassify(t *testing.T) {
	t.Parallel()
	for _, tt := range classifyCases {
		got := netguard.Classify(netip.MustParseAddr(tt.ip))
		if tt.reason == "" {
			assert.Empty(t, got, tt.ip)
		} else {
			assert.Contains(t, got, tt.reason, tt.ip)
		}
	}
}

func TestPolicyCheck(t *testing.T) {
	t.Parallel()
	p := netguard.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("fd00::/8")}}
	assert.NoError(t, p.Check(netip.MustParseAddr("10.1.2.3")))
	assert.NoError(t, p.Check(netip.MustParseAddr("::ffff:10.1.2.3")), "mapped form of an allowed address")
	assert.NoError(t, p.Check(netip.MustParseAddr("fd00::2")))
	assert.NoError(t, p.Check(netip.MustParseAddr("93.184.216.34")), "public addresses need no allow-list")

	err := p.Check(netip.MustParseAddr("10.2.0.1"))
	var blocked *netguard.BlockedError
	require.ErrorAs(t, err, &blocked)
	assert.Equal(t, "destination 10.2.0.1 is a private address; start with --allow-private-destinations or allow its CIDR", err.Error())

	require.ErrorAs(t, p.Check(netip.MustParseAddr("::ffff:127.0.0.1")), &blocked)
	assert.Equal(t, netip.MustParseAddr("127.0.0.1"), blocked.IP, "reported as the IPv4 address it reaches")

	// A documentation range is refused by default, allowed when listed.
	require.Error(t, netguard.Policy{}.Check(netip.MustParseAddr("198.51.100.7")))
	assert.NoError(t, netguard.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}}.Check(netip.MustParseAddr("198.51.100.7")))

	assert.NoError(t, netguard.Policy{AllowAll: true}.Check(netip.MustParseAddr("127.0.0.1")))
	assert.Error(t, p.Control("tcp", "not-an-address", nil))
	assert.NoError(t, p.Control("tcp6", "[fd00::2%eth0]:443", nil))
	assert.Error(t, p.Control("tcp6", "[::127.0.0.1]:443", nil))
}

func TestPolicyEnvRoundTrip(t *testing.T) {
	// Not parallel: it sets the process environment.
	want := netguard.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("fd00::/8")}}
	for _, kv := range want.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	got, err := netguard.FromEnv()
	require.NoError(t, err)
	assert.Equal(t, want, got)

	for _, kv := range (netguard.Policy{AllowAll: true}).Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	got, err = netguard.FromEnv()
	require.NoError(t, err)
	assert.True(t, got.AllowAll)

	t.Setenv(netguard.EnvAllowPrivate, "")
	t.Setenv(netguard.EnvAllowCIDRs, "")
	got, err = netguard.FromEnv()
	require.NoError(t, err)
	assert.Equal(t, netguard.Policy{}, got, "unset means strict")

	t.Setenv(netguard.EnvAllowPrivate, "maybe")
	_, err = netguard.FromEnv()
	assert.ErrorContains(t, err, netguard.EnvAllowPrivate)
	t.Setenv(netguard.EnvAllowPrivate, "")
	t.Setenv(netguard.EnvAllowCIDRs, "10.0.0.0/33")
	_, err = netguard.FromEnv()
	assert.ErrorContains(t, err, netguard.EnvAllowCIDRs)
}

func TestCappedTransport(t *testing.T) {
	t.Parallel()
	tr := netguard.CappedTransport()
	assert.Equal(t, int64(netguard.MaxResponseHeaderBytes), tr.MaxResponseHeaderBytes)
	assert.NotSame(t, http.DefaultTransport, tr, "a clone: the default transport is not changed")
	assert.Zero(t, http.DefaultTransport.(*http.Transport).MaxResponseHeaderBytes)
}
