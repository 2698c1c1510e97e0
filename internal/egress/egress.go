// Package egress decides which network addresses the server may call on
// a tenant's behalf — today the endpoints of rest-hook Subscriptions — so
// a tenant cannot make the server reach what only the server can reach
// (server-side request forgery). Link-local addresses, where clouds serve
// instance metadata and credentials, and the metadata addresses of the
// common clouds are never reachable; loopback, private, shared (CGNAT)
// and unique-local ranges only when the operator allows them (a hook on
// the same machine or network, as in tests and on-premises).
//
// It owns the classification of an address and the dialer that enforces
// it on the address actually connected to, after DNS resolution, so a
// name that resolves to a forbidden address — or is re-pointed there
// between a check and the connection (DNS rebinding) — is refused. It
// must not be bypassed by an HTTP proxy: the client it builds uses none.
package egress

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// Policy is what the server may call.
type Policy struct {
	// AllowPrivate allows loopback, private (RFC 1918), shared (RFC 6598)
	// and unique-local (fc00::/7) addresses.
	AllowPrivate bool
}

// metadata are cloud instance-metadata addresses outside link-local,
// refused whatever the policy: AWS's IPv6 endpoint, Alibaba's, Oracle's
// legacy one.
var metadata = []netip.Addr{
	netip.MustParseAddr("fd00:ec2::254"),
	netip.MustParseAddr("100.100.100.200"),
	netip.MustParseAddr("192.0.0.192"),
}

var (
	shared = netip.MustParsePrefix("100.64.0.0/10") // RFC 6598, carrier-grade NAT
	nat64  = netip.MustParsePrefix("64:ff9b::/96")  // RFC 6052, an IPv4 address inside
	bench  = netip.MustParsePrefix("198.18.0.0/15") // RFC 2544, often internal
	thisNw = netip.MustParsePrefix("0.0.0.0/8")     // "this network": reaches the host itself
	ietf   = netip.MustParsePrefix("192.0.0.0/24")  // IETF protocol assignments
	limBc  = netip.MustParseAddr("255.255.255.255") // limited broadcast
)

// Check returns an error naming why ip may not be called, nil when it may.
func (p Policy) Check(ip netip.Addr) error {
	ip = ip.Unmap()
	if ip.Is6() && nat64.Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	}
	for _, m := range metadata {
		if ip == m {
			return fmt.Errorf("%s is a cloud metadata address", ip)
		}
	}
	switch {
	case !ip.IsValid():
		return fmt.Errorf("no address")
	case ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast():
		return fmt.Errorf("%s is link-local (cloud metadata lives there)", ip)
	case ip.IsMulticast() || ip == limBc || ip.IsInterfaceLocalMulticast():
		return fmt.Errorf("%s is a multicast or broadcast address", ip)
	case ip.IsUnspecified() || thisNw.Contains(ip):
		return fmt.Errorf("%s is not an address a hook can have", ip)
	}
	if p.AllowPrivate {
		return nil
	}
	switch {
	case ip.IsLoopback():
		return fmt.Errorf("%s is a loopback address and private endpoints are not allowed", ip)
	case ip.IsPrivate() || shared.Contains(ip) || bench.Contains(ip) || ietf.Contains(ip):
		return fmt.Errorf("%s is a private address and private endpoints are not allowed", ip)
	}
	return nil
}

// CheckHost refuses a host (of a URL, without port) that is a literal IP
// address Check refuses; a name passes, to be checked when dialled.
func (p Policy) CheckHost(host string) error {
	if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return nil
	}
	return p.Check(ip.WithZone(""))
}

// Dialer is a net.Dialer that refuses, at connect time, any address Check
// refuses: the address checked is the one resolved and about to be
// connected to.
func (p Policy) Dialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{
		Timeout: timeout,
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("egress: refused %q: %w", address, err)
			}
			if err := p.Check(ap.Addr()); err != nil {
				return &RefusedError{Reason: err.Error()}
			}
			return nil
		},
	}
}

// RefusedError is the dial error of a forbidden address.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return "egress: refused: " + e.Reason }

// Client is an HTTP client whose every connection, redirects included,
// goes through Dialer, and which uses no proxy (a proxy would connect on
// the client's behalf, past the check). timeout bounds a whole request.
func (p Policy) Client(timeout time.Duration) *http.Client {
	d := p.Dialer(30 * time.Second)
	t := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{Transport: t, Timeout: timeout}
}
