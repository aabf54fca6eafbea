// SPDX-License-Identifier: Apache-2.0

package interceptor

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"
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

// A refused connect is tried again for RefusedRetry: a Service whose
// endpoint just turned ready may still be rejected by the node until
// kube-proxy has written its rules.
func TestADialerTriesARefusedConnectAgain(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // refused from now on, until the listener comes back

	back := make(chan net.Listener, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("listen again on %s: %v", addr, err)
			close(back)
			return
		}
		back <- l
	}()
	conn, err := (&Dialer{}).DialContext(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatalf("a connect refused for 300 ms then accepted: %v", err)
	}
	conn.Close()
	if l, ok := <-back; ok {
		l.Close()
	}

	start := time.Now()
	_, err = (&Dialer{RefusedRetry: -1}).DialContext(t.Context(), "tcp", addr)
	if !errors.Is(err, syscall.ECONNREFUSED) || time.Since(start) > time.Second {
		t.Errorf("RefusedRetry -1: %v after %s, want refused at once", err, time.Since(start))
	}
	start = time.Now()
	_, err = (&Dialer{RefusedRetry: 500 * time.Millisecond}).DialContext(t.Context(), "tcp", addr)
	if !errors.Is(err, syscall.ECONNREFUSED) || time.Since(start) < 300*time.Millisecond || time.Since(start) > 2*time.Second {
		t.Errorf("RefusedRetry 500ms: %v after %s, want refused after about 500 ms", err, time.Since(start))
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
