// SPDX-License-Identifier: Apache-2.0

// Package faultproxy is a TCP proxy on loopback for tests of failures: a test
// puts it between a client and a real service and makes the service go away
// (Stop), come back on the same port (Start), hang (Hang), fall silent
// (Stall) or slow (Delay), without stopping the shared service itself. A
// Counter can count the queries that pass.
package faultproxy

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Proxy forwards TCP connections from a loopback port to a real service. A
// test can stop it (the service "goes away": the port refuses connections
// and open connections are cut), start it again on the same port, make it
// hang (accept connections and never answer), stall it (open connections
// stay up but nothing gets through) or delay what clients send. A Counter,
// when set, sees the client's bytes and counts queries.
type Proxy struct {
	target string
	addr   string
	count  func() Counter

	mu      sync.Mutex
	ln      net.Listener
	conns   map[net.Conn]struct{}
	hang    bool
	wg      sync.WaitGroup
	queries atomic.Int64
	dialed  atomic.Int64
	stall   atomic.Bool  // the clients' bytes go nowhere
	delay   atomic.Int64 // nanoseconds to wait before forwarding each chunk a client sends
}

// Counter parses one client connection's byte stream and counts queries.
type Counter interface {
	// Feed takes the next bytes the client sent and returns how many queries
	// they completed.
	Feed(p []byte) int
}

// New starts a proxy to target on a free loopback port; count, if not
// nil, makes one Counter per client connection. The proxy stops at the end
// of the test.
func New(t testing.TB, target string, count func() Counter) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{target: target, addr: ln.Addr().String(), count: count, conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	t.Cleanup(func() {
		p.Stop()
		p.wg.Wait()
	})
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.addr }

// Port is the proxy's port.
func (p *Proxy) Port() string {
	_, port, _ := net.SplitHostPort(p.addr)
	return port
}

// Queries is the number of queries counted so far.
func (p *Proxy) Queries() int64 { return p.queries.Load() }

// Dialed is the number of connections the proxy opened to the service: the
// clients' connections that got through.
func (p *Proxy) Dialed() int64 { return p.dialed.Load() }

// Stop closes the listener and every open connection: clients see the
// service go away.
func (p *Proxy) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
}

// Start listens again on the same port.
func (p *Proxy) Start(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	running := p.ln != nil
	p.mu.Unlock()
	if running {
		return
	}
	// The port may linger for a moment after Stop.
	deadline := time.Now().Add(10 * time.Second)
	for {
		ln, err := net.Listen("tcp", p.addr)
		if err == nil {
			p.serve(ln)
			return
		}
		if time.Now().After(deadline) || !errors.Is(err, syscall.EADDRINUSE) {
			t.Fatalf("proxy: listen again on %s: %v", p.addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Hang makes new connections hang: they are accepted and never answered.
func (p *Proxy) Hang(on bool) {
	p.mu.Lock()
	p.hang = on
	p.mu.Unlock()
}

// Stall makes the network silent while on: what clients send on open
// connections goes nowhere (they stay up), and new connections hang as with
// Hang, for good: a connection accepted while stalled never gets through.
func (p *Proxy) Stall(on bool) { p.stall.Store(on) }

// Delay makes each chunk a client sends wait d before it is forwarded: a
// slow network or service. Zero forwards at once.
func (p *Proxy) Delay(d time.Duration) { p.delay.Store(int64(d)) }

// Conns is the number of connections the proxy holds open, on the clients'
// side and the service's.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.handle(c)
			}()
		}
	}()
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		_ = c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close()
}

func (p *Proxy) handle(client net.Conn) {
	if !p.track(client) {
		return
	}
	defer p.untrack(client)
	p.mu.Lock()
	hang := p.hang
	p.mu.Unlock()
	if hang || p.stall.Load() {
		_, _ = io.Copy(io.Discard, client) // until the client or Stop closes it
		return
	}
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	p.dialed.Add(1)
	if !p.track(server) {
		return
	}
	defer p.untrack(server)
	var counter Counter
	if p.count != nil {
		counter = p.count()
	}
	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(client, server)
		_ = client.Close()
		done <- struct{}{}
	}()
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := client.Read(buf)
			if n > 0 && !p.stall.Load() {
				if d := time.Duration(p.delay.Load()); d > 0 {
					time.Sleep(d)
				}
				if counter != nil {
					p.queries.Add(int64(counter.Feed(buf[:n])))
				}
				if _, werr := server.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		_ = server.Close()
		done <- struct{}{}
	}()
	<-done
	<-done
}
