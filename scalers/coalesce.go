// SPDX-License-Identifier: Apache-2.0

package scalers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"
)

// CoalesceKey makes a Coalescer key of the fields that identify a read (the
// source, the credentials, the query): a digest, so that no credential sits
// in a plain string that might be printed.
func CoalesceKey(fields ...string) string {
	h := sha256.New()
	for _, f := range fields {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Coalescer merges identical queries in flight: while a query for a key runs,
// other callers for the same key wait for its result instead of querying the
// source again. Keys identify the source, the credentials and the query. A
// Coalescer is safe for concurrent use; its zero value is ready.
type Coalescer[V any] struct {
	mu    sync.Mutex
	calls map[string]*call[V]
}

type call[V any] struct {
	done chan struct{}
	val  V
	err  error
	// leaderGone says the starter's context ended during the run.
	leaderGone bool
}

// Do runs fn for key, or waits for the run already in flight. Each caller
// stops waiting when its own ctx ends. A panic in fn is recovered: the run
// fails with a *PanicError. The run uses the context of the caller
// that started it; when that context ends mid-run, callers that joined and
// still wait start a new run instead of taking its error.
func (c *Coalescer[V]) Do(ctx context.Context, key string, fn func(ctx context.Context) (V, error)) (V, error) {
	c.mu.Lock()
	if c.calls == nil {
		c.calls = map[string]*call[V]{}
	}
	if cl, ok := c.calls[key]; ok {
		c.mu.Unlock()
		select {
		case <-cl.done:
			if cl.err != nil && cl.leaderGone && ctx.Err() == nil {
				// The run failed because its starter gave up, not because of
				// the source: this caller still wants an answer, so it asks
				// again.
				return c.Do(ctx, key, fn)
			}
			return cl.val, cl.err
		case <-ctx.Done():
			var zero V
			return zero, ctx.Err()
		}
	}
	cl := &call[V]{done: make(chan struct{})}
	c.calls[key] = cl
	c.mu.Unlock()

	// A panic in fn fails this run (for every caller waiting on it) as a
	// *PanicError: unrecovered, it would leave the key in flight for ever,
	// and every later caller would wait for a run that never ends.
	cl.val, cl.err = GuardRead(func() (V, error) { return fn(ctx) })
	cl.leaderGone = ctx.Err() != nil
	c.mu.Lock()
	delete(c.calls, key)
	c.mu.Unlock()
	close(cl.done)
	return cl.val, cl.err
}
