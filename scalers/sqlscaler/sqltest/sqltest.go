// Package sqltest holds helpers for the SQL scalers' tests against real
// databases: a check that the service is up (failing, never skipping),
// unique names, and a TCP proxy that can take the database away, black-hole
// it, and count the queries that reach it.
package sqltest

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"testing"
	"time"
)

// RequireService fails the test, with a message saying what is missing, when
// nothing accepts TCP connections at addr. It never skips: these tests are
// about the real service, in CI and on a laptop alike.
func RequireService(t testing.TB, name, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		t.Fatalf("%s is not reachable at %s (%v); these tests need the real service on loopback (tests/services.sh starts it)", name, addr, err)
	}
	_ = c.Close()
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
