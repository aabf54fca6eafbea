// SPDX-License-Identifier: Apache-2.0

package interceptor

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httputil"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Interceptor is the proxy: an http.Handler that routes, counts and holds
// requests. It is safe for concurrent use.
type Interceptor struct {
	cfg Config
	now func() time.Time
	// set is the route table; SetRoutes swaps it whole, so the request path
	// reads it without a lock.
	set atomic.Pointer[routeSet]
	// mu serializes SetRoutes and SetReadyEndpoints; ready holds the last
	// ready count of each Service (routes_dynamic.go).
	mu    sync.Mutex
	ready map[service]int
	act   activations

	held atomic.Int64 // requests held, all routes

	h1      *http.Transport
	h2      *http.Transport
	buffers *bufferPool
}

// route is a Route with its counters and its readiness gate. A route that
// SetRoutes keeps (same name) gets a new route with the same *counters.
type route struct {
	cfg   Route
	proxy *httputil.ReverseProxy
	*counters
}

// counters are a route's counters, window and gate: they outlive a change
// of the route's host, prefix, backend or Service.
type counters struct {
	win *window

	requests atomic.Int64 // all requests, since start
	inFlight atomic.Int64 // being proxied now (held ones excluded)
	held     atomic.Int64
	rejected [numReasons]atomic.Int64
	// signaled is the activation sequence number of the route's last
	// signal (activation.go).
	signaled atomic.Uint64

	gate gate
}

// Reasons a request is answered 503 by the interceptor itself.
const (
	reasonQueueFull = iota
	reasonTimeout
	numReasons
)

var reasonNames = [numReasons]string{"queue_full", "hold_timeout"}

// gate is a route's readiness: requests pass while it is open.
type gate struct {
	// fast mirrors ready for the path of every request.
	fast  atomic.Int64
	mu    sync.Mutex
	ready int
	// open is closed while the route has a ready endpoint; a new one is
	// made when the count falls to 0.
	open chan struct{}
}

func (g *gate) set(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	was := g.ready
	g.ready = n
	g.fast.Store(int64(n))
	switch {
	case was == 0 && n > 0:
		close(g.open)
	case was > 0 && n == 0:
		g.open = make(chan struct{})
	}
}

// wait returns a channel closed when the route is ready (already closed if
// it is).
func (g *gate) wait() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.open
}

func (g *gate) readyEndpoints() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ready
}

// New returns an Interceptor for cfg. Routes with a Service start not ready
// until SetReadyEndpoints says otherwise; routes without one are ready.
func New(cfg Config) (*Interceptor, error) {
	cfg.defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ic := &Interceptor{cfg: cfg, now: time.Now, buffers: newBufferPool(), ready: map[service]int{}}
	ic.act.init()
	ic.h1, ic.h2 = newTransports(cfg.ResponseHeaderTimeout, cfg.Dial) // proxy.go

	if err := ic.SetRoutes(cfg.Routes); err != nil {
		return nil, err
	}
	return ic, nil
}

// ServeHTTP routes, counts, holds and proxies one request.
func (ic *Interceptor) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	raw := req.URL.EscapedPath()
	norm, ok := normalizePath(raw)
	if !ok {
		http.Error(w, "ebb-interceptor: the request path cannot be normalised (dot segments above the root, an encoded slash or backslash, or a bad escape)", http.StatusBadRequest)
		return
	}
	if norm != raw {
		req = withPath(req, norm)
	}
	r := ic.set.Load().table.match(req.Host, req.URL.Path)
	if r == nil {
		http.Error(w, "ebb-interceptor: no route for this host and path", http.StatusNotFound)
		return
	}
	r.requests.Add(1)
	r.win.add(ic.now())

	if r.gate.fast.Load() == 0 && !ic.hold(w, req, r) {
		return
	}
	r.inFlight.Add(1)
	defer r.inFlight.Add(-1)
	r.proxy.ServeHTTP(w, req)
}

// hold waits for the route to become ready. It answers 503 and returns false
// when the queue is full or the wait times out.
func (ic *Interceptor) hold(w http.ResponseWriter, req *http.Request, r *route) bool {
	prev, ok := acquire(&r.held, int64(ic.cfg.MaxHeldPerRoute))
	if !ok {
		ic.reject(w, r, reasonQueueFull)
		return false
	}
	defer r.held.Add(-1)
	if prev == 0 {
		// The first request waiting: tell the operator at once.
		ic.act.signal(r.counters)
	}
	if _, ok := acquire(&ic.held, int64(ic.cfg.MaxHeld)); !ok {
		ic.reject(w, r, reasonQueueFull)
		return false
	}
	defer ic.held.Add(-1)

	timer := time.NewTimer(ic.cfg.HoldTimeout)
	defer timer.Stop()
	select {
	case <-r.gate.wait():
		return true
	case <-timer.C:
		ic.reject(w, r, reasonTimeout)
		return false
	case <-req.Context().Done():
		return false // the client gave up
	}
}

// acquire takes one of max slots of c and returns how many were taken
// before; c never exceeds max.
func acquire(c *atomic.Int64, max int64) (prev int64, ok bool) {
	for {
		v := c.Load()
		if v >= max {
			return v, false
		}
		if c.CompareAndSwap(v, v+1) {
			return v, true
		}
	}
}

func (ic *Interceptor) reject(w http.ResponseWriter, r *route, reason int) {
	r.rejected[reason].Add(1)
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(ic.cfg.RetryAfter.Seconds()))))
	w.Header().Set("Cache-Control", "no-store")
	msg := "ebb-interceptor: the backend is scaling up; too many requests are waiting"
	if reason == reasonTimeout {
		msg = fmt.Sprintf("ebb-interceptor: the backend had no ready endpoint within %s", ic.cfg.HoldTimeout)
	}
	http.Error(w, msg, http.StatusServiceUnavailable)
}

// CloseIdleConnections closes the idle connections to backends.
func (ic *Interceptor) CloseIdleConnections() {
	ic.h1.CloseIdleConnections()
	ic.h2.CloseIdleConnections()
}

// NewServer returns an http.Server for the interceptor's proxy port: HTTP/1.1
// and HTTP/2 without TLS (h2c), a bound on reading request headers, no
// bound on reading bodies or writing answers (streams and WebSockets last as
// long as the client and the backend want).
func NewServer(addr string, h http.Handler) *http.Server {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		Protocols:         p,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}
