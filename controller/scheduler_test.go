// SPDX-License-Identifier: Apache-2.0

package controller

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestSchedulerRunsEachKeyAtItsInterval(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	var mu sync.Mutex
	runs := map[string]int{}
	s := NewScheduler(clk, 2, func(ctx context.Context, k string) (time.Duration, bool) {
		mu.Lock()
		defer mu.Unlock()
		runs[k]++
		if k == "fast" {
			return time.Second, true
		}
		return 30 * time.Second, true
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Start(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	s.Schedule("fast", t0)
	s.Schedule("slow", t0)
	count := func(k string) int { mu.Lock(); defer mu.Unlock(); return runs[k] }
	eventually(t, "both ran once", func() bool { return count("fast") == 1 && count("slow") == 1 })
	for i := 2; i <= 31; i++ {
		eventually(t, "the fast key's timer is waiting", clk.HasWaiters)
		clk.Step(time.Second)
		eventually(t, "the fast key ran again", func() bool { return count("fast") == i })
	}
	eventually(t, "the slow key ran at 30 s", func() bool { return count("slow") == 2 })
	if got := count("fast"); got != 31 {
		t.Errorf("fast ran %d times in 30 s at 1 s, want 31", got)
	}
}

func TestSchedulerNeverRunsAKeyTwiceAtOnce(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	var inFlight, maxInFlight, total atomic.Int32
	release := make(chan struct{})
	s := NewScheduler(clk, 8, func(ctx context.Context, k string) (time.Duration, bool) {
		n := inFlight.Add(1)
		for {
			m := maxInFlight.Load()
			if n <= m || maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		if total.Add(1) == 1 {
			<-release
		}
		inFlight.Add(-1)
		return time.Hour, true
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Start(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	s.Schedule("k", t0)
	eventually(t, "the first run started", func() bool { return total.Load() == 1 })
	for i := 0; i < 10; i++ {
		s.Schedule("k", t0) // asks for a rerun while it runs
	}
	close(release)
	eventually(t, "the rerun ran", func() bool { return total.Load() == 2 })
	if maxInFlight.Load() != 1 {
		t.Errorf("a key ran %d times at once", maxInFlight.Load())
	}
}

func TestSchedulerRemoveStopsAKey(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	var runs atomic.Int32
	s := NewScheduler(clk, 1, func(ctx context.Context, k string) (time.Duration, bool) {
		runs.Add(1)
		return time.Second, true
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Start(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	s.Schedule("k", t0)
	eventually(t, "it ran", func() bool { return runs.Load() == 1 })
	eventually(t, "it is queued again", func() bool { return s.Len() == 1 && clk.HasWaiters() })
	s.Remove("k")
	if s.Len() != 0 {
		t.Fatalf("Len = %d after Remove", s.Len())
	}
	clk.Step(10 * time.Second)
	s.Schedule("other", clk.Now().Add(time.Hour)) // wakes the loop; "k" must not run
	eventually(t, "the loop is idle again", clk.HasWaiters)
	if runs.Load() != 1 {
		t.Errorf("removed key ran %d times", runs.Load())
	}
}

func TestSchedulerSpreadsAThousandKeysOverFewWorkers(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	var runs atomic.Int32
	s := NewScheduler(clk, 4, func(ctx context.Context, k int) (time.Duration, bool) {
		runs.Add(1)
		return 0, false
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Start(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for i := 0; i < 1000; i++ {
		s.Schedule(i, t0)
	}
	eventually(t, "all thousand ran", func() bool { return runs.Load() == 1000 })
	eventually(t, "keys that stop are dropped", func() bool { return s.Len() == 0 })
}
