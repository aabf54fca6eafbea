// SPDX-License-Identifier: Apache-2.0

// Package sqltest holds helpers for the SQL scalers' tests against real
// databases: unique names, and a TCP proxy that can take the database away,
// black-hole it, and count the queries that reach it. (A check that the
// service is up, and free addresses, are scalertest's.)
package sqltest

import (
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"
)

// Unique returns prefix followed by a random lowercase hex suffix, usable as a
// SQL identifier.
func Unique(prefix string) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return prefix + "_" + hex.EncodeToString(b[:])
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
