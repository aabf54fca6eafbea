// SPDX-License-Identifier: Apache-2.0

package controller

import (
	"context"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

// Wake runs a scheduled key at once, long before its due time, and leaves
// keys that are not scheduled alone.
func TestSchedulerWakeRunsAScheduledKeyAtOnce(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	var mu sync.Mutex
	runs := map[string]int{}
	s := NewScheduler(clk, 1, func(ctx context.Context, k string) (time.Duration, bool) {
		mu.Lock()
		defer mu.Unlock()
		runs[k]++
		return time.Hour, true
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Start(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	count := func(k string) int { mu.Lock(); defer mu.Unlock(); return runs[k] }

	s.Schedule("idle", t0)
	eventually(t, "the key ran once", func() bool { return count("idle") == 1 })
	s.Wake("idle") // the fake clock has not moved: only the wake can run it
	eventually(t, "the woken key ran again", func() bool { return count("idle") == 2 })

	s.Wake("unknown")
	if s.Len() != 1 {
		t.Errorf("Wake of an unscheduled key scheduled it: %d keys", s.Len())
	}
	s.Remove("idle")
	s.Wake("idle")
	if s.Len() != 0 {
		t.Errorf("Wake of a removed key scheduled it: %d keys", s.Len())
	}
}
