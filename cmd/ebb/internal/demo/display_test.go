// SPDX-License-Identifier: Apache-2.0

package demo

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestTidyMessage(t *testing.T) {
	for _, tc := range []struct{ sentence, in, want string }{
		{
			"the HPA's selector representation is dropped",
			"New size: 5; reason: external metric s0-kafka-jobs(&LabelSelector{MatchLabels:map[string]string{ebb.dev/scaledobject: worker,},MatchExpressions:[]LabelSelectorRequirement{},}) above target",
			"New size: 5; reason: external metric s0-kafka-jobs above target",
		},
		{"a message without one is kept, spaces folded", "Deployment worker:  scaling\nfrom 0 to 1", "Deployment worker: scaling from 0 to 1"},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			if got := tidyMessage(tc.in); got != tc.want {
				t.Errorf("tidyMessage = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestStatusLine(t *testing.T) {
	sc := scale{records: 100, target: 20, maxReplicas: 4}
	for _, tc := range []struct {
		sentence string
		s        Sample
		want     string
	}{
		{
			"at zero replicas the HPA reads nothing",
			Sample{At: -time.Second, Lag: 0, Metric: math.NaN(), MetricTotal: math.NaN(), Desired: 0, Replicas: 0},
			"lag 0 · HPA metric — (the HPA reads nothing at 0 replicas) · HPA desired 0 · replicas 0",
		},
		{
			"the HPA's view per replica against its target, and in all",
			Sample{At: 3 * time.Second, Lag: 530, Metric: 32, MetricTotal: 160, Desired: 8, Replicas: 5},
			"lag 530 · HPA metric 32/20 per replica, 160 in all · HPA desired 8 · replicas 5",
		},
		{
			"what could not be read shows as ?",
			Sample{Lag: -1, Metric: 2.25, MetricTotal: 4.5, Desired: -1, Replicas: -1},
			"lag ? · HPA metric 2.2/20 per replica, 4.5 in all · HPA desired ? · replicas ?",
		},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			if got := statusLine(tc.s, sc); got != tc.want {
				t.Errorf("statusLine\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestLineDisplay(t *testing.T) {
	var b strings.Builder
	d := newDisplay(&b, scale{records: 10, target: 5, maxReplicas: 2})
	if _, ok := d.(*lineDisplay); !ok {
		t.Fatalf("display for a non-terminal is %T, want a line display", d)
	}
	for ms := -1000; ms <= 1000; ms += 250 {
		d.update(Sample{At: time.Duration(ms) * time.Millisecond, Lag: 3, Metric: math.NaN(), MetricTotal: math.NaN(), Desired: 1, Replicas: 1})
	}
	d.event(1500*time.Millisecond, "replicas 1 → 2")
	d.close()
	got := b.String()
	want := "   -1.0s  lag 3 · HPA metric — (the HPA reads nothing at 0 replicas) · HPA desired 1 · replicas 1\n" +
		"   +0.0s  lag 3 · HPA metric — (the HPA reads nothing at 0 replicas) · HPA desired 1 · replicas 1\n" +
		"   +1.0s  lag 3 · HPA metric — (the HPA reads nothing at 0 replicas) · HPA desired 1 · replicas 1\n" +
		"   +1.5s  replicas 1 → 2\n"
	if got != want {
		t.Errorf("one status line a second and every event:\n got %q\nwant %q", got, want)
	}
}

func TestLiveDisplay(t *testing.T) {
	var b strings.Builder
	d := &liveDisplay{out: &b, sc: scale{records: 100, target: 20, maxReplicas: 4}}
	s := Sample{At: 2 * time.Second, Lag: 50, Metric: 25, MetricTotal: 50, Desired: 3, Replicas: 2}
	d.update(s)
	first := b.String()
	if strings.Contains(first, "\x1b[") {
		t.Errorf("the first drawing moves the cursor: %q", first)
	}
	for _, want := range []string{"+2.0s", "lag               50  ███████████████░░░░░░░░░░░░░░░", "25/20 per replica, 50 in all", "replicas           2  ■ ■ □ □"} {
		if !strings.Contains(first, want) {
			t.Errorf("block lacks %q:\n%s", want, first)
		}
	}
	lines := strings.Count(first, "\n")

	b.Reset()
	d.event(2500*time.Millisecond, "replicas 2 → 3")
	redraw := b.String()
	// Up over the block, clear to the end of the screen, the event line,
	// the block again below it.
	wantStart := "\x1b[" + strconv.Itoa(lines) + "A\r\x1b[J" + "     +2.5s  replicas 2 → 3\n"
	if !strings.HasPrefix(redraw, wantStart) {
		t.Errorf("event redraw starts %q, want %q", redraw, wantStart)
	}
	if strings.Count(redraw, "\n") != lines+1 {
		t.Errorf("event redraw has %d lines, want the event and the %d of the block:\n%s", strings.Count(redraw, "\n"), lines, redraw)
	}
}

func TestLiveDisplayNarrowTerminal(t *testing.T) {
	var b strings.Builder
	d := &liveDisplay{out: &b, sc: scale{records: 100, target: 20, maxReplicas: 4}, width: 20}
	d.update(Sample{Lag: 50, Metric: math.NaN(), MetricTotal: math.NaN(), Desired: 0, Replicas: 0})
	for _, line := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		if n := len([]rune(line)); n >= 20 {
			t.Errorf("line %q is %d wide on a terminal of 20: it would wrap", line, n)
		}
	}
}
