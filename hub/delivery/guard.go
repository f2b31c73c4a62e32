package delivery

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
)

// BlockedError is why a delivery was refused at dial time: the delivery URL
// resolved to an address a webhook must not reach (SSRF guard). Its text is
// stored in the attempt log so the subscriber sees why nothing arrived.
type BlockedError struct {
	IP     netip.Addr
	Reason string // "a loopback address", "a private address", ...
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("destination %s is %s; start with --allow-private-destinations or allow its CIDR", e.IP, e.Reason)
}

// guard decides at dial time, on the resolved address, so DNS rebinding and
// hostnames such as localhost cannot slip past a check made on the URL.
type guard struct {
	allowAll bool
	allow    []netip.Prefix
}

// Ranges no public webhook endpoint lives in, beyond what netip.Addr's
// predicates know, with the reason reported.
var blockedRanges = []struct {
	prefix netip.Prefix
	reason string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "an unspecified (\"this network\") address"},
	{netip.MustParsePrefix("100.64.0.0/10"), "a carrier-grade NAT (100.64.0.0/10) address"},
	{netip.MustParsePrefix("192.0.0.0/24"), "a reserved (IETF protocol assignment) address"},
	{netip.MustParsePrefix("198.18.0.0/15"), "a reserved (benchmarking) address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved address"},
	{netip.MustParsePrefix("fec0::/10"), "a private (site-local) address"},
}

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// check returns a *BlockedError when ip may not be dialled.
func (g *guard) check(ip netip.Addr) error {
	if g.allowAll {
		return nil
	}
	ip = ip.WithZone("")
	for _, p := range g.allow {
		if p.Contains(ip) || p.Contains(ip.Unmap()) {
			return nil
		}
	}
	if reason := classify(ip); reason != "" {
		return &BlockedError{IP: ip.Unmap(), Reason: reason}
	}
	return nil
}

// classify names the non-public kind of ip, or "" for a public address.
// IPv4 addresses hidden in IPv6 forms (mapped, NAT64, 6to4) are judged by the
// IPv4 address they reach.
func classify(ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is6() {
		b := ip.As16()
		switch {
		case nat64.Contains(ip):
			if r := classify(netip.AddrFrom4([4]byte(b[12:16]))); r != "" {
				return r
			}
		case sixToFour.Contains(ip):
			if r := classify(netip.AddrFrom4([4]byte(b[2:6]))); r != "" {
				return r
			}
		}
	}
	switch {
	case ip.IsLoopback():
		return "a loopback address"
	case ip.IsUnspecified():
		return "an unspecified address"
	case ip.IsPrivate():
		return "a private address"
	case ip.IsLinkLocalUnicast():
		return "a link-local address"
	case ip.IsMulticast(), ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast():
		return "a multicast address"
	}
	for _, r := range blockedRanges {
		if r.prefix.Contains(ip) {
			return r.reason
		}
	}
	return ""
}

// control is the net.Dialer Control hook: it runs after name resolution and
// before connect, for every address the dialer tries.
func (g *guard) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("refusing to dial %q: cannot parse the address to check it: %w", address, err)
	}
	return g.check(ap.Addr())
}

// ValidateURL checks a delivery URL when a subscription is created or
// changed, so a typo fails the API call instead of every delivery: it must be
// an absolute http or https URL with a host and without user:password (which
// would end up in logs). Whether the host is reachable is decided at dial
// time, against the resolved address.
func ValidateURL(raw string) error {
	if strings.TrimSpace(raw) != raw || raw == "" {
		return errors.New("delivery_url must be an absolute http(s) URL without surrounding spaces")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("delivery_url is not a URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("delivery_url must use http or https, not %q", u.Scheme)
	}
	if u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return errors.New("delivery_url must be an absolute URL with a host, e.g. https://example.com/webhooks")
	}
	if u.User != nil {
		return errors.New("delivery_url must not contain user info (user:password@); put credentials in the path or query instead")
	}
	if u.Fragment != "" {
		return errors.New("delivery_url must not contain a fragment (#...)")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("delivery_url has an invalid port %q", p)
		}
	}
	return nil
}
