// SPDX-License-Identifier: Apache-2.0

package scalers

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// ErrLeaseReleased is Lease.Get's error once the lease was released: a
// Scaler closed while one of its reads was in flight gets it instead of
// opening a resource that no one would close.
var ErrLeaseReleased = errors.New("the scaler was closed")

// Pool shares one resource (a connection, a client) per key among any number
// of holders, so that 1,000 triggers on one broker hold one connection. Keys
// identify an endpoint and its credentials; they are never logged.
//
// A holder takes a Lease with Acquire (no I/O), gets the resource with
// Lease.Get (the first Get opens it; concurrent Gets wait for that one open),
// drops a broken resource with Lease.Invalidate so the next Get opens a new
// one, and gives the lease back with Release. The last Release closes the
// resource. Get on a released lease fails and opens nothing. A Pool is safe
// for concurrent use.
type Pool[K comparable, R any] struct {
	open  func(ctx context.Context, key K) (R, error)
	close func(R)
	// live counts the resources opened and not yet closed.
	live atomic.Int64

	mu      sync.Mutex
	entries map[K]*poolEntry[R]
}

type poolEntry[R any] struct {
	refs int
	// sem is a one-slot semaphore guarding res, ok and gone; waiting on it
	// honours the caller's context.
	sem chan struct{}
	res R
	ok  bool
	// gone says the last lease was released: the entry is out of the pool
	// and must never hold a resource again.
	gone bool
}

// NewPool returns a Pool that opens resources with open and closes them with
// close. close is called without any lock held, so it may block.
func NewPool[K comparable, R any](open func(ctx context.Context, key K) (R, error), close func(R)) *Pool[K, R] {
	return &Pool[K, R]{open: open, close: close, entries: map[K]*poolEntry[R]{}}
}

// Lease is one holder's share of a pooled resource.
type Lease[K comparable, R any] struct {
	pool     *Pool[K, R]
	key      K
	entry    *poolEntry[R]
	released atomic.Bool
}

// Acquire takes a lease on the resource for key. It does no I/O.
func (p *Pool[K, R]) Acquire(key K) *Lease[K, R] {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.entries[key]
	if !ok {
		e = &poolEntry[R]{sem: make(chan struct{}, 1)}
		p.entries[key] = e
	}
	e.refs++
	return &Lease[K, R]{pool: p, key: key, entry: e}
}

// Get returns the shared resource, opening it if it is not open. After
// Release it returns ErrLeaseReleased and opens nothing.
func (l *Lease[K, R]) Get(ctx context.Context) (R, error) {
	var zero R
	if l.released.Load() {
		return zero, ErrLeaseReleased
	}
	e := l.entry
	select {
	case e.sem <- struct{}{}:
	case <-ctx.Done():
		return zero, ctx.Err()
	}
	defer func() { <-e.sem }()
	if e.ok {
		return e.res, nil
	}
	// Checked again under the entry's lock: the last Release marks the
	// entry gone under it, and closes only what is open by then.
	if e.gone || l.released.Load() {
		return zero, ErrLeaseReleased
	}
	r, err := l.pool.open(ctx, l.key)
	if err != nil {
		return zero, err
	}
	l.pool.live.Add(1)
	e.res, e.ok = r, true
	return r, nil
}

// Invalidate closes the resource if it is still r, so the next Get opens a
// new one. Holders call it when r failed in a way that a new one may fix.
func (l *Lease[K, R]) Invalidate(ctx context.Context, r R, same func(a, b R) bool) {
	e := l.entry
	select {
	case e.sem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	if !e.ok || !same(e.res, r) {
		<-e.sem
		return
	}
	old := e.res
	var zero R
	e.res, e.ok = zero, false
	<-e.sem
	l.pool.live.Add(-1)
	l.pool.close(old) // outside the lock: a close may wait for work in flight
}

// Release gives the lease back; the last one closes the resource (after an
// open in flight finishes). Calling it more than once is harmless.
func (l *Lease[K, R]) Release() {
	if l.released.Swap(true) {
		return
	}
	p := l.pool
	p.mu.Lock()
	e := l.entry
	e.refs--
	last := e.refs == 0
	if last {
		delete(p.entries, l.key)
	}
	p.mu.Unlock()
	if !last {
		return
	}
	e.sem <- struct{}{}
	res, ok := e.res, e.ok
	var zero R
	e.res, e.ok, e.gone = zero, false, true
	<-e.sem
	if ok {
		p.live.Add(-1)
		p.close(res)
	}
}

// Stats reports the number of keys held and the number of resources open
// (opened and not yet closed). It does not wait for opens in flight.
func (p *Pool[K, R]) Stats() (keys, open int) {
	p.mu.Lock()
	keys = len(p.entries)
	p.mu.Unlock()
	return keys, int(p.live.Load())
}
