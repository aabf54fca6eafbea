// SPDX-License-Identifier: Apache-2.0

package scalertest

import (
	"context"
	"errors"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ebbscale/ebb/scalers"
)

// Hostile sources: a tenant chooses the server its trigger reads, so every
// scaler that talks TCP or HTTP is tested against a server that lies (a
// huge announced count or length, an oversized body) as well as against the
// real source.

// HostileTCP serves every connection to a loopback listener with serve, on
// a goroutine of its own, until the test ends; it returns the listener's
// address. serve owns the connection, which is closed after it returns.
func HostileTCP(t testing.TB, serve func(conn net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				serve(c)
			})
		}
	})
	return l.Addr().String()
}

// BoundedFailure reads sc once and checks what a read of a hostile source
// must do: fail (never a value), within the given time, allocating at most
// maxAlloc bytes in the whole process meanwhile (so never what the source
// announced), and without a panic escaping. It returns the read's error.
func BoundedFailure(t testing.TB, sc scalers.Scaler, within time.Duration, maxAlloc uint64) error {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ctx, cancel := context.WithTimeout(context.Background(), within+10*time.Second)
	defer cancel()
	start := time.Now()
	r, err := scalers.GuardRead(func() (scalers.Reading, error) { return sc.Read(ctx) })
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	var pe *scalers.PanicError
	switch {
	case errors.As(err, &pe):
		t.Fatalf("the read panicked: %s\n%s", pe.Value, pe.Stack)
	case err == nil:
		t.Fatalf("the read of a hostile source returned %v, want an error", r)
	}
	if took > within {
		t.Errorf("the read took %s, want at most %s (error: %v)", took, within, err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > maxAlloc {
		t.Errorf("the process allocated %d bytes during the read, want at most %d (error: %v)", grew, maxAlloc, err)
	}
	return err
}

// CheckInChunks feeds data to check in chunks of n bytes (all at once when
// n is 0 or less), as a connection's reads would, and returns the first
// refusal.
func CheckInChunks(check scalers.WireChecker, data []byte, n int) error {
	if n <= 0 {
		n = len(data) + 1
	}
	for len(data) > 0 {
		k := min(n, len(data))
		if err := check.Check(data[:k]); err != nil {
			return err
		}
		data = data[k:]
	}
	return nil
}
