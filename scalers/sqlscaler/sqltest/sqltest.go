// Package sqltest holds helpers for the SQL scalers' tests against real
// databases: a check that the service is up (failing, never skipping, in CI),
// unique names, and a TCP proxy that can take the database away, black-hole
// it, and count the queries that reach it.
package sqltest

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"testing"
	"time"
)

// RequireService fails the test when nothing accepts TCP connections at addr.
// Outside CI (CI unset) it skips instead, so that a laptop without the
// database can still run the other tests; with CI=true a missing service is
// always a failure.
func RequireService(t testing.TB, name, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err == nil {
		_ = c.Close()
		return
	}
	msg := name + " is not reachable at " + addr + " (" + err.Error() + "); these tests need the real service running on loopback (make test starts it)"
	if os.Getenv("CI") == "" {
		t.Skip(msg)
	}
	t.Fatal(msg)
}

// Unique returns prefix followed by a random lowercase hex suffix, usable as a
// SQL identifier.
func Unique(prefix string) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return prefix + "_" + hex.EncodeToString(b[:])
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

// Eventually polls cond every 20 ms until it returns true or the deadline
// passes, then fails with msg.
func Eventually(t testing.TB, within time.Duration, msg string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
