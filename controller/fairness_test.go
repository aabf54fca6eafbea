// SPDX-License-Identifier: Apache-2.0

package controller

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/scalers"
)

func TestShareOfWorkers(t *testing.T) {
	for _, tc := range []struct {
		sentence        string
		workers, active int
		want            int
	}{
		{"one group with work has every worker", 64, 1, 64},
		{"no group with work counts as one", 64, 0, 64},
		{"two groups split the workers", 64, 2, 32},
		{"an odd split rounds down", 64, 3, 21},
		{"more groups than workers still get one each", 64, 200, 1},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			if got := Share(tc.workers, tc.active); got != tc.want {
				t.Errorf("Share(%d, %d) = %d, want %d", tc.workers, tc.active, got, tc.want)
			}
		})
	}
}

// groupScheduler runs a scheduler of string keys grouped by their first
// letter: keys of group "a" block until released one run at a time; the
// others return at once. It records the order in which runs start.
type groupScheduler struct {
	s        *Scheduler[string]
	releaseA chan struct{}

	mu       sync.Mutex
	started  []string
	runningA int
	maxA     int
}

func newGroupScheduler(t *testing.T, clk *clocktesting.FakeClock, workers int) *groupScheduler {
	g := &groupScheduler{releaseA: make(chan struct{})}
	g.s = NewScheduler(clk, workers, func(ctx context.Context, k string) (time.Duration, bool) {
		g.mu.Lock()
		g.started = append(g.started, k)
		a := k[0] == 'a'
		if a {
			g.runningA++
			g.maxA = max(g.maxA, g.runningA)
		}
		g.mu.Unlock()
		if a {
			select {
			case <-g.releaseA:
			case <-ctx.Done():
			}
			g.mu.Lock()
			g.runningA--
			g.mu.Unlock()
		}
		return time.Hour, true
	}).GroupBy(func(k string) string { return k[:1] })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() { _ = g.s.Start(ctx); close(done) }()
	return g
}

func (g *groupScheduler) runs(k string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, s := range g.started {
		if s == k {
			n++
		}
	}
	return n
}

func (g *groupScheduler) runningOfA() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.runningA
}

// A group whose jobs hang (a namespace of ScaledObjects on a blackholed
// broker) with a backlog of keys that fell due earlier does not keep a key
// of another group waiting: the other group's key takes the first worker
// that frees up, and while both have work, the hanging group holds no more
// than its share.
func TestSchedulerServesAnotherGroupAheadOfAHangingGroupsBacklog(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	g := newGroupScheduler(t, clk, 4)
	for i := range 20 {
		g.s.Schedule("a"+string(rune('A'+i)), t0.Add(-2*time.Second))
	}
	eventually(t, "group a holds every worker", func() bool { return g.runningOfA() == 4 })

	// b falls due after a's whole backlog.
	g.s.Schedule("b", t0)
	g.releaseA <- struct{}{} // one worker frees up
	eventually(t, "b ran on the freed worker", func() bool { return g.runs("b") == 1 })
	eventually(t, "a took the worker back after b", func() bool { return g.runningOfA() == 4 })
	g.mu.Lock()
	order := slices.Clone(g.started)
	g.mu.Unlock()
	if i := slices.Index(order, "b"); i != 4 {
		t.Errorf("runs started in the order %v; want b fifth, on the first worker freed", order)
	}

	// With both groups waiting, a may not grow back past its share (2 of
	// 4) while b has work: release two a runs while b is due, and b runs
	// at once although a's backlog is older.
	g.s.Wake("b")
	g.releaseA <- struct{}{}
	eventually(t, "b ran again", func() bool { return g.runs("b") == 2 })
	if t.Failed() {
		return
	}
	if n := g.runningOfA(); n > 4 {
		t.Errorf("group a runs %d at once on 4 workers", n)
	}
}

// Two groups that both have more due keys than workers get the workers in
// turn: neither gets more than its share at once.
func TestSchedulerSplitsTheWorkersBetweenBusyGroups(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	var mu sync.Mutex
	running := map[byte]int{}
	most := map[byte]int{}
	var total atomic.Int32
	release := make(chan struct{})
	s := NewScheduler(clk, 4, func(ctx context.Context, k string) (time.Duration, bool) {
		mu.Lock()
		running[k[0]]++
		most[k[0]] = max(most[k[0]], running[k[0]])
		mu.Unlock()
		total.Add(1)
		select {
		case <-release:
		case <-ctx.Done():
		}
		mu.Lock()
		running[k[0]]--
		mu.Unlock()
		return 0, false
	}).GroupBy(func(k string) string { return k[:1] })
	// Every key due before the scheduler starts: a's fell due first.
	for i := range 10 {
		s.Schedule("a"+string(rune('A'+i)), t0.Add(-time.Minute))
		s.Schedule("b"+string(rune('A'+i)), t0)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	defer func() { cancel(); <-done }()
	go func() { _ = s.Start(ctx); close(done) }()

	for n := int32(4); n <= 20; n++ {
		eventually(t, "the workers are busy", func() bool { return total.Load() == n })
		mu.Lock()
		a, b := running['a'], running['b']
		mu.Unlock()
		if n < 20 && (a > 2 || b > 2) {
			t.Fatalf("after %d runs started: a runs %d, b %d at once; want at most 2 each (4 workers, 2 groups)", n, a, b)
		}
		if n < 20 {
			release <- struct{}{}
		}
	}
	close(release)
	eventually(t, "every key ran once and was dropped", func() bool { return s.Len() == 0 })
	if most['a'] != 2 || most['b'] != 2 {
		t.Errorf("most at once: a %d, b %d; want 2 each", most['a'], most['b'])
	}
}

// A due key waiting in its group's line can be removed: it never runs.
func TestSchedulerRemovesAKeyWaitingForAWorker(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	g := newGroupScheduler(t, clk, 1)
	g.s.Schedule("a1", t0)
	eventually(t, "a1 holds the only worker", func() bool { return g.runningOfA() == 1 })
	g.s.Schedule("a2", t0)
	g.s.Schedule("b", t0)
	if n := g.s.Len(); n != 3 {
		t.Fatalf("Len = %d, want 3", n)
	}
	g.s.Remove("a2")
	g.s.Remove("b")
	if n := g.s.Len(); n != 1 {
		t.Fatalf("Len after removing the waiting keys = %d, want 1", n)
	}
	g.releaseA <- struct{}{}
	g.s.Schedule("c", t0)
	eventually(t, "c ran", func() bool { return g.runs("c") == 1 })
	if g.runs("a2") != 0 || g.runs("b") != 0 {
		t.Errorf("removed keys ran: %v", g.started)
	}
}

func TestReadBackoff(t *testing.T) {
	for _, tc := range []struct {
		sentence string
		failures int32
		interval time.Duration
		jitter   float64
		want     time.Duration
	}{
		{"no failure, no wait", 0, 30 * time.Second, 0.5, 0},
		{"the first failure waits half a second to a second", 1, 30 * time.Second, 0, 500 * time.Millisecond},
		{"the first failure at most a second", 1, 30 * time.Second, 0.999, 999500 * time.Microsecond},
		{"each failure doubles the wait", 4, 30 * time.Second, 0, 4 * time.Second},
		{"the wait stops at the polling interval", 6, 10 * time.Second, 0.5, 7500 * time.Millisecond},
		{"and at 30 s", 40, 5 * time.Minute, 0.5, 22500 * time.Millisecond},
		{"never under a second, whatever the interval", 3, 100 * time.Millisecond, 0, 500 * time.Millisecond},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			if got := ReadBackoff(tc.failures, tc.interval, tc.jitter); got != tc.want {
				t.Errorf("ReadBackoff(%d, %s, %v) = %s, want %s", tc.failures, tc.interval, tc.jitter, got, tc.want)
			}
		})
	}
}

// gatedScaler reads value once gate is open (or fails with err when set);
// it counts its reads.
type gatedScaler struct {
	gate  chan struct{}
	value float64
	reads atomic.Int32
	mu    sync.Mutex
	err   error
}

func (s *gatedScaler) Metric() scalers.MetricSpec {
	return scalers.MetricSpec{Name: "s0-gated", Target: 10, Type: v1alpha1.MetricTypeAverageValue}
}

func (s *gatedScaler) Read(ctx context.Context) (scalers.Reading, error) {
	s.reads.Add(1)
	select {
	case <-s.gate:
	case <-ctx.Done():
		return scalers.Reading{}, ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return scalers.Reading{}, s.err
	}
	return scalers.Reading{Value: s.value, Active: s.value > 0}, nil
}

func (s *gatedScaler) Close() error { return nil }

type fakeScales struct {
	mu       sync.Mutex
	replicas int32
}

func (f *fakeScales) GetScale(context.Context, string, Target) (Scale, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return Scale{Replicas: f.replicas}, nil
}

func (f *fakeScales) SetReplicas(_ context.Context, _ string, _ Target, n int32, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.replicas = n
	return nil
}

func (f *fakeScales) get() int32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.replicas
}

type lastStatus struct {
	mu sync.Mutex
	st *v1alpha1.ScaledObjectStatus
}

func (w *lastStatus) WriteStatus(_ context.Context, _ *v1alpha1.ScaledObject, st *v1alpha1.ScaledObjectStatus) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.st = st.DeepCopy()
	return nil
}

func (w *lastStatus) active() metav1.ConditionStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range w.st.Conditions {
		if c.Type == v1alpha1.ConditionActive {
			return c.Status
		}
	}
	return ""
}

func budgetLoop(clk *clocktesting.FakeClock, sc scalers.Scaler) (*ScaleLoop, *fakeScales, *lastStatus, types.NamespacedName) {
	scales := &fakeScales{}
	status := &lastStatus{}
	l := &ScaleLoop{Clock: clk, Scales: scales, Status: status, Events: record.NewFakeRecorder(100), ReadBudget: time.Second,
		Jitter: func() float64 { return 0 }}
	so := &v1alpha1.ScaledObject{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "orders", CreationTimestamp: metav1.Time{Time: t0.Add(-time.Hour)}}}
	l.Upsert(ObjectState{Object: so, Triggers: []LoopTrigger{{Name: "q", Type: "test", Scaler: sc}}})
	return l, scales, status, types.NamespacedName{Namespace: "ns", Name: "orders"}
}

// A read that outlasts the read budget frees the poll (and its worker): the
// trigger is pending, which is neither a zero nor a failure; when the read
// ends, its value counts without a second read.
func TestAReadPastTheBudgetGoesOnWithoutThePoll(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	sc := &gatedScaler{gate: make(chan struct{}), value: 3}
	l, scales, status, key := budgetLoop(clk, sc)
	ctx := t.Context()

	type result struct {
		next time.Duration
		ok   bool
	}
	res := make(chan result, 1)
	go func() { n, ok := l.poll(ctx, key); res <- result{n, ok} }()
	eventually(t, "the poll waits on its budget", func() bool { return sc.reads.Load() == 1 && clk.HasWaiters() })
	clk.Step(time.Second)
	r := <-res
	if !r.ok || r.next != 30*time.Second {
		t.Errorf("poll with a pending read = %s, %v; want the next poll in a polling interval (the read's end polls again)", r.next, r.ok)
	}
	if got := status.active(); got != metav1.ConditionUnknown {
		t.Errorf("Active = %q with the only read pending, want Unknown (not a zero)", got)
	}
	if s := l.object(key).triggers[0].lastSample(); s.Failures != 0 || s.Err != nil {
		t.Errorf("a pending read counted as a failure: %+v", s)
	}

	// A second poll while the read is pending does not read again.
	if _, ok := l.poll(ctx, key); !ok || sc.reads.Load() != 1 {
		t.Fatalf("a poll during the pending read read the source again: %d reads", sc.reads.Load())
	}

	close(sc.gate)
	eventually(t, "the late read is recorded", func() bool {
		tr := l.object(key).triggers[0]
		tr.mu.Lock()
		defer tr.mu.Unlock()
		return tr.late
	})
	if _, ok := l.poll(ctx, key); !ok {
		t.Fatal("poll stopped")
	}
	if got := scales.get(); got != 1 {
		t.Errorf("replicas after the late read of 3 = %d, want 1", got)
	}
	if n := sc.reads.Load(); n != 1 {
		t.Errorf("%d reads, want 1: the poll after the late read takes its sample", n)
	}
	if v, err := l.ExternalMetric(ctx, MetricRef{Namespace: "ns", ScaledObject: "orders", Metric: "s0-gated"}); err != nil || v != 3 {
		t.Errorf("ExternalMetric = %v, %v; want 3 from the late read", v, err)
	}
}

// A trigger whose source fails is read less and less often while its target
// rests at zero, instead of every activation probe; each failure still
// counts for the fallback, and a success ends the backoff.
func TestFailingReadsBackOff(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	sc := &gatedScaler{gate: make(chan struct{}), err: errors.New("connection refused")}
	close(sc.gate)
	l, _, status, key := budgetLoop(clk, sc)
	ctx := t.Context()

	var reads []time.Duration
	var waits []time.Duration
	for clk.Since(t0) < 2*time.Minute {
		before := sc.reads.Load()
		next, ok := l.poll(ctx, key)
		if !ok {
			t.Fatal("poll stopped")
		}
		if sc.reads.Load() != before {
			reads = append(reads, clk.Since(t0))
		}
		waits = append(waits, next)
		clk.Step(next)
	}
	// Jitter 0: backoffs of 0.5 (the 1 s probe comes later anyway), 1, 2,
	// 4, 8 s, then 15 s (half of the 30 s cap) from then on.
	want := []time.Duration{0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 31 * time.Second, 46 * time.Second}
	if len(reads) < len(want) || !slices.Equal(reads[:len(want)], want) {
		t.Errorf("reads at %v; want them to start at %v", reads, want)
	}
	if len(reads) > 13 {
		t.Errorf("%d reads in 2 minutes of a failing source; want the backoff to keep it near one per 15-30 s", len(reads))
	}
	if n := len(waits); n > len(reads)+1 {
		t.Errorf("%d polls for %d reads: polls should wait for the backoff, not come every probe interval", n, len(reads))
	}
	if s := l.object(key).triggers[0].lastSample(); s.Failures != int32(len(reads)) || s.Err == nil || !strings.Contains(s.Err.Error(), "connection refused") {
		t.Errorf("trigger: %d failures (%v), want %d, one per read", s.Failures, s.Err, len(reads))
	}
	if got := status.active(); got != metav1.ConditionUnknown {
		t.Errorf("Active = %q while the only trigger fails, want Unknown", got)
	}

	// The source recovers: the next read succeeds, and the trigger is probed
	// every second again.
	sc.mu.Lock()
	sc.err = nil
	sc.mu.Unlock()
	for range 3 {
		next, _ := l.poll(ctx, key)
		clk.Step(next)
	}
	before := sc.reads.Load()
	next, _ := l.poll(ctx, key)
	if sc.reads.Load() != before+1 || next != time.Second {
		t.Errorf("after recovery: a poll read %d times and set the next poll in %s; want 1 read and 1 s", sc.reads.Load()-before, next)
	}
}
