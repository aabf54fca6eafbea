// SPDX-License-Identifier: Apache-2.0

package demo

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ebbscale/ebb/tests/controlplane"
)

// shortOptions make a run of a few seconds once the control plane is up: a
// burst of 200 that one replica would drain in 20 s and four in 5 s.
func shortOptions() Options {
	o := DefaultOptions()
	o.Records = 200
	o.Rate = 10
	o.Target = 10
	o.MaxReplicas = 4
	o.PollingInterval = time.Second
	o.Cooldown = 2 * time.Second
	o.Lead = time.Second
	o.SampleEvery = 200 * time.Millisecond
	return o
}

func TestRunScalesZeroToNToZero(t *testing.T) {
	o := shortOptions()
	o.Plot = filepath.Join(t.TempDir(), "demo.png")
	out := newWatchedBuffer()
	res, err := runWithTimeout(t, t.Context(), out, o, 6*time.Minute)
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	dir := controlPlaneDir(t, out.String())

	expectZeroToNToZero(t, res, o)
	t.Run("the HPA read the trigger's value through the aggregator", func(t *testing.T) {
		// At its peak, the HPA's value is the lag capped at partitions ×
		// target.
		if best, want := highestMetric(res.Samples), float64(o.MaxReplicas)*float64(o.Target); best < want-0.5 || best > want+0.5 {
			t.Errorf("highest value the HPA read is %v, want %v (partitions × target)", best, want)
		}
	})
	t.Run("the output tells the story and the summary", func(t *testing.T) {
		printed := out.String()
		for _, want := range []string{
			"kubeconfig:  " + filepath.Join(dir, "kubeconfig"),
			"produced 200 records",
			"Ebb ScaledFromZero: Deployment worker:",
			"HPA SuccessfulRescale: New size:",
			"drained: lag 0",
			"Ebb ScaledToZero: Deployment worker:",
			"Summary\n  first record → first replica",
			"Chart:  " + o.Plot,
			"Stopped: nothing left running.\n",
		} {
			if !strings.Contains(printed, want) {
				t.Errorf("output lacks %q", want)
			}
		}
		// Replicas are sampled every 250 ms, so the HPA's last step down and
		// Ebb's 1 → 0 may land in one sample (e.g. "3 → 0"); the ScaledToZero
		// event above says it was Ebb's move from 1.
		if !regexp.MustCompile(`replicas [1-9][0-9]* → 0\n`).MatchString(printed) {
			t.Error("output never shows the replicas reaching 0")
		}
		if !regexp.MustCompile(`HPA metric [0-9.]+/10 per replica, [0-9.]+ in all`).MatchString(printed) {
			t.Error("output never shows the HPA's value against its target")
		}
		if strings.Contains(printed, "\x1b[") {
			t.Error("output that is not a terminal has ANSI escapes")
		}
		if t.Failed() {
			t.Logf("output:\n%s", printed)
		}
	})
	t.Run("--plot wrote a PNG of the run", func(t *testing.T) {
		img := decodePNG(t, o.Plot)
		if n := countColor(img, lagColor); n < 50 {
			t.Errorf("%d pixels of the lag's colour, want a drawn line", n)
		}
		if n := countColor(img, replicasColor); n < 50 {
			t.Errorf("%d pixels of the replicas' colour, want a drawn line", n)
		}
	})
	t.Run("nothing is left running", func(t *testing.T) {
		expectNothingLeft(t, dir)
	})
}

// The running RabbitMQ, PostgreSQL, Redis and NATS of the machine (tests/services.sh)
// scale the worker the same way.
func TestRunWithRunningSources(t *testing.T) {
	for _, tc := range []struct {
		source string
		unit   string
	}{
		{"rabbitmq", "messages"},
		{"postgresql", "rows"},
		{"redis", "jobs"},
		{"nats", "messages"},
	} {
		t.Run(tc.source, func(t *testing.T) {
			o := shortOptions()
			o.Source = tc.source
			out := newWatchedBuffer()
			res, err := runWithTimeout(t, t.Context(), out, o, 6*time.Minute)
			if err != nil {
				t.Fatalf("demo: %v\n%s", err, out)
			}
			expectZeroToNToZero(t, res, o)
			// No partitions, no cap: the HPA saw the whole backlog.
			if best := highestMetric(res.Samples); best <= float64(o.MaxReplicas*int32(o.Target)) {
				t.Errorf("highest value the HPA read is %v, want above %d", best, o.MaxReplicas*int32(o.Target))
			}
			printed := out.String()
			for _, want := range []string{"produced 200 " + tc.unit, "Ebb ScaledToZero: Deployment worker:", "Stopped: nothing left running.\n"} {
				if !strings.Contains(printed, want) {
					t.Errorf("output lacks %q:\n%s", want, printed)
				}
			}
			expectNothingLeft(t, controlPlaneDir(t, printed))
		})
	}
}

// expectZeroToNToZero checks a run that finished: its samples go from 0
// replicas to 2 or more and back to 0, in order, within the ScaledObject's
// bounds and not before the cooldown.
func expectZeroToNToZero(t *testing.T, res *Result, o Options) {
	t.Helper()
	if !res.Finished {
		t.Errorf("the run did not come back to zero by itself")
	}
	s := res.Samples
	if len(s) == 0 {
		t.Fatal("no samples")
	}
	if s[0].At >= 0 || s[0].Replicas != 0 || s[0].Lag != 0 {
		t.Errorf("first sample %+v, want one before the burst at 0 replicas and no lag", s[0])
	}
	sum := res.Summary
	if !sum.FirstReplica.Seen || !sum.Drained.Seen || !sum.BackToZero.Seen {
		t.Fatalf("summary %+v: want a first replica, a drain and a return to zero", sum)
	}
	if sum.Peak < 2 || sum.Peak > o.MaxReplicas {
		t.Errorf("peak %d replicas, want 2 to %d", sum.Peak, o.MaxReplicas)
	}
	// The HPA may act within one sample of Ebb's 0 → 1, so the first
	// sample with replicas can already be the peak (e.g. "0 → 4").
	if !(sum.FirstReplica.After <= sum.PeakAt.After && sum.PeakAt.After < sum.BackToZero.After && sum.Drained.After <= sum.BackToZero.After) {
		t.Errorf("timeline out of order: %+v", sum)
	}
	// Back to zero only once the cooldown has passed since the work was
	// gone (the last active read is at most a polling interval before the
	// drain is seen).
	if earliest := sum.Drained.After + o.Cooldown - o.PollingInterval - o.SampleEvery; sum.BackToZero.After < earliest {
		t.Errorf("back to zero at %s, drained at %s: before the %s cooldown", sum.BackToZero.After, sum.Drained.After, o.Cooldown)
	}
	last := s[len(s)-1]
	if last.Replicas != 0 || last.Lag != 0 {
		t.Errorf("last sample %+v, want 0 replicas and no lag", last)
	}
	for _, x := range s {
		if x.Replicas > o.MaxReplicas || x.Desired > o.MaxReplicas {
			t.Errorf("sample %+v above max %d", x, o.MaxReplicas)
		}
		if x.At < 0 && x.Replicas != 0 {
			t.Errorf("sample %+v: replicas before the burst", x)
		}
	}
}

// highestMetric is the highest value the HPA read, in all.
func highestMetric(samples []Sample) float64 {
	best := 0.0
	for _, x := range samples {
		if known(x.MetricTotal) {
			best = max(best, x.MetricTotal)
		}
	}
	return best
}

func TestRunStops(t *testing.T) {
	for _, tc := range []struct {
		sentence string
		opts     func(o *Options)
		ctrlC    string // Ctrl-C once the output holds this; "": never
		want     string
	}{
		{
			sentence: "Ctrl-C in the middle of the scale-up stops everything and still prints what was seen",
			opts:     func(o *Options) { o.Records = 5000 },
			ctrlC:    "replicas 0 → ",
			want:     "Interrupted.\nSummary\n  first record → first replica",
		},
		{
			sentence: "Ctrl-C while the operator starts stops everything quietly",
			opts:     func(*Options) {},
			ctrlC:    "Starting Ebb's operator",
			want:     "Interrupted.\n",
		},
		{
			sentence: "--exit-after stops a run that is not back at zero",
			opts: func(o *Options) {
				o.Records = 5000
				o.ExitAfter = 3 * time.Second
			},
			want: "Stopped after 3s (--exit-after).\nSummary\n",
		},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			o := shortOptions()
			tc.opts(&o)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			out := newWatchedBuffer()
			if tc.ctrlC != "" {
				go func() {
					select {
					case <-out.seen(tc.ctrlC):
						cancel() // what the signal handler in main does
					case <-ctx.Done():
					}
				}()
			}
			res, err := runWithTimeout(t, ctx, out, o, 6*time.Minute)
			if err != nil {
				t.Fatalf("demo: %v\n%s", err, out)
			}
			if res == nil || res.Finished {
				t.Errorf("result %+v: want one that did not finish", res)
			}
			printed := out.String()
			for _, want := range []string{tc.want, "Stopped: nothing left running.\n"} {
				if !strings.Contains(printed, want) {
					t.Errorf("output lacks %q:\n%s", want, printed)
				}
			}
			expectNothingLeft(t, controlPlaneDir(t, printed))
		})
	}
}

// runWithTimeout runs the demo, failing the test if it takes longer than
// timeout (the context is cancelled first, so that it still stops).
func runWithTimeout(t *testing.T, ctx context.Context, out *watchedBuffer, o Options, timeout time.Duration) (*Result, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		res *Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := Run(ctx, out, o)
		done <- result{res, err}
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case r := <-done:
		return r.res, r.err
	case <-timer.C:
		cancel()
		r := <-done
		t.Fatalf("demo still running after %s; output:\n%s", timeout, out)
		return r.res, r.err
	}
}

// controlPlaneDir is the control plane's folder, as the demo prints it.
func controlPlaneDir(t *testing.T, printed string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^Control plane: API server \S+, files \(kubeconfig, logs\) in (\S+)$`).FindStringSubmatch(printed)
	if m == nil {
		t.Fatalf("no control plane line in:\n%s", printed)
	}
	return m[1]
}

// expectNothingLeft checks that no etcd, kube-apiserver or
// kube-controller-manager of the control plane in dir runs, and that dir is
// gone.
func expectNothingLeft(t *testing.T, dir string) {
	t.Helper()
	pids, err := controlplane.Processes(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		comm, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
		t.Errorf("process %d (%s) of %s left running", pid, strings.TrimSpace(string(comm)), dir)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("control plane folder %s left behind (%v)", dir, err)
	}
}

// watchedBuffer collects the demo's output and tells when a text appears.
type watchedBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	waiters map[string]chan struct{}
	closed  map[string]bool
}

func newWatchedBuffer() *watchedBuffer {
	return &watchedBuffer{waiters: map[string]chan struct{}{}, closed: map[string]bool{}}
}

func (w *watchedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	w.check()
	return n, err
}

// seen is closed once the output holds text.
func (w *watchedBuffer) seen(text string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch, ok := w.waiters[text]
	if !ok {
		ch = make(chan struct{})
		w.waiters[text] = ch
		w.check()
	}
	return ch
}

func (w *watchedBuffer) check() {
	for text, ch := range w.waiters {
		if !w.closed[text] && strings.Contains(w.buf.String(), text) {
			close(ch)
			w.closed[text] = true
		}
	}
}

func (w *watchedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
