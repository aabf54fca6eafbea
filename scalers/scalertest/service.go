// SPDX-License-Identifier: Apache-2.0

package scalertest

import (
	"net"
	"os"
	"testing"
	"time"
)

// The scalers' tests run against real services on loopback
// (tests/services.sh starts them). These helpers say what is missing the
// same way in every package: under CI (CI=true) a missing service fails the
// test; elsewhere the test is skipped with the reason.

// RequireService stops the test when nothing accepts TCP connections at addr,
// naming the service: a t.Fatal under CI=true, a t.Skip elsewhere.
func RequireService(t testing.TB, name, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err == nil {
		_ = c.Close()
		return
	}
	Unavailable(t, name+" is not reachable at "+addr+" ("+err.Error()+"); these tests need the real service on loopback (tests/services.sh starts it)")
}

// Unavailable stops the test for a missing prerequisite that msg names: a
// t.Fatal under CI=true, where everything the tests need must be there, and
// a t.Skip elsewhere.
func Unavailable(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// FreeAddr returns a loopback address where nothing listens.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// Eventually polls cond every 20 ms until it holds or within has passed,
// then fails naming what and cond's last word (what it saw).
func Eventually(t testing.TB, within time.Duration, what string, cond func() (ok bool, saw string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s (last saw: %s)", within, what, saw)
		}
		<-tick.C
	}
}
