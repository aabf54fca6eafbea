package scalers

import (
	"context"
	"sync"
)

// Pool shares one resource (a connection, a client) per key among any number
// of holders, so that 1,000 triggers on one broker hold one connection. Keys
// identify an endpoint and its credentials; they are never logged.
//
// A holder takes a Lease with Acquire (no I/O), gets the resource with
// Lease.Get (the first Get opens it; concurrent Gets wait for that one open),
// drops a broken resource with Lease.Invalidate so the next Get opens a new
// one, and gives the lease back with Release. The last Release closes the
// resource. A Pool is safe for concurrent use.
type Pool[K comparable, R any] struct {
	open  func(ctx context.Context, key K) (R, error)
	close func(R)

	mu      sync.Mutex
	entries map[K]*poolEntry[R]
}

type poolEntry[R any] struct {
	refs int
	// sem is a one-slot semaphore guarding res and ok; waiting on it honours
	// the caller's context.
	sem chan struct{}
	res R
	ok  bool
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
	released sync.Once
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

// Get returns the shared resource, opening it if it is not open.
func (l *Lease[K, R]) Get(ctx context.Context) (R, error) {
	var zero R
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
	r, err := l.pool.open(ctx, l.key)
	if err != nil {
		return zero, err
	}
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
	l.pool.close(old) // outside the lock: a close may wait for work in flight
}

// Release gives the lease back; the last one closes the resource. Calling it
// more than once is harmless.
func (l *Lease[K, R]) Release() {
	l.released.Do(func() {
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
		e.res, e.ok = zero, false
		<-e.sem
		if ok {
			p.close(res)
		}
	})
}

// Stats reports the number of keys held and how many have an open resource.
func (p *Pool[K, R]) Stats() (keys, open int) {
	p.mu.Lock()
	entries := make([]*poolEntry[R], 0, len(p.entries))
	for _, e := range p.entries {
		entries = append(entries, e)
	}
	p.mu.Unlock()
	for _, e := range entries {
		e.sem <- struct{}{}
		if e.ok {
			open++
		}
		<-e.sem
	}
	return len(entries), open
}
