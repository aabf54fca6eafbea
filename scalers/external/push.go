// SPDX-License-Identifier: Apache-2.0

package external

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/ebbscale/ebb/scalers"
	pb "github.com/ebbscale/ebb/scalers/external/externalscalerpb"
)

// Push activation: an external-push trigger keeps a StreamIsActive stream
// open to its server and wakes the scale loop each time the server says
// active. Triggers on the same server with the same scaled-object reference
// share one stream; it runs while at least one of them is subscribed. A
// stream that ends or fails is opened again after a back-off (retryMin,
// doubling up to maxRetry, back to retryMin once a stream delivers);
// meanwhile the trigger reads and activates through the scale loop's polls
// as an external trigger does.

const maxRetry = 30 * time.Second

// pushScaler is an external-push trigger's Scaler: an external one that
// also notifies.
type pushScaler struct {
	*scaler
}

// Read reports a panic recovered in the trigger's stream since the last
// read (once), else reads as an external trigger does.
func (s *pushScaler) Read(ctx context.Context) (scalers.Reading, error) {
	if err := s.typ.streamPanic(s.scaler); err != nil {
		return scalers.Reading{}, err
	}
	return s.scaler.Read(ctx)
}

// Notify subscribes wake to the trigger's stream.
func (s *pushScaler) Notify(wake func()) (stop func()) {
	return s.typ.subscribe(s.scaler, wake)
}

// watchKey identifies a stream: the connection and the reference.
type watchKey struct {
	conn connKey
	ref  string
}

// watcher runs one StreamIsActive stream.
type watcher struct {
	lease  *scalers.Lease[connKey, *conn]
	ref    *pb.ScaledObjectRef
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	subs map[*func()]struct{}
	// opened counts the streams opened, received the messages received
	// (for tests).
	opened, received int
	// failure is why the last stream failed, nil while one is open (for
	// tests and the operator log).
	failure error
	// panicked is a panic recovered in the stream, until a read of a
	// trigger on it reports it.
	panicked *scalers.PanicError
}

// subscribe adds wake to the stream of s's server and reference, starting
// it if it is the first.
func (t *shared) subscribe(s *scaler, wake func()) (stop func()) {
	key := watchKey{conn: s.plan.conn, ref: s.refKey}
	t.watchMu.Lock()
	w := t.watchers[key]
	if w == nil {
		ctx, cancel := context.WithCancel(context.Background())
		w = &watcher{lease: t.conns.Acquire(s.plan.conn), ref: s.ref, cancel: cancel,
			done: make(chan struct{}), subs: map[*func()]struct{}{}}
		t.watchers[key] = w
		go w.run(ctx, t.retryMin)
	}
	p := &wake
	w.mu.Lock()
	w.subs[p] = struct{}{}
	w.mu.Unlock()
	t.watchMu.Unlock()

	var once sync.Once
	return func() {
		once.Do(func() {
			t.watchMu.Lock()
			w.mu.Lock()
			delete(w.subs, p)
			last := len(w.subs) == 0
			w.mu.Unlock()
			if last {
				delete(t.watchers, key)
			}
			t.watchMu.Unlock()
			if last {
				w.cancel()
				<-w.done
			}
		})
	}
}

// run keeps the stream open until ctx ends.
func (w *watcher) run(ctx context.Context, retryMin time.Duration) {
	defer close(w.done)
	defer w.lease.Release()
	retry := retryMin
	for ctx.Err() == nil {
		delivered := false
		err := scalers.Guard(func() error { return w.stream(ctx, &delivered) })
		w.mu.Lock()
		w.failure = err
		var pe *scalers.PanicError
		if errors.As(err, &pe) {
			w.panicked = pe
		}
		w.mu.Unlock()
		if delivered {
			retry = retryMin
		}
		timer := time.NewTimer(retry)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return
		}
		retry = min(2*retry, maxRetry)
	}
}

// stream opens one stream and wakes the subscribers on each active answer,
// until the stream ends.
func (w *watcher) stream(ctx context.Context, delivered *bool) error {
	c, err := w.lease.Get(ctx)
	if err != nil {
		return err
	}
	st, err := c.client.StreamIsActive(ctx, w.ref)
	if err != nil {
		return c.callError(ctx, "StreamIsActive", err, 0)
	}
	w.mu.Lock()
	w.opened++
	w.failure = nil
	w.mu.Unlock()
	for {
		resp, err := st.Recv()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, io.EOF) {
				return errors.New("external scaler " + c.addr + ": StreamIsActive: the server ended the stream")
			}
			return c.callError(ctx, "StreamIsActive", err, 0)
		}
		*delivered = true
		w.mu.Lock()
		w.received++
		var wakes []func()
		if resp.GetResult() {
			for p := range w.subs {
				wakes = append(wakes, *p)
			}
		}
		w.mu.Unlock()
		for _, f := range wakes {
			f()
		}
	}
}

// streamPanic returns (once) a panic recovered in the stream of s's server
// and reference, nil when there was none.
func (t *shared) streamPanic(s *scaler) error {
	t.watchMu.Lock()
	w := t.watchers[watchKey{conn: s.plan.conn, ref: s.refKey}]
	t.watchMu.Unlock()
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	pe := w.panicked
	w.panicked = nil
	if pe == nil {
		return nil
	}
	return fmt.Errorf("external scaler %s: StreamIsActive: %w", s.plan.conn.addr, pe)
}

// streamState reports, for tests, the stream of a trigger: streams opened,
// messages received, and the last failure.
func (t *shared) streamState(s *scaler) (opened, received int, failure error, ok bool) {
	t.watchMu.Lock()
	w := t.watchers[watchKey{conn: s.plan.conn, ref: s.refKey}]
	t.watchMu.Unlock()
	if w == nil {
		return 0, 0, nil, false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.opened, w.received, w.failure, true
}

// streams is the number of streams running, for tests.
func (t *shared) streams() int {
	t.watchMu.Lock()
	defer t.watchMu.Unlock()
	return len(t.watchers)
}
