// SPDX-License-Identifier: Apache-2.0

package faults

import (
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Front is a TCP forwarder on a fixed loopback port, in front of the
// operators' metrics adapters: the APIService points at it, and a scenario
// chooses which adapters are behind it (SetBackends), spreads connections
// over several (leader failover: both replicas serve), or makes the adapter
// unreachable (Cut: the port refuses connections and open ones are closed).
// It lives for the whole test binary, so the APIService never changes.
type Front struct {
	addr string

	mu       sync.Mutex
	ln       net.Listener
	backends []string
	next     int
	conns    map[net.Conn]struct{}
	closed   bool
	wg       sync.WaitGroup
}

// NewFront listens on a free loopback port.
func NewFront() (*Front, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &Front{addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	f.serve(ln)
	return f, nil
}

// Port is the front's port.
func (f *Front) Port() int {
	_, port, _ := net.SplitHostPort(f.addr)
	n, _ := strconv.Atoi(port)
	return n
}

// SetBackends makes new connections go to addrs, in turn; a backend that
// refuses is skipped. Open connections stay where they are.
func (f *Front) SetBackends(addrs ...string) {
	f.mu.Lock()
	f.backends = append([]string(nil), addrs...)
	f.mu.Unlock()
}

// Cut makes the adapter unreachable: the port refuses connections and the
// open ones are closed, until Restore.
func (f *Front) Cut() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ln != nil {
		_ = f.ln.Close()
		f.ln = nil
	}
	for c := range f.conns {
		_ = c.Close()
	}
}

// Restore listens again on the same port after Cut.
func (f *Front) Restore() error {
	f.mu.Lock()
	running := f.ln != nil
	f.mu.Unlock()
	if running {
		return nil
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ln, err := net.Listen("tcp", f.addr)
		if err == nil {
			f.serve(ln)
			return nil
		}
		if time.Now().After(deadline) || !errors.Is(err, syscall.EADDRINUSE) {
			return err
		}
		time.Sleep(50 * time.Millisecond) // the port lingers for a moment
	}
}

// Close stops the front for good and waits for its goroutines.
func (f *Front) Close() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.Cut()
	f.wg.Wait()
}

func (f *Front) serve(ln net.Listener) {
	f.mu.Lock()
	f.ln = ln
	f.mu.Unlock()
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				f.handle(c)
			}()
		}
	}()
}

func (f *Front) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ln == nil || f.closed {
		_ = c.Close()
		return false
	}
	f.conns[c] = struct{}{}
	return true
}

func (f *Front) untrack(c net.Conn) {
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
	_ = c.Close()
}

// dial connects to the next backend that answers.
func (f *Front) dial() (net.Conn, error) {
	f.mu.Lock()
	backends := f.backends
	start := f.next
	f.next++
	f.mu.Unlock()
	err := errors.New("no backend")
	for i := range backends {
		var c net.Conn
		if c, err = net.DialTimeout("tcp", backends[(start+i)%len(backends)], 2*time.Second); err == nil {
			return c, nil
		}
	}
	return nil, err
}

func (f *Front) handle(client net.Conn) {
	if !f.track(client) {
		return
	}
	defer f.untrack(client)
	server, err := f.dial()
	if err != nil {
		return
	}
	if !f.track(server) {
		return
	}
	defer f.untrack(server)
	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(client, server)
		_ = client.Close()
		done <- struct{}{}
	}()
	go func() {
		_, _ = io.Copy(server, client)
		_ = server.Close()
		done <- struct{}{}
	}()
	<-done
	<-done
}
