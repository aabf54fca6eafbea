// SPDX-License-Identifier: Apache-2.0

package faultproxy

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"
)

// echo serves a loopback echo: each line comes back.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// roundTrip sends a line on c and waits up to within for it to come back.
func roundTrip(c net.Conn, r *bufio.Reader, within time.Duration) error {
	_ = c.SetDeadline(time.Now().Add(within))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	_, err := r.ReadString('\n')
	return err
}

func dial(t *testing.T, p *Proxy) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, bufio.NewReader(c)
}

func TestProxy(t *testing.T) {
	t.Run("it forwards, and Stop cuts open connections until Start", func(t *testing.T) {
		p := New(t, echo(t), nil)
		c, r := dial(t, p)
		if err := roundTrip(c, r, 5*time.Second); err != nil {
			t.Fatalf("through the proxy: %v", err)
		}
		if p.Conns() != 2 || p.Dialed() != 1 {
			t.Errorf("Conns = %d, Dialed = %d; want 2 (client and service sides) and 1", p.Conns(), p.Dialed())
		}
		p.Stop()
		if err := roundTrip(c, r, 5*time.Second); err == nil {
			t.Error("an open connection still works after Stop")
		}
		if c, err := net.Dial("tcp", p.Addr()); err == nil {
			_ = c.Close()
			t.Error("the port accepts connections after Stop")
		}
		p.Start(t)
		c, r = dial(t, p)
		if err := roundTrip(c, r, 5*time.Second); err != nil {
			t.Errorf("after Start: %v", err)
		}
	})

	t.Run("Stall silences open and new connections; open ones work again after it", func(t *testing.T) {
		p := New(t, echo(t), nil)
		open, openR := dial(t, p)
		if err := roundTrip(open, openR, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		p.Stall(true)
		if err := roundTrip(open, openR, 300*time.Millisecond); err == nil {
			t.Error("an open connection answered while stalled")
		}
		stalled, stalledR := dial(t, p)
		if err := roundTrip(stalled, stalledR, 300*time.Millisecond); err == nil {
			t.Error("a new connection answered while stalled")
		}
		p.Stall(false)
		if err := roundTrip(open, openR, 5*time.Second); err != nil {
			t.Errorf("the open connection after Stall(false): %v", err)
		}
		if err := roundTrip(stalled, stalledR, 300*time.Millisecond); err == nil {
			t.Error("a connection accepted while stalled answered later")
		}
	})

	t.Run("Delay holds what a client sends", func(t *testing.T) {
		p := New(t, echo(t), nil)
		p.Delay(300 * time.Millisecond)
		c, r := dial(t, p)
		start := time.Now()
		if err := roundTrip(c, r, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took < 300*time.Millisecond {
			t.Errorf("a round trip took %s with a delay of 300ms", took)
		}
	})
}
