// SPDX-License-Identifier: Apache-2.0

package demo

import (
	"fmt"
	"io"
	"math"
	"time"
)

// Sample is what the demo saw at one moment.
type Sample struct {
	// At is the time since the first record of the burst; negative before.
	At time.Duration
	// Lag is the work waiting in the source (the consumer group's lag, the
	// queue's length, the table's rows); -1 when it could not be read.
	Lag int64
	// Metric is the value the HPA last read for the trigger, per replica
	// (the HPA's status, currentMetrics, AverageValue); NaN when the HPA
	// shows none (at zero replicas the HPA does not run).
	Metric float64
	// MetricTotal is Metric times the replicas the HPA read it for: the
	// trigger's value as the HPA saw it; NaN with Metric.
	MetricTotal float64
	// Desired is the HPA's desired replica count; -1 when unknown.
	Desired int32
	// Replicas is the Deployment's replica count (spec.replicas); -1 when
	// unknown.
	Replicas int32
	// Pods, Running and Ready count the Deployment's pods (terminating ones
	// too), those in phase Running, and those whose Ready condition is
	// True, as the kubelet reports them: with --cluster only; -1 otherwise
	// or when unknown.
	Pods, Running, Ready int32
}

// Moment is a time since the first record, if it came.
type Moment struct {
	After time.Duration
	Seen  bool
}

func (m Moment) String() string {
	if !m.Seen {
		return "not reached"
	}
	return seconds(m.After)
}

// Summary is the timeline of a run, from its samples.
type Summary struct {
	// FirstReplica: the Deployment left zero replicas.
	FirstReplica Moment
	// Peak is the most replicas the Deployment had; PeakAt when it first
	// had them.
	Peak   int32
	PeakAt Moment
	// Drained: the lag was back to zero.
	Drained Moment
	// BackToZero: the Deployment was back at zero replicas.
	BackToZero Moment
	// FirstReady: a pod was Ready (--cluster only). PeakReady is the most
	// pods Ready at once.
	FirstReady Moment
	PeakReady  int32
}

// Summarize reads the timeline from samples in time order: only samples at
// or after the first record count.
func Summarize(samples []Sample) Summary {
	var s Summary
	sawLag := false
	for _, x := range samples {
		if x.At < 0 {
			continue
		}
		if !s.FirstReplica.Seen && x.Replicas >= 1 {
			s.FirstReplica = Moment{x.At, true}
		}
		if x.Replicas > s.Peak {
			s.Peak, s.PeakAt = x.Replicas, Moment{x.At, true}
		}
		if x.Lag > 0 {
			sawLag = true
		}
		if sawLag && !s.Drained.Seen && x.Lag == 0 {
			s.Drained = Moment{x.At, true}
		}
		if !s.FirstReady.Seen && x.Ready >= 1 {
			s.FirstReady = Moment{x.At, true}
		}
		s.PeakReady = max(s.PeakReady, x.Ready)
		if s.FirstReplica.Seen && !s.BackToZero.Seen && x.Replicas == 0 {
			s.BackToZero = Moment{x.At, true}
		}
	}
	return s
}

// Done says whether the run has gone 0 → N → 0 with all its work done.
func (s Summary) Done() bool { return s.Drained.Seen && s.BackToZero.Seen }

// Print writes the summary for people; n is the burst, in unit.
func (s Summary) Print(w io.Writer, n int, unit Unit) {
	first := "first " + unit.One
	fmt.Fprintln(w, "Summary")
	fmt.Fprintf(w, "  %-31s %s\n", first+" → first replica", s.FirstReplica)
	if s.PeakAt.Seen {
		fmt.Fprintf(w, "  %-31s %d (at %s)\n", "peak replicas", s.Peak, s.PeakAt)
	} else {
		fmt.Fprintf(w, "  %-31s 0\n", "peak replicas")
	}
	if s.FirstReady.Seen {
		fmt.Fprintf(w, "  %-31s %s\n", first+" → pod Ready", s.FirstReady)
		fmt.Fprintf(w, "  %-31s %d\n", "peak pods Ready", s.PeakReady)
	}
	fmt.Fprintf(w, "  %-31s %s (%s)\n", first+" → drained", s.Drained, unit.Of(n))
	if s.Drained.Seen && s.BackToZero.Seen && s.BackToZero.After >= s.Drained.After {
		fmt.Fprintf(w, "  %-31s %s\n", "drained → back to zero", seconds(s.BackToZero.After-s.Drained.After))
	}
	fmt.Fprintf(w, "  %-31s %s\n", first+" → back to zero", s.BackToZero)
}

// seconds formats d as seconds with one decimal: "12.3 s".
func seconds(d time.Duration) string {
	return fmt.Sprintf("%.1f s", d.Seconds())
}

// signedSeconds formats d like "+12.3s" or "-2.0s", for timestamps.
func signedSeconds(d time.Duration) string {
	return fmt.Sprintf("%+.1fs", d.Seconds())
}

// known is whether v holds a value.
func known(v float64) bool { return !math.IsNaN(v) }
