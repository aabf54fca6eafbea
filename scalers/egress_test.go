// SPDX-License-Identifier: Apache-2.0

package scalers

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func mustEgress(t testing.TB, r EgressRules) *Egress {
	t.Helper()
	e, err := NewEgress(r)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestEgressDecides(t *testing.T) {
	cases := []struct {
		name  string
		rules EgressRules
		host  string
		addr  string
		allow bool
	}{
		{"the default refuses the cloud metadata address", EgressRules{}, "169.254.169.254", "169.254.169.254", false},
		{"the default refuses a name that resolves to the metadata address", EgressRules{}, "metadata.google.internal", "169.254.169.254", false},
		{"the default refuses IPv6 link-local", EgressRules{}, "fe80::1", "fe80::1", false},
		{"the default refuses AWS's IPv6 metadata address", EgressRules{}, "fd00:ec2::254", "fd00:ec2::254", false},
		{"the default refuses the metadata address written as IPv4-mapped IPv6", EgressRules{}, "::ffff:169.254.169.254", "::ffff:169.254.169.254", false},
		{"the default allows a cluster address", EgressRules{}, "prometheus.monitoring.svc", "10.96.0.12", true},
		{"the default allows loopback", EgressRules{}, "localhost", "127.0.0.1", true},
		{"allowLinkLocal lifts the default", EgressRules{AllowLinkLocal: true}, "169.254.169.254", "169.254.169.254", true},
		{"a denied CIDR refuses its addresses", EgressRules{Deny: []string{"10.0.0.0/8"}}, "db", "10.1.2.3", false},
		{"a denied CIDR leaves other addresses", EgressRules{Deny: []string{"10.0.0.0/8"}}, "db", "11.1.2.3", true},
		{"a denied address refuses it", EgressRules{Deny: []string{"127.0.0.2"}}, "127.0.0.2", "127.0.0.2", false},
		{"a denied host refuses it whatever its address", EgressRules{Deny: []string{"kubernetes.default.svc"}}, "Kubernetes.Default.Svc.", "10.96.0.1", false},
		{"a denied *.suffix refuses names under it", EgressRules{Deny: []string{"*.internal"}}, "metadata.google.internal", "10.0.0.1", false},
		{"a denied *.suffix leaves the suffix itself", EgressRules{Deny: []string{"*.internal"}}, "internal", "10.0.0.1", true},
		{"a denied *.suffix leaves a name that only ends with its text", EgressRules{Deny: []string{"*.internal"}}, "xinternal", "10.0.0.1", true},
		{"an allow list refuses what it does not list", EgressRules{Allow: []string{"10.0.0.0/8"}}, "example.com", "93.184.216.34", false},
		{"an allow list admits its CIDR", EgressRules{Allow: []string{"10.0.0.0/8"}}, "db", "10.0.0.7", true},
		{"an allow list admits its host pattern at any address", EgressRules{Allow: []string{"*.svc.cluster.local"}}, "db.team-a.svc.cluster.local", "10.0.0.7", true},
		{"an allowed host pattern does not admit the metadata address", EgressRules{Allow: []string{"*.svc.cluster.local"}}, "db.team-a.svc.cluster.local", "169.254.169.254", false},
		{"deny wins over an allowed CIDR", EgressRules{Allow: []string{"10.0.0.0/8"}, Deny: []string{"10.0.0.0/24"}}, "db", "10.0.0.7", false},
		{"deny wins over an allowed host", EgressRules{Allow: []string{"*.svc"}, Deny: []string{"kubernetes.default.svc"}}, "kubernetes.default.svc", "10.96.0.1", false},
		{"allow link-local in the allow list does not lift the default", EgressRules{Allow: []string{"169.254.0.0/16"}}, "169.254.169.254", "169.254.169.254", false},
		{"an IPv6 CIDR applies to IPv6", EgressRules{Deny: []string{"fd00::/8"}}, "db", "fd12::1", false},
		{"an IPv4-mapped CIDR applies to IPv4", EgressRules{Deny: []string{"::ffff:10.0.0.0/104"}}, "db", "10.3.4.5", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := mustEgress(t, c.rules)
			err := e.Check(c.host, netip.MustParseAddr(c.addr))
			if c.allow && err != nil {
				t.Errorf("Check(%q, %s) = %v, want allowed", c.host, c.addr, err)
			}
			if !c.allow {
				var ee *EgressError
				if !errors.As(err, &ee) {
					t.Fatalf("Check(%q, %s) = %v, want an *EgressError", c.host, c.addr, err)
				}
				if !strings.HasSuffix(err.Error(), "refused by the operator's egress policy") {
					t.Errorf("error %q does not say the policy refused it", err)
				}
			}
		})
	}
}

func TestEgressRefusesEntriesItCannotParse(t *testing.T) {
	for _, bad := range []string{"", "*", "*.", "10.0.0.0/33", "10.0.0.0/", "fe80::1%eth0", "fe80::/10%eth0",
		"a..b", "-/8", "exa mple.com", "*.*.com", "a.*.com", "http://x", strings.Repeat("a", 64) + ".com"} {
		if _, err := NewEgress(EgressRules{Deny: []string{bad}}); err == nil {
			t.Errorf("deny entry %q was accepted", bad)
		} else if !strings.Contains(err.Error(), "egress deny entry") {
			t.Errorf("error %q does not name the list", err)
		}
	}
	for _, good := range []string{"10.0.0.0/8", "10.1.2.3/8", "::1", "fd00::/8", "127.0.0.2", "db.example.com", "*.svc.cluster.local", "EXAMPLE.com.", "my_host"} {
		if _, err := NewEgress(EgressRules{Allow: []string{good}}); err != nil {
			t.Errorf("allow entry %q: %v", good, err)
		}
	}
}

func TestSplitDestinations(t *testing.T) {
	got := SplitDestinations(" 10.0.0.0/8, ,*.svc ,db.example.com,")
	want := []string{"10.0.0.0/8", "*.svc", "db.example.com"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("SplitDestinations = %q, want %q", got, want)
	}
	if got := SplitDestinations(""); len(got) != 0 {
		t.Errorf("SplitDestinations(\"\") = %q, want none", got)
	}
}

// FuzzParseDestination checks that the flag values' parser never panics,
// and that what it accepts is stable: the canonical form parses to the
// same entry.
func FuzzParseDestination(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "::ffff:10.0.0.0/104", "169.254.169.254", "*.svc.cluster.local", "db", "fe80::1%eth0", "a,b", "*.", "0.0.0.0/0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, entry := range SplitDestinations(s) {
			p, h, err := parseDestination(entry)
			if err != nil {
				continue
			}
			var again string
			switch {
			case p.IsValid():
				again = p.String()
			case h.suffix:
				again = "*." + h.name
			default:
				again = h.name
			}
			p2, h2, err := parseDestination(again)
			if err != nil || p2 != p || h2 != h {
				t.Fatalf("%q parsed to %q, which parses to (%v, %v, %v)", entry, again, p2, h2, err)
			}
		}
		if _, err := NewEgress(EgressRules{Allow: SplitDestinations(s), Deny: SplitDestinations(s)}); err == nil {
			// Deny wins: an address or host on both lists is refused.
			e := mustEgress(t, EgressRules{Allow: SplitDestinations(s), Deny: SplitDestinations(s)})
			for _, entry := range SplitDestinations(s) {
				if a, err := netip.ParseAddr(entry); err == nil {
					if e.Check(entry, a) == nil {
						t.Fatalf("%s is on both lists and was allowed", entry)
					}
				}
			}
		}
	})
}

// listen opens a listener on addr that counts the connections it accepts.
func listen(t *testing.T, addr string) (net.Listener, *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = l.Close() })
	var accepted atomic.Int64
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			_ = c.Close()
		}
	}()
	return l, &accepted
}

func TestEgressDialRefusesBeforeConnecting(t *testing.T) {
	l, accepted := listen(t, "127.0.0.2:0")
	_, port, _ := net.SplitHostPort(l.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	denyIt := mustEgress(t, EgressRules{Deny: []string{"127.0.0.2/32"}})
	_, err := denyIt.DialContext(ctx, "tcp", l.Addr().String())
	var ee *EgressError
	if !errors.As(err, &ee) || ee.Destination != "127.0.0.2" {
		t.Fatalf("dial of a denied address = %v, want an *EgressError naming 127.0.0.2", err)
	}
	if !strings.Contains(err.Error(), "destination 127.0.0.2 refused by the operator's egress policy") {
		t.Errorf("error %q does not say which destination the policy refused", err)
	}
	// The same listener takes a dial the policy allows: the refusal was
	// the policy's, and it was made before the connect.
	c, err := DefaultEgress().DialContext(ctx, "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	waitFor(t, func() bool { return accepted.Load() == 1 })

	// A name that resolves to a denied address is refused by the address
	// (localhost resolves to 127.0.0.1 and ::1).
	l1, accepted1 := listen(t, "127.0.0.1:"+port)
	_ = l1
	denyLoop := mustEgress(t, EgressRules{Deny: []string{"127.0.0.0/8", "::1"}})
	if _, err := denyLoop.DialContext(ctx, "tcp", "localhost:"+port); EgressRefusal(err) == nil {
		t.Errorf("dial of localhost with loopback denied = %v, want a refusal", err)
	}
	// A denied name is refused before it is looked up.
	denyName := mustEgress(t, EgressRules{Deny: []string{"localhost"}})
	if _, err := denyName.DialContext(ctx, "tcp", "LocalHost:"+port); EgressRefusal(err) == nil {
		t.Errorf("dial of a denied name = %v, want a refusal", err)
	}
	if n := accepted1.Load(); n != 0 {
		t.Errorf("the listener accepted %d connections from refused dials", n)
	}
}

func TestEgressAllowListAndNamedDials(t *testing.T) {
	l, accepted := listen(t, "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(l.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	onlyByName := mustEgress(t, EgressRules{Allow: []string{"localhost"}})
	if _, err := onlyByName.DialContext(ctx, "tcp", l.Addr().String()); EgressRefusal(err) == nil {
		t.Errorf("dial of an address not on the allow list = %v, want a refusal", err)
	}
	c, err := onlyByName.DialContext(WithEgressName(ctx, "localhost"), "tcp", l.Addr().String())
	if err != nil {
		t.Fatalf("dial of an address looked up for an allowed name: %v", err)
	}
	_ = c.Close()
	byCIDR := mustEgress(t, EgressRules{Allow: []string{"127.0.0.0/8"}})
	c, err = byCIDR.DialContext(ctx, "tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatalf("dial of an allowed CIDR: %v", err)
	}
	_ = c.Close()
	waitFor(t, func() bool { return accepted.Load() == 2 })
	if _, err := DefaultEgress().DialContext(ctx, "unix", "/run/x.sock"); EgressRefusal(err) == nil {
		t.Errorf("dial on a unix socket = %v, want a refusal", err)
	}
	if _, err := DefaultEgress().DialContext(ctx, "tcp", "169.254.169.254:80"); EgressRefusal(err) == nil {
		t.Errorf("dial of the metadata address = %v, want a refusal", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
