// SPDX-License-Identifier: Apache-2.0

package demo

import (
	"math"
	"strings"
	"testing"
	"time"
)

// at builds a sample at s seconds with the lag and the replicas; the HPA's
// view is left unknown.
func at(s float64, lag int64, replicas int32) Sample {
	return Sample{At: time.Duration(s * float64(time.Second)), Lag: lag, Replicas: replicas, Desired: replicas, Metric: math.NaN(), MetricTotal: math.NaN()}
}

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		sentence string
		samples  []Sample
		want     Summary
		done     bool
	}{
		{
			sentence: "a whole run: up at 1 s, peak 4 at 2 s, drained at 5 s, back to zero at 8 s",
			samples: []Sample{
				at(-1, 0, 0), at(0, 100, 0), at(1, 100, 1), at(2, 80, 4), at(3, 40, 4), at(4, 10, 2), at(5, 0, 1), at(6, 0, 1), at(8, 0, 0), at(9, 0, 0),
			},
			want: Summary{
				FirstReplica: Moment{time.Second, true},
				Peak:         4, PeakAt: Moment{2 * time.Second, true},
				Drained:    Moment{5 * time.Second, true},
				BackToZero: Moment{8 * time.Second, true},
			},
			done: true,
		},
		{
			sentence: "samples before the first record do not count, even with replicas",
			samples:  []Sample{at(-2, 0, 3), at(-1, 0, 0), at(0, 50, 0), at(1, 50, 0)},
			want:     Summary{},
		},
		{
			sentence: "a lag of zero before any lag was seen is not drained",
			samples:  []Sample{at(0, 0, 0), at(0.5, 0, 0)},
			want:     Summary{},
		},
		{
			sentence: "an unreadable lag (-1) is neither work nor drained",
			samples:  []Sample{at(0, -1, 0), at(1, 20, 1), at(2, -1, 2), at(3, 0, 2)},
			want: Summary{
				FirstReplica: Moment{time.Second, true},
				Peak:         2, PeakAt: Moment{2 * time.Second, true},
				Drained: Moment{3 * time.Second, true},
			},
		},
		{
			sentence: "an unknown replica count (-1) is not zero",
			samples:  []Sample{at(0, 10, 0), at(1, 10, 1), at(2, 0, -1), at(3, 0, 1)},
			want: Summary{
				FirstReplica: Moment{time.Second, true},
				Peak:         1, PeakAt: Moment{time.Second, true},
				Drained: Moment{2 * time.Second, true},
			},
		},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			got := Summarize(tc.samples)
			if got != tc.want {
				t.Errorf("Summarize\n got %+v\nwant %+v", got, tc.want)
			}
			if got.Done() != tc.done {
				t.Errorf("Done() = %v, want %v", got.Done(), tc.done)
			}
		})
	}
}

func TestSummaryPrint(t *testing.T) {
	var b strings.Builder
	Summary{
		FirstReplica: Moment{1200 * time.Millisecond, true},
		Peak:         8, PeakAt: Moment{17 * time.Second, true},
		Drained:    Moment{20700 * time.Millisecond, true},
		BackToZero: Moment{29 * time.Second, true},
	}.Print(&b, 1000, Unit{"record", "records"})
	want := `Summary
  first record → first replica    1.2 s
  peak replicas                   8 (at 17.0 s)
  first record → drained          20.7 s (1000 records)
  drained → back to zero          8.3 s
  first record → back to zero     29.0 s
`
	if b.String() != want {
		t.Errorf("summary\n%s\nwant\n%s", b.String(), want)
	}

	b.Reset()
	Summary{}.Print(&b, 10, Unit{"message", "messages"})
	for _, line := range []string{"first message → first replica   not reached", "peak replicas                   0", "(10 messages)", "back to zero    not reached"} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("summary of a run that never scaled lacks %q:\n%s", line, b.String())
		}
	}
	if strings.Contains(b.String(), "drained → back to zero") {
		t.Errorf("summary of a run that never drained has a drained → back to zero line:\n%s", b.String())
	}
}
