// SPDX-License-Identifier: Apache-2.0

package interceptor

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// A guarded Dialer refuses loopback, link-local (cloud metadata),
// unspecified and multicast addresses, and dials the administrator's pins.
func TestAGuardedDialerRefusesLoopbackAndMetadata(t *testing.T) {
	for _, a := range []string{"127.0.0.1", "::1", "169.254.169.254", "fe80::1", "fd00:ec2::254", "0.0.0.0", "224.0.0.1", "::ffff:127.0.0.1"} {
		if !Refused(netip.MustParseAddr(a)) {
			t.Errorf("%s is not refused", a)
		}
	}
	for _, a := range []string{"10.96.0.10", "192.0.2.1", "2001:db8::1", "fd00::1"} {
		if Refused(netip.MustParseAddr(a)) {
			t.Errorf("%s is refused", a)
		}
	}

	b := startBackend(t, "web")
	addr := strings.TrimPrefix(b.srv.URL, "http://")
	pinned := &Dialer{Guard: true, Pins: map[string]string{"web.shop.svc.cluster.local:80": addr}}
	f := startFront(t, Config{Dial: pinned.DialContext, Routes: []Route{
		rt("loopback", "loop.example", "/", b.srv.URL),
		rt("metadata", "meta.example", "/", "http://169.254.169.254:80"),
		rt("pinned", "web.example", "/", "http://web.shop.svc.cluster.local.:80"),
	}})
	c := &http.Client{}
	for _, host := range []string{"loop.example", "meta.example"} {
		if resp, _ := f.get(t, c, host, "/"); resp.StatusCode != http.StatusBadGateway {
			t.Errorf("%s answered %d, want 502", host, resp.StatusCode)
		}
	}
	if b.served.Load() != 0 {
		t.Errorf("the loopback backend was reached")
	}
	if _, body := f.get(t, c, "web.example", "/x"); body != "web /x" {
		t.Errorf("the pinned backend answered %q", body)
	}
}

func TestParsePin(t *testing.T) {
	from, to, err := ParsePin("Web.shop.svc.cluster.local.:80=127.0.0.1:8080")
	if err != nil || from != "web.shop.svc.cluster.local:80" || to != "127.0.0.1:8080" {
		t.Errorf("ParsePin = %q, %q, %v", from, to, err)
	}
	for _, bad := range []string{"web:80", "web=127.0.0.1:1", "web:80=127.0.0.1"} {
		if _, _, err := ParsePin(bad); err == nil {
			t.Errorf("ParsePin(%q) accepted", bad)
		}
	}
}
