// SPDX-License-Identifier: Apache-2.0

package interceptor

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

// Dialer opens the connections to backends. Set its DialContext as
// Config.Dial.
//
// With Guard, it refuses to connect to an address a tenant's route must
// never reach, whatever name resolved to it (a Service of type
// ExternalName, for example): loopback (the interceptor's own pod and admin
// port), link-local (the cloud metadata service, 169.254.169.254), the
// AWS metadata service's IPv6 address fd00:ec2::254, unspecified and
// multicast addresses. The check runs on the address actually dialed.
type Dialer struct {
	// Guard refuses the addresses above; routes from the cluster set it.
	Guard bool
	// Pins maps a backend's host:port to the address to dial instead, like
	// curl's --resolve; pinned addresses are the administrator's and are
	// not guarded. Host names are matched without a trailing dot and in
	// lower case.
	Pins map[string]string
	// Timeout bounds a connect; zero: 5 s.
	Timeout time.Duration
	// RefusedRetry is how long a refused connect is tried again, every
	// 100 ms; zero: 3 s, negative: never. A Service's EndpointSlice turns
	// ready before kube-proxy has written the rules that send its cluster
	// IP to the new pod: until then the node rejects the connect. A held
	// request released in that gap would otherwise get a 502. A refused
	// connect has sent nothing, so trying again is safe for any request.
	RefusedRetry time.Duration
}

// refusedRetryEvery is the pause between two connects tried again.
const refusedRetryEvery = 100 * time.Millisecond

// metadataV6 is the IPv6 address of the AWS instance metadata service.
var metadataV6 = netip.MustParseAddr("fd00:ec2::254")

// Refused reports whether a Guard refuses to dial ip.
func Refused(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsMulticast() ||
		ip.IsUnspecified() || ip == metadataV6 || !ip.IsValid()
}

// DialContext dials addr (host:port) on network.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	nd, to := d.net(d.Guard), addr
	if pin, ok := d.Pins[pinKey(addr)]; ok {
		nd, to = d.net(false), pin
	}
	window := d.RefusedRetry
	if window == 0 {
		window = 3 * time.Second
	}
	deadline := time.Now().Add(window)
	for {
		conn, err := nd.DialContext(ctx, network, to)
		if err == nil || !errors.Is(err, syscall.ECONNREFUSED) || time.Now().Add(refusedRetryEvery).After(deadline) {
			return conn, err
		}
		t := time.NewTimer(refusedRetryEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
}

func (d *Dialer) net(guard bool) *net.Dialer {
	nd := &net.Dialer{Timeout: d.Timeout, KeepAlive: 30 * time.Second}
	if nd.Timeout <= 0 {
		nd.Timeout = 5 * time.Second
	}
	if guard {
		nd.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || Refused(ap.Addr()) {
				return fmt.Errorf("ebb-interceptor refuses to connect to %s: a route from a ScaledObject may not reach loopback, link-local (cloud metadata), unspecified or multicast addresses", address)
			}
			return nil
		}
	}
	return nd
}

func pinKey(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return strings.ToLower(addr)
	}
	return net.JoinHostPort(strings.ToLower(strings.TrimSuffix(host, ".")), port)
}

// ParsePin reads a pin "host:port=address:port" (curl's --resolve, with
// the address's port too).
func ParsePin(s string) (from, to string, err error) {
	from, to, ok := strings.Cut(s, "=")
	if !ok {
		return "", "", fmt.Errorf("%q: expected host:port=address:port", s)
	}
	for _, hp := range []string{from, to} {
		if _, _, err := net.SplitHostPort(hp); err != nil {
			return "", "", fmt.Errorf("%q: expected host:port=address:port: %w", s, err)
		}
	}
	return pinKey(from), to, nil
}
