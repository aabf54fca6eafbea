// SPDX-License-Identifier: Apache-2.0

package external

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/external/externalscaler"
	pb "github.com/ebbscale/ebb/scalers/external/externalscalerpb"
	"github.com/ebbscale/ebb/scalers/scalertest"
)

// trigger is an external trigger of ScaledObject shop/worker.
func trigger(typ string, md, auth map[string]string) scalers.Trigger {
	return scalers.Trigger{Namespace: "shop", ScaledObject: "worker", Index: 0, Name: typ + "-0", Type: typ,
		Metadata: md, AuthParams: auth}
}

// source is a value the test sets and the servers read.
type source struct {
	mu     sync.Mutex
	value  float64
	active bool
	// refs records the references the server was asked about.
	refs []externalscaler.Ref
}

func (s *source) set(v float64, active bool) {
	s.mu.Lock()
	s.value, s.active = v, active
	s.mu.Unlock()
}

func (s *source) read(_ context.Context, ref externalscaler.Ref) (externalscaler.Sample, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refs = append(s.refs, ref)
	return externalscaler.Sample{Value: s.value, Active: s.active}, nil
}

func (s *source) lastRef() externalscaler.Ref {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.refs) == 0 {
		return externalscaler.Ref{}
	}
	return s.refs[len(s.refs)-1]
}

// server is a real gRPC server on loopback serving the protocol.
type server struct {
	addr     string
	srv      *externalscaler.Server
	accepted *atomic.Int64
}

// serve starts a server for read on addr ("127.0.0.1:0" for any port),
// with TLS when cfg is set, stopped when the test ends.
func serve(t testing.TB, addr string, read externalscaler.ReadFunc, opts externalscaler.Options, cfg *tls.Config) *server {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: l, accepted: new(atomic.Int64)}
	srv := externalscaler.New(read, opts)
	var sopts []grpc.ServerOption
	if cfg != nil {
		sopts = append(sopts, grpc.Creds(credentials.NewTLS(cfg)))
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(cl, sopts...)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return &server{addr: l.Addr().String(), srv: srv, accepted: cl.accepted}
}

type countingListener struct {
	net.Listener
	accepted *atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// read reads sc once within 15 s.
func read(t testing.TB, sc scalers.Scaler) (scalers.Reading, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return sc.Read(ctx)
}

// rawServer serves a hand-written implementation of the protocol (hostile
// or odd servers) on loopback until the test ends.
func rawServer(t testing.TB, impl pb.ExternalScalerServer) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	pb.RegisterExternalScalerServer(gs, impl)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = gs.Serve(l)
	}()
	t.Cleanup(func() {
		gs.Stop()
		<-done
	})
	return l.Addr().String()
}

// oneConn is a listener that hands out one connection, then waits for
// Close: it runs a gRPC server on a connection scalertest.HostileTCP
// accepted.
type oneConn struct {
	conn net.Conn
	once sync.Once
	done chan struct{}
	stop sync.Once
}

func (l *oneConn) Accept() (net.Conn, error) {
	var c net.Conn
	l.once.Do(func() { c = l.conn })
	if c != nil {
		return c, nil
	}
	<-l.done
	return nil, net.ErrClosed
}

func (l *oneConn) Close() error {
	l.stop.Do(func() { close(l.done) })
	return nil
}

func (l *oneConn) Addr() net.Addr { return l.conn.LocalAddr() }

// grpcOn serves impl on one accepted connection, for
// scalertest.HostileReply, until the server closes it (the client went
// away) or 20 s passed.
func grpcOn(impl pb.ExternalScalerServer) func(net.Conn) {
	return func(c net.Conn) {
		gs := grpc.NewServer()
		pb.RegisterExternalScalerServer(gs, impl)
		nc := &notifyingConn{Conn: c, closed: make(chan struct{})}
		l := &oneConn{conn: nc, done: make(chan struct{})}
		go func() { _ = gs.Serve(l) }()
		select {
		case <-nc.closed:
		case <-time.After(20 * time.Second):
		}
		gs.Stop()
	}
}

// notifyingConn says when it is closed.
type notifyingConn struct {
	net.Conn
	once   sync.Once
	closed chan struct{}
}

func (c *notifyingConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// eventually waits for cond (scalertest.Eventually, 15 s).
func eventually(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	scalertest.Eventually(t, 15*time.Second, what, cond)
}
