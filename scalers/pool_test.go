// SPDX-License-Identifier: Apache-2.0

package scalers

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type fakeConn struct {
	id     int
	closed atomic.Bool
}

func countingPool() (*Pool[string, *fakeConn], *atomic.Int32, *atomic.Int32) {
	var opened, closed atomic.Int32
	p := NewPool(func(ctx context.Context, key string) (*fakeConn, error) {
		if key == "down" {
			return nil, errors.New("connection refused")
		}
		return &fakeConn{id: int(opened.Add(1))}, nil
	}, func(c *fakeConn) {
		c.closed.Store(true)
		closed.Add(1)
	})
	return p, &opened, &closed
}

func TestPoolSharesOneResourcePerKey(t *testing.T) {
	p, opened, closed := countingPool()
	ctx := context.Background()
	var leases []*Lease[string, *fakeConn]
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := 0; i < 1000; i++ {
		l := p.Acquire("broker-a")
		leases = append(leases, l)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := l.Get(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if c.id != 1 {
				t.Errorf("got connection %d, want the one shared connection", c.id)
			}
		}()
	}
	wg.Wait()
	if keys, open := p.Stats(); keys != 1 || open != 1 || opened.Load() != 1 {
		t.Fatalf("1,000 leases: keys=%d open=%d opened=%d, want 1/1/1", keys, open, opened.Load())
	}
	for _, l := range leases[:999] {
		l.Release()
	}
	if closed.Load() != 0 {
		t.Fatal("closed while a lease is held")
	}
	leases[999].Release()
	leases[999].Release() // harmless
	if keys, open := p.Stats(); keys != 0 || open != 0 || closed.Load() != 1 {
		t.Fatalf("after the last release: keys=%d open=%d closed=%d, want 0/0/1", keys, open, closed.Load())
	}
}

func TestPoolInvalidateReopensOnNextGet(t *testing.T) {
	p, opened, _ := countingPool()
	ctx := context.Background()
	l := p.Acquire("k")
	defer l.Release()
	c1, _ := l.Get(ctx)
	l.Invalidate(ctx, c1, func(a, b *fakeConn) bool { return a == b })
	if !c1.closed.Load() {
		t.Error("invalidated connection not closed")
	}
	c2, _ := l.Get(ctx)
	if c2 == c1 || opened.Load() != 2 {
		t.Errorf("Get after Invalidate did not open a new connection (opened %d)", opened.Load())
	}
	l.Invalidate(ctx, c1, func(a, b *fakeConn) bool { return a == b }) // stale: must not close c2
	if c2.closed.Load() {
		t.Error("invalidating a stale connection closed the current one")
	}
}

func TestPoolOpenErrorIsReturnedAndRetried(t *testing.T) {
	p, _, _ := countingPool()
	l := p.Acquire("down")
	defer l.Release()
	for i := 0; i < 2; i++ {
		if _, err := l.Get(context.Background()); err == nil || !strings.Contains(err.Error(), "refused") {
			t.Fatalf("Get = %v, want the open error", err)
		}
	}
}

func TestPoolGetHonoursContextWhileAnotherOpens(t *testing.T) {
	release := make(chan struct{})
	p := NewPool(func(ctx context.Context, key string) (int, error) {
		<-release
		return 1, nil
	}, func(int) {})
	l := p.Acquire("k")
	defer l.Release()
	go func() { _, _ = l.Get(context.Background()) }()
	// Wait until the first Get holds the entry.
	deadline := time.Now().Add(5 * time.Second)
	for len(l.entry.sem) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := l.Get(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Get = %v, want the context's deadline", err)
	}
	close(release)
}

func TestCoalescerMergesIdenticalQueriesInFlight(t *testing.T) {
	var c Coalescer[int]
	var calls atomic.Int32
	gate := make(chan struct{})
	var wg sync.WaitGroup
	results := make(chan int, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := c.Do(context.Background(), "q", func(ctx context.Context) (int, error) {
				calls.Add(1)
				<-gate
				return 42, nil
			})
			if err != nil {
				t.Error(err)
			}
			results <- v
		}()
	}
	// Let every goroutine join the call in flight before it finishes.
	deadline := time.Now().Add(5 * time.Second)
	for calls.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(gate)
	wg.Wait()
	close(results)
	for v := range results {
		if v != 42 {
			t.Errorf("got %d", v)
		}
	}
	if n := calls.Load(); n < 1 || n > 50 {
		t.Fatalf("calls = %d", n)
	}
	if _, err := c.Do(context.Background(), "q", func(ctx context.Context) (int, error) { return 0, errors.New("boom") }); err == nil {
		t.Error("a later call reused a finished result")
	}
}

func TestRedactRemovesSecretsAndURLUserinfo(t *testing.T) {
	tests := []struct {
		name, in string
		secrets  []string
		banned   []string
	}{
		{"a password in a URL", `dial amqp://admin:p4ss@10.0.0.1:5672/: refused`, nil, []string{"p4ss", "admin"}},
		{"a password given as a secret", `auth failed for password hunter2`, []string{"hunter2"}, []string{"hunter2"}},
		{"a URL-escaped secret", `GET http://h/?token=a%2Fb failed`, []string{"a/b"}, []string{"a%2Fb", "a/b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Redact(errors.New(tt.in), tt.secrets...)
			for _, b := range tt.banned {
				if strings.Contains(err.Error(), b) {
					t.Errorf("%q still contains %q", err, b)
				}
			}
			if !strings.Contains(err.Error(), Redacted) {
				t.Errorf("%q has no redaction mark", err)
			}
		})
	}
	wrapped := Redact(context.DeadlineExceeded, "deadline")
	if !errors.Is(wrapped, context.DeadlineExceeded) {
		t.Error("Redact broke errors.Is")
	}
}

func TestRegistry(t *testing.T) {
	if _, err := NewRegistry(namedType("a"), namedType("a")); err == nil {
		t.Error("duplicate names accepted")
	}
	r, err := NewRegistry(namedType("b"), namedType("a"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.Names(), ","); got != "a,b" {
		t.Errorf("Names = %s", got)
	}
	err = r.Validate(Trigger{Index: 0, Name: "x", Type: "kafak"})
	if err == nil || !strings.Contains(err.Error(), `unknown trigger type "kafak"; known types: a, b`) {
		t.Errorf("Validate(unknown) = %v", err)
	}
}

type namedType string

func (n namedType) Name() string                { return string(n) }
func (n namedType) Config() any                 { return &struct{}{} }
func (n namedType) Validate(Trigger) error      { return nil }
func (n namedType) New(Trigger) (Scaler, error) { return nil, nil }

func TestMetricName(t *testing.T) {
	tr := Trigger{Index: 3, Type: "rabbitmq"}
	if got := MetricName(tr, "Orders.High/prio"); got != "s3-rabbitmq-orders-high-prio" {
		t.Errorf("MetricName = %q", got)
	}
	if got := MetricName(tr, strings.Repeat("x", 300)); len(got) > 200 {
		t.Errorf("MetricName length %d > 200", len(got))
	}
}

func TestCoalescerJoinersRetryWhenTheStarterGivesUp(t *testing.T) {
	var c Coalescer[int]
	started := make(chan struct{})
	var calls atomic.Int32
	leaderCtx, cancelLeader := context.WithCancel(context.Background())
	go func() {
		_, _ = c.Do(leaderCtx, "q", func(ctx context.Context) (int, error) {
			calls.Add(1)
			close(started)
			<-ctx.Done()
			return 0, ctx.Err()
		})
	}()
	<-started
	res := make(chan error, 1)
	go func() {
		v, err := c.Do(context.Background(), "q", func(ctx context.Context) (int, error) {
			calls.Add(1)
			return 7, nil
		})
		if err == nil && v != 7 {
			err = errors.New("wrong value")
		}
		res <- err
	}()
	// Let the joiner join, then make the starter give up.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		n := len(c.calls)
		c.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancelLeader()
	if err := <-res; err != nil {
		t.Fatalf("the joiner got %v; want a fresh run's value", err)
	}
}

// A holder that released its lease (a Scaler closed while one of its reads
// was in flight) gets an error from Get and opens nothing: a resource opened
// then would belong to no one and never be closed.
func TestPoolGetAfterReleaseOpensNothing(t *testing.T) {
	p, opened, _ := countingPool()
	l := p.Acquire("broker-a")
	l.Release()
	if _, err := l.Get(context.Background()); !errors.Is(err, ErrLeaseReleased) {
		t.Fatalf("Get after Release = %v, want ErrLeaseReleased", err)
	}
	if keys, open := p.Stats(); keys != 0 || open != 0 || opened.Load() != 0 {
		t.Fatalf("keys=%d open=%d opened=%d, want 0/0/0", keys, open, opened.Load())
	}

	// A lease released while others hold the key fails too; the others'
	// resource stays theirs.
	a, b := p.Acquire("broker-b"), p.Acquire("broker-b")
	a.Release()
	if _, err := a.Get(context.Background()); !errors.Is(err, ErrLeaseReleased) {
		t.Fatalf("Get on a released lease = %v, want ErrLeaseReleased", err)
	}
	if _, err := b.Get(context.Background()); err != nil {
		t.Fatal(err)
	}
	b.Release()
	if _, open := p.Stats(); open != 0 {
		t.Fatalf("open = %d after the last release, want 0", open)
	}
}

// Reads race the release of their lease (a ScaledObject updated or deleted
// while the adapter reads through it): whatever the interleaving, every
// resource opened is closed once the last lease is gone, and Stats counts
// what is really open. Run with -race.
func TestPoolGetsRacingReleaseLeakNothing(t *testing.T) {
	p, opened, closed := countingPool()
	for round := 0; round < 200; round++ {
		leases := []*Lease[string, *fakeConn]{p.Acquire("k"), p.Acquire("k")}
		var wg sync.WaitGroup
		for _, l := range leases {
			for range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if c, err := l.Get(context.Background()); err == nil && round%3 == 0 {
						l.Invalidate(context.Background(), c, func(a, b *fakeConn) bool { return a == b })
					}
				}()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				l.Release()
			}()
		}
		wg.Wait()
	}
	if keys, open := p.Stats(); keys != 0 || open != 0 {
		t.Fatalf("after every release: keys=%d open=%d, want 0/0", keys, open)
	}
	if opened.Load() != closed.Load() {
		t.Fatalf("opened %d, closed %d: %d leaked", opened.Load(), closed.Load(), opened.Load()-closed.Load())
	}
}
