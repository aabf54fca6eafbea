// SPDX-License-Identifier: Apache-2.0

package scalers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// linkLocal are the destinations an Egress refuses unless its rules allow
// link-local addresses: IPv4 and IPv6 link-local, where the cloud metadata
// services answer (169.254.169.254, and AWS's fd00:ec2::254 on Nitro).
var linkLocal = []netip.Prefix{
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("fd00:ec2::254/128"),
}

// LinkLocalDestinations lists the destinations refused by default, as
// written in flags and docs.
func LinkLocalDestinations() []string {
	out := make([]string, len(linkLocal))
	for i, p := range linkLocal {
		out[i] = p.String()
	}
	return out
}

// EgressRules are the operator's rules for the destinations its scalers
// connect to on tenants' behalf. Each entry is a CIDR (10.0.0.0/8,
// fd00::/8), an IP address (a /32 or /128), an exact host name
// (prometheus.monitoring.svc) or a host pattern *.suffix (any name ending in
// .suffix, not suffix itself).
type EgressRules struct {
	// Allow, when not empty, lists the only destinations reachable: a
	// connection is allowed when the host name asked for matches a host
	// entry or the address connected to is in a CIDR entry.
	Allow []string
	// Deny lists destinations refused even when Allow lists them.
	Deny []string
	// AllowLinkLocal lifts the default refusal of link-local addresses
	// (LinkLocalDestinations).
	AllowLinkLocal bool
}

// Egress is the operator-wide egress policy: which destinations a scaler may
// connect to. It is checked when a connection is made, on the address it is
// made to (after name resolution, so a name that resolves to a refused
// address, or is rebound to one, is refused too), and on the host name asked
// for. Deny wins over allow. An Egress is immutable and safe for concurrent
// use; the operator builds one from its flags and gives it to every trigger
// type.
type Egress struct {
	allowNets, denyNets   []netip.Prefix
	allowHosts, denyHosts []hostPattern
	allowSet              bool
}

// DefaultEgress returns the policy with no rules of its own: every
// destination but link-local addresses is reachable.
func DefaultEgress() *Egress {
	e, _ := NewEgress(EgressRules{})
	return e
}

// NewEgress builds a policy from rules; an entry it cannot parse is an
// error that names it.
func NewEgress(r EgressRules) (*Egress, error) {
	e := &Egress{allowSet: len(r.Allow) > 0}
	var err error
	if e.allowNets, e.allowHosts, err = parseDestinations("allow", r.Allow); err != nil {
		return nil, err
	}
	if e.denyNets, e.denyHosts, err = parseDestinations("deny", r.Deny); err != nil {
		return nil, err
	}
	if !r.AllowLinkLocal {
		e.denyNets = append(e.denyNets, linkLocal...)
	}
	return e, nil
}

// SplitDestinations splits a flag value, a comma-separated list of
// destinations, into entries; blanks around entries and empty entries are
// dropped.
func SplitDestinations(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func parseDestinations(list string, entries []string) ([]netip.Prefix, []hostPattern, error) {
	var nets []netip.Prefix
	var hosts []hostPattern
	for _, s := range entries {
		n, h, err := parseDestination(s)
		if err != nil {
			return nil, nil, fmt.Errorf("egress %s entry %q: %w", list, s, err)
		}
		if n.IsValid() {
			nets = append(nets, n)
		} else {
			hosts = append(hosts, h)
		}
	}
	return nets, hosts, nil
}

// hostPattern is an exact host name, or with suffix set, any name ending in
// "."+name.
type hostPattern struct {
	name   string
	suffix bool
}

func (p hostPattern) match(host string) bool {
	if p.suffix {
		return len(host) > len(p.name)+1 && strings.HasSuffix(host, p.name) && host[len(host)-len(p.name)-1] == '.'
	}
	return host == p.name
}

// parseDestination parses one entry of EgressRules: a CIDR or an IP address
// (returned as a valid prefix), or a host name or *.suffix pattern.
func parseDestination(s string) (netip.Prefix, hostPattern, error) {
	if s == "" {
		return netip.Prefix{}, hostPattern{}, errors.New("empty")
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, hostPattern{}, errors.New("expected a CIDR such as 10.0.0.0/8 or fd00::/8")
		}
		if p.Addr().Zone() != "" {
			return netip.Prefix{}, hostPattern{}, errors.New("a CIDR has no zone")
		}
		return unmapPrefix(p).Masked(), hostPattern{}, nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return netip.Prefix{}, hostPattern{}, errors.New("an address has no zone here")
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), hostPattern{}, nil
	}
	name := strings.TrimSuffix(strings.ToLower(s), ".")
	p := hostPattern{name: name}
	if rest, ok := strings.CutPrefix(name, "*."); ok {
		p = hostPattern{name: rest, suffix: true}
	}
	if err := checkHostName(p.name); err != nil {
		return netip.Prefix{}, hostPattern{}, err
	}
	return netip.Prefix{}, p, nil
}

// unmapPrefix turns an IPv4-mapped IPv6 prefix (::ffff:10.0.0.0/104) into
// its IPv4 prefix, since addresses are checked unmapped.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if !p.Addr().Is4In6() {
		return p
	}
	bits := p.Bits() - 96
	if bits < 0 {
		bits = 0
	}
	return netip.PrefixFrom(p.Addr().Unmap(), bits)
}

// checkHostName accepts DNS names: dot-separated labels of letters, digits,
// '-' and '_', each 1 to 63 characters, at most 253 in all.
func checkHostName(name string) error {
	const want = "expected a CIDR, an IP address, a host name or *.suffix"
	if name == "" || len(name) > 253 {
		return errors.New(want)
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return errors.New(want)
		}
		for _, c := range label {
			ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
			if !ok {
				return errors.New(want)
			}
		}
	}
	return nil
}

// EgressError is the error of a connection the policy refused: it names
// the destination (the host asked for or the address) and nothing the
// destination said, since no byte was sent to it.
type EgressError struct {
	Destination string
}

func (e *EgressError) Error() string {
	return "destination " + e.Destination + " refused by the operator's egress policy"
}

// hostVerdict is what the host name asked for decides before any lookup.
type hostVerdict int

const (
	hostUndecided hostVerdict = iota // the address decides
	hostAllowed                      // allowed by name; the address may still be denied
)

// checkName applies the host entries to the name asked for (nothing for an
// IP literal).
func (e *Egress) checkName(host string) (hostVerdict, error) {
	name := strings.TrimSuffix(strings.ToLower(host), ".")
	if _, err := netip.ParseAddr(name); err == nil || name == "" {
		return hostUndecided, nil
	}
	for _, p := range e.denyHosts {
		if p.match(name) {
			return 0, &EgressError{Destination: host}
		}
	}
	for _, p := range e.allowHosts {
		if p.match(name) {
			return hostAllowed, nil
		}
	}
	return hostUndecided, nil
}

// checkAddr applies the CIDR entries to the address connected to.
func (e *Egress) checkAddr(a netip.Addr, v hostVerdict) error {
	a = a.WithZone("").Unmap()
	for _, p := range e.denyNets {
		if p.Contains(a) {
			return &EgressError{Destination: a.String()}
		}
	}
	if !e.allowSet || v == hostAllowed {
		return nil
	}
	for _, p := range e.allowNets {
		if p.Contains(a) {
			return nil
		}
	}
	return &EgressError{Destination: a.String()}
}

// Check says whether host (a name or an IP literal) may be connected to at
// address a, as a dial does. Tests and callers that resolve names
// themselves use it; a dial through DialContext checks by itself.
func (e *Egress) Check(host string, a netip.Addr) error {
	v, err := e.checkName(host)
	if err != nil {
		return err
	}
	return e.checkAddr(a, v)
}

type egressNameKey struct{}

// WithEgressName returns ctx saying that dials made with it connect to an
// address looked up for name: the policy's host entries are then checked
// against name rather than the address dialled (a scaler that resolves an
// interceptor Service's replicas and reads each at its address).
func WithEgressName(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, egressNameKey{}, name)
}

// DialFunc is the signature of net.Dialer.DialContext, which client libraries
// take as their dialer.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// Dialer returns d's DialContext under the policy: the host name asked for
// is checked before it is looked up, and every address d tries is checked
// just before its connect (net.Dialer.Control), so nothing is sent to a
// refused destination. Networks other than TCP are refused. d is copied;
// its Control, when set, runs after the check.
func (e *Egress) Dialer(d net.Dialer) DialFunc {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		switch network {
		case "tcp", "tcp4", "tcp6":
		default:
			return nil, &net.OpError{Op: "dial", Net: network, Err: &EgressError{Destination: "on network " + network}}
		}
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: err}
		}
		name := host
		if n, ok := ctx.Value(egressNameKey{}).(string); ok && n != "" {
			name = n
		}
		v, err := e.checkName(name)
		if err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: err}
		}
		dd := d
		inner := d.Control
		dd.Control = func(network, address string, c syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return &EgressError{Destination: address}
			}
			if err := e.checkAddr(ap.Addr(), v); err != nil {
				return err
			}
			if inner != nil {
				return inner(network, address, c)
			}
			return nil
		}
		dd.ControlContext = nil
		return dd.DialContext(ctx, network, address)
	}
}

// DialContext dials under the policy with the usual settings (30 s connect
// timeout, 30 s keep-alive): Dialer of that net.Dialer.
func (e *Egress) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return e.Dialer(net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second})(ctx, network, address)
}

// EgressRefusal returns the policy's refusal in err's chain, or nil: scalers
// use it to report a refused destination as it is, rather than as one more
// connection failure.
func EgressRefusal(err error) error {
	var ee *EgressError
	if errors.As(err, &ee) {
		return ee
	}
	return nil
}
