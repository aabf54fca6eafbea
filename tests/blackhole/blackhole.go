// SPDX-License-Identifier: Apache-2.0

// Package blackhole serves a TCP address on loopback that never answers: it
// accepts every connection and holds it, discarding what the client sends
// and writing nothing. To a client that is a broker behind a dropped route
// or a hung server: the connect succeeds and the first read waits until the
// client's own deadline. Tests and benchmarks point triggers at it to see
// that hanging sources do not hold up the others.
package blackhole

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Start listens on 127.0.0.1 and returns the address ("127.0.0.1:port").
// The listener and every connection it holds close when tb ends.
func Start(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("blackhole: %v", err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() { _, _ = io.Copy(io.Discard, c) }()
		}
	}()
	tb.Cleanup(func() {
		_ = l.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().String()
}
