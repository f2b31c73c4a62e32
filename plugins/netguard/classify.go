package netguard

import "net/netip"

type special struct {
	prefix netip.Prefix
	reason string
}

func p(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// v4Special are the IPv4 ranges of IANA's special-purpose registry (RFC
// 6890 and updates) that are not globally reachable, plus multicast and the
// reserved block (which holds the limited broadcast address). Every other
// IPv4 address is global unicast. A few registry entries inside these
// blocks are globally reachable anycast services (192.0.0.9/32,
// 192.0.0.10/32); no webhook endpoint lives there, so the whole block is
// refused.
var v4Special = []special{
	{p("0.0.0.0/8"), "an unspecified (\"this network\", 0.0.0.0/8) address"},
	{p("10.0.0.0/8"), "a private address"},
	{p("100.64.0.0/10"), "a carrier-grade NAT (100.64.0.0/10) address"},
	{p("127.0.0.0/8"), "a loopback address"},
	{p("169.254.0.0/16"), "a link-local address"},
	{p("172.16.0.0/12"), "a private address"},
	{p("192.0.0.0/24"), "a reserved (IETF protocol assignments, 192.0.0.0/24) address"},
	{p("192.0.2.0/24"), "a documentation (TEST-NET-1) address"},
	{p("192.88.99.0/24"), "a reserved (deprecated 6to4 relay anycast) address"},
	{p("192.168.0.0/16"), "a private address"},
	{p("198.18.0.0/15"), "a reserved (benchmarking, 198.18.0.0/15) address"},
	{p("198.51.100.0/24"), "a documentation (TEST-NET-2) address"},
	{p("203.0.113.0/24"), "a documentation (TEST-NET-3) address"},
	{p("224.0.0.0/4"), "a multicast address"},
	{p("255.255.255.255/32"), "the broadcast address"},
	{p("240.0.0.0/4"), "a reserved (240.0.0.0/4) address"},
}

// globalV6 is where IPv6 global unicast lives (RFC 4291); nothing outside
// it is dialled.
var globalV6 = p("2000::/3")

// nat64 is the well-known NAT64 prefix (RFC 6052): its addresses reach the
// IPv4 address in their last 32 bits, and are judged by it, so hosts on
// DNS64 networks can still reach public endpoints.
var nat64 = p("64:ff9b::/96")

// v6Special are the ranges inside 2000::/3 that are not global unicast, or
// that tunnel to an IPv4 address the guard cannot judge reliably (Teredo
// hides it obfuscated, 6to4 reaches it through whichever relay answers).
var v6Special = []special{
	{p("2001::/32"), "a Teredo (2001::/32) address"},
	{p("2001:db8::/32"), "a documentation (2001:db8::/32) address"},
	{p("2001::/23"), "a reserved (IETF protocol assignments, 2001::/23) address"},
	{p("2002::/16"), "a 6to4 (2002::/16) address"},
	{p("3fff::/20"), "a documentation (3fff::/20) address"},
}

// v6Named name the commonest ranges outside 2000::/3, for a clearer
// refusal than "not a global unicast address".
var v6Named = []special{
	{p("::1/128"), "a loopback address"},
	{p("::/128"), "an unspecified address"},
	{p("::/96"), "an IPv4-compatible (::/96) address"},
	{p("64:ff9b:1::/48"), "a local-use NAT64 (64:ff9b:1::/48) address"},
	{p("100::/64"), "a discard-only (100::/64) address"},
	{p("fc00::/7"), "a private (unique local) address"},
	{p("fe80::/10"), "a link-local address"},
	{p("fec0::/10"), "a private (site-local) address"},
	{p("ff00::/8"), "a multicast address"},
}

// Classify names why ip is not known to be a global unicast address, or
// returns "" for one. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is the
// IPv4 address it maps, and a well-known-prefix NAT64 address is judged by
// the IPv4 address it reaches.
func Classify(ip netip.Addr) string {
	ip = ip.WithZone("").Unmap()
	if !ip.IsValid() {
		return "not an IP address"
	}
	if ip.Is4() {
		return first(v4Special, ip)
	}
	if nat64.Contains(ip) {
		b := ip.As16()
		if r := Classify(netip.AddrFrom4([4]byte(b[12:16]))); r != "" {
			return r + " (through NAT64)"
		}
		return ""
	}
	if !globalV6.Contains(ip) {
		if r := first(v6Named, ip); r != "" {
			return r
		}
		return "not a global unicast address (outside 2000::/3)"
	}
	return first(v6Special, ip)
}

func first(list []special, ip netip.Addr) string {
	for _, s := range list {
		if s.prefix.Contains(ip) {
			return s.reason
		}
	}
	return ""
}
