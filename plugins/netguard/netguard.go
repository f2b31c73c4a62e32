// Package netguard is the SSRF guard of every outbound call Switchboard
// makes to an address someone else chose: deliveries to subscriber URLs
// (hub/delivery) and connectors' calls to a provider's API
// (plugins/provider, whose base_url is a connection setting).
//
// The guard decides at dial time, on the resolved address, so hostnames
// such as localhost, DNS rebinding and numeric spellings of an address
// cannot slip past a check made on the URL. It is an allow-list: only
// global unicast addresses may be dialled (IPv4 outside the special-purpose
// registry, IPv6 inside 2000::/3 and outside its special ranges); anything
// not known to be global is refused unless the Policy allows it.
//
// It lives under plugins/ because connector plugins, which the hub's
// module and third-party modules build alike, must be able to import it
// without the hub's dependencies; the hub hands its policy to each plugin
// process in the environment (Policy.Env, FromEnv).
package netguard

import (
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// MaxResponseHeaderBytes caps the response headers of every outbound HTTP
// call (http.Transport.MaxResponseHeaderBytes): a receiver or provider
// answering megabytes of headers costs one failed call, not the hub's
// memory. Go's default is 10 MiB per response, read in full before the
// caller sees anything (hub/chaos scenario h measures what that costs).
const MaxResponseHeaderBytes = 64 << 10

// Environment variables a plugin process reads its Policy from. The host
// always sets both, so a plugin never guesses; a process started without
// them (by hand) gets the strict policy.
const (
	// EnvAllowPrivate is "true" when every destination is allowed
	// (--allow-private-destinations).
	EnvAllowPrivate = "SWITCHBOARD_ALLOW_PRIVATE_DESTINATIONS"
	// EnvAllowCIDRs is the comma-separated ranges allowed while the guard
	// stays on (--allow-cidr).
	EnvAllowCIDRs = "SWITCHBOARD_ALLOW_CIDRS"
)

// Policy says which non-global destinations may be dialled anyway. The zero
// Policy allows global unicast addresses only.
type Policy struct {
	// AllowAll turns the guard off (local development and tests).
	AllowAll bool
	// Allow are ranges that may be dialled while the guard stays on, e.g.
	// the operator's internal network of receivers.
	Allow []netip.Prefix
}

// BlockedError is why a dial was refused: the destination resolved to an
// address that is not known to be global. Its text names the address and
// the setting that would allow it; it never contains anything the remote
// end said.
type BlockedError struct {
	IP     netip.Addr
	Reason string // "a loopback address", "a private address", ...
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("destination %s is %s; start with --allow-private-destinations or allow its CIDR", e.IP, e.Reason)
}

// Check returns a *BlockedError when ip may not be dialled.
func (p Policy) Check(ip netip.Addr) error {
	if p.AllowAll {
		return nil
	}
	ip = ip.WithZone("")
	for _, a := range p.Allow {
		if a.Contains(ip) || a.Contains(ip.Unmap()) {
			return nil
		}
	}
	if reason := Classify(ip); reason != "" {
		return &BlockedError{IP: ip.Unmap(), Reason: reason}
	}
	return nil
}

// Control is a net.Dialer Control hook enforcing p: it runs after name
// resolution and before connect, for every address the dialer tries.
func (p Policy) Control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("refusing to dial %q: cannot parse the address to check it: %w", address, err)
	}
	return p.Check(ap.Addr())
}

// Env is p as environment variables for a plugin process (see FromEnv).
func (p Policy) Env() []string {
	cidrs := make([]string, len(p.Allow))
	for i, a := range p.Allow {
		cidrs[i] = a.String()
	}
	return []string{
		EnvAllowPrivate + "=" + strconv.FormatBool(p.AllowAll),
		EnvAllowCIDRs + "=" + strings.Join(cidrs, ","),
	}
}

// FromEnv reads the Policy the host passed to this process. Unset variables
// mean the strict policy; a value that does not parse is an error (and the
// caller should stay strict).
func FromEnv() (Policy, error) {
	var p Policy
	if v := strings.TrimSpace(os.Getenv(EnvAllowPrivate)); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return Policy{}, fmt.Errorf("%s=%q: want true or false", EnvAllowPrivate, v)
		}
		p.AllowAll = b
	}
	for c := range strings.SplitSeq(os.Getenv(EnvAllowCIDRs), ",") {
		if c = strings.TrimSpace(c); c == "" {
			continue
		}
		pf, err := netip.ParsePrefix(c)
		if err != nil {
			return Policy{}, fmt.Errorf("%s: %w", EnvAllowCIDRs, err)
		}
		p.Allow = append(p.Allow, pf)
	}
	return p, nil
}

// CappedTransport is a clone of http.DefaultTransport whose answers'
// headers are capped at MaxResponseHeaderBytes, for outbound calls to an
// address the operator chose (the bench load generator, send-test-event).
// It does not guard the destination; calls to addresses a user chose dial
// through Policy.Control as well.
func CappedTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxResponseHeaderBytes = MaxResponseHeaderBytes
	return t
}
