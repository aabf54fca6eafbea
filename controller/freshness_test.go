// SPDX-License-Identifier: Apache-2.0

package controller

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/scalers"
)

func TestServable(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	const interval, sync = 30 * time.Second, 15 * time.Second
	for _, tc := range []struct {
		sentence string
		age      time.Duration
		interval time.Duration
		hpaSync  time.Duration
		running  bool
		want     bool
	}{
		{"at zero a sample is served for one polling interval", 29 * time.Second, interval, sync, false, true},
		{"at zero a sample one polling interval old is read again", interval, interval, sync, false, false},
		{"while running a sample just read is served to a second request", 900 * time.Millisecond, interval, sync, true, true},
		{"while running a sample a sixteenth of a sync old is read again", sync / 16, interval, sync, true, false},
		{"while running a sample the last poll read 10 s ago is read again", 10 * time.Second, interval, sync, true, false},
		{"while running no sample past the polling interval is served", 2 * time.Second, time.Second, time.Minute, true, false},
		{"while running with a 1 s sync a sample 62 ms old is served", 62 * time.Millisecond, interval, time.Second, true, true},
		{"while running with a 1 s sync a sample 63 ms old is read again", 63 * time.Millisecond, interval, time.Second, true, false},
		{"an unset sync period is the default 15 s", 900 * time.Millisecond, interval, 0, true, true},
		{"an unset sync period still reads a 1 s old sample again", time.Second, interval, 0, true, false},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			if got := Servable(t0, t0.Add(tc.age), tc.interval, tc.hpaSync, tc.running); got != tc.want {
				t.Errorf("Servable(age %s, interval %s, sync %s, running %v) = %v, want %v", tc.age, tc.interval, tc.hpaSync, tc.running, got, tc.want)
			}
		})
	}
	t.Run("nothing read yet is never served", func(t *testing.T) {
		if Servable(time.Time{}, t0, interval, sync, false) || Servable(time.Time{}, t0, interval, sync, true) {
			t.Error("a zero read time is servable")
		}
	})
	t.Run("a served sample is never older than one sync period while running", func(t *testing.T) {
		for _, iv := range []time.Duration{time.Second, 5 * time.Second, interval, time.Hour} {
			for _, s := range []time.Duration{time.Second, sync, time.Minute} {
				if m := MaxServedAge(iv, s, true); m > s || m > iv {
					t.Errorf("MaxServedAge(%s, %s) = %s: past the sync period or the interval", iv, s, m)
				}
			}
		}
	})
}

// burstScaler reads value; it counts its reads, and each read waits for gate
// when gate is set.
type burstScaler struct {
	name  string
	value atomic.Int64
	reads atomic.Int32
	gate  chan struct{}
	fail  atomic.Bool
}

func (s *burstScaler) Metric() scalers.MetricSpec {
	return scalers.MetricSpec{Name: s.name, Target: 20, Type: v1alpha1.MetricTypeAverageValue}
}

func (s *burstScaler) Read(ctx context.Context) (scalers.Reading, error) {
	s.reads.Add(1)
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return scalers.Reading{}, ctx.Err()
		}
	}
	if s.fail.Load() {
		return scalers.Reading{}, errors.New("broker unreachable")
	}
	v := float64(s.value.Load())
	return scalers.Reading{Value: v, Active: v > 0}, nil
}

func (s *burstScaler) Close() error { return nil }

// burstLoop is a loop (not started: nothing polls) with one ScaledObject at
// current replicas and the default 30 s polling interval, whose triggers last
// read 1 at the fake clock's start. A failed read's backoff is its longest
// (1 s after one failure, 2 s after two).
func burstLoop(t *testing.T, current int32, composite *Composite, ss ...*burstScaler) (*ScaleLoop, *clocktesting.FakeClock, *loopObject) {
	t.Helper()
	clk := clocktesting.NewFakeClock(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC))
	l := &ScaleLoop{Clock: clk, Jitter: func() float64 { return 1 }}
	so := &v1alpha1.ScaledObject{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "orders"}}
	var lts []LoopTrigger
	for _, s := range ss {
		lts = append(lts, LoopTrigger{Name: s.name, Type: "test", Scaler: s})
	}
	l.Upsert(ObjectState{Object: so, Triggers: lts, Composite: composite, Current: current})
	o := l.object(types.NamespacedName{Namespace: so.Namespace, Name: so.Name})
	for _, tr := range o.triggers {
		tr.last = Sample{Time: clk.Now(), Value: 1, Active: true}
	}
	return l, clk, o
}

// A burst while the target runs reaches the HPA at its next request, however
// recently the last poll read the source: the adapter reads through, and
// concurrent requests share one read. At zero replicas the stored sample is
// served for the polling interval.
func TestABurstWhileRunningReachesTheNextHPARequest(t *testing.T) {
	ref := MetricRef{Namespace: "ns", ScaledObject: "orders", Metric: "s0-queue"}
	ask := func(t *testing.T, l *ScaleLoop, want float64) {
		t.Helper()
		v, err := l.ExternalMetric(t.Context(), ref)
		if err != nil || v != want {
			t.Fatalf("ExternalMetric = %v, %v; want %v", v, err, want)
		}
	}

	t.Run("with one replica, a request 1 s after the poll reads the burst", func(t *testing.T) {
		s := &burstScaler{name: "s0-queue"}
		l, clk, _ := burstLoop(t, 1, nil, s)
		s.value.Store(101) // the burst, right after the poll read 1
		clk.Step(500 * time.Millisecond)
		ask(t, l, 1) // a second request in the same moment takes the sample
		if n := s.reads.Load(); n != 0 {
			t.Fatalf("%d reads for a sample 0.5 s old", n)
		}
		clk.Step(500 * time.Millisecond)
		ask(t, l, 101)
		if n := s.reads.Load(); n != 1 {
			t.Fatalf("%d reads, want 1", n)
		}
		ask(t, l, 101) // just read: served
		if n := s.reads.Load(); n != 1 {
			t.Fatalf("%d reads after a request right after a read-through, want 1", n)
		}
	})

	t.Run("concurrent requests for a stale sample share one read", func(t *testing.T) {
		s := &burstScaler{name: "s0-queue", gate: make(chan struct{})}
		s.value.Store(101)
		l, clk, _ := burstLoop(t, 1, nil, s)
		clk.Step(5 * time.Second)
		const n = 8
		var wg sync.WaitGroup
		got := make([]float64, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { got[i], errs[i] = l.ExternalMetric(context.Background(), ref) })
		}
		// Let the read end once it has started (the others join it meanwhile).
		for s.reads.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		close(s.gate)
		wg.Wait()
		for i := range n {
			if errs[i] != nil || got[i] != 101 {
				t.Errorf("request %d: %v, %v; want 101", i, got[i], errs[i])
			}
		}
		// A request that came after the read ended takes the sample it
		// stored: still one read (or, at most, one per request that missed
		// the read in flight, which the gate makes impossible here).
		if r := s.reads.Load(); r != 1 {
			t.Errorf("%d source reads for %d concurrent requests, want 1", r, n)
		}
	})

	t.Run("at zero replicas the stored sample is served for the polling interval", func(t *testing.T) {
		s := &burstScaler{name: "s0-queue"}
		l, clk, _ := burstLoop(t, 0, nil, s)
		s.value.Store(101)
		clk.Step(29 * time.Second)
		ask(t, l, 1)
		if n := s.reads.Load(); n != 0 {
			t.Fatalf("%d reads at zero replicas within the polling interval", n)
		}
		clk.Step(time.Second)
		ask(t, l, 101)
	})

	t.Run("the replica count the adapter follows decides", func(t *testing.T) {
		s := &burstScaler{name: "s0-queue"}
		l, clk, o := burstLoop(t, 0, nil, s)
		s.value.Store(101)
		clk.Step(5 * time.Second)
		ask(t, l, 1)
		o.replicas.Store(1) // a poll, or the leader's status, says it runs
		ask(t, l, 101)
	})

	t.Run("a formula reads through every trigger behind it", func(t *testing.T) {
		a, b := &burstScaler{name: "a"}, &burstScaler{name: "b"}
		c, err := CompileComposite(&v1alpha1.ScalingModifiers{Formula: "a + b", Target: "20"}, []string{"a", "b"})
		if err != nil {
			t.Fatal(err)
		}
		l, clk, o := burstLoop(t, 1, c, a, b)
		l.evaluateComposite(o)
		cref := MetricRef{Namespace: "ns", ScaledObject: "orders", Metric: c.Spec.Name}
		a.value.Store(100)
		b.value.Store(1)
		clk.Step(500 * time.Millisecond)
		if v, err := l.ExternalMetric(t.Context(), cref); err != nil || v != 2 {
			t.Fatalf("formula just evaluated: %v, %v; want 2", v, err)
		}
		clk.Step(2 * time.Second)
		if v, err := l.ExternalMetric(t.Context(), cref); err != nil || v != 101 {
			t.Fatalf("formula after the burst: %v, %v; want 101", v, err)
		}
		if ra, rb := a.reads.Load(), b.reads.Load(); ra != 1 || rb != 1 {
			t.Errorf("reads a=%d b=%d, want one each", ra, rb)
		}
	})

	t.Run("a failing source is read again only after its backoff", func(t *testing.T) {
		s := &burstScaler{name: "s0-queue"}
		l, clk, _ := burstLoop(t, 1, nil, s)
		s.fail.Store(true)
		fails := func(wantReads int32) {
			t.Helper()
			if _, err := l.ExternalMetric(t.Context(), ref); !errors.Is(err, ErrMetricUnavailable) {
				t.Fatalf("ExternalMetric error %v, want ErrMetricUnavailable", err)
			}
			if n := s.reads.Load(); n != wantReads {
				t.Fatalf("%d reads, want %d", n, wantReads)
			}
		}
		clk.Step(time.Second)
		fails(1) // backoff 1 s
		clk.Step(950 * time.Millisecond)
		fails(1) // not servable by age, but the backoff runs
		clk.Step(50 * time.Millisecond)
		fails(2) // backoff 2 s
		clk.Step(1900 * time.Millisecond)
		fails(2)
		s.fail.Store(false)
		s.value.Store(101)
		clk.Step(100 * time.Millisecond)
		ask(t, l, 101)
	})

	t.Run("the default polling interval is what these cases assume", func(t *testing.T) {
		if got := (&v1alpha1.ScaledObjectSpec{}).PollingIntervalDuration(); got != 30*time.Second {
			t.Fatalf("default polling interval %s", got)
		}
	})
}
