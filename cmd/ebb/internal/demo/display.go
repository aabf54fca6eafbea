// SPDX-License-Identifier: Apache-2.0

package demo

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// display shows the run as it goes: events as lines that stay, and the
// latest sample.
type display interface {
	// event shows a line that stays: something happened at at.
	event(at time.Duration, line string)
	// update shows the latest sample.
	update(s Sample)
	// close leaves the display in a state where more lines may follow.
	close()
}

// scale is what the display measures against.
type scale struct {
	records     int     // the burst
	target      float64 // the HPA's target per replica; NaN if unknown
	maxReplicas int32
	pods        bool // the Deployment's pods run (--cluster)
}

// newDisplay is a live, refreshing display when out is a terminal, and one
// line a second otherwise (a log file, a pipe, a test).
func newDisplay(out io.Writer, sc scale) display {
	if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		width, _, err := term.GetSize(int(f.Fd()))
		if err != nil {
			width = 0
		}
		return &liveDisplay{out: out, sc: sc, width: width}
	}
	return &lineDisplay{out: out, sc: sc, every: time.Second}
}

// liveDisplay redraws a block of lines at the bottom of a terminal with
// ANSI escapes; event lines scroll above it.
type liveDisplay struct {
	out   io.Writer
	sc    scale
	last  *Sample
	drawn int // lines of the block on screen
	// width is the terminal's; block lines are cut to it so that none
	// wraps (the redraw counts lines). 0: unknown.
	width int
}

func (d *liveDisplay) event(at time.Duration, line string) {
	var b strings.Builder
	d.erase(&b)
	fmt.Fprintf(&b, "  %8s  %s\n", signedSeconds(at), line)
	d.draw(&b)
	io.WriteString(d.out, b.String())
}

func (d *liveDisplay) update(s Sample) {
	d.last = &s
	var b strings.Builder
	d.erase(&b)
	d.draw(&b)
	io.WriteString(d.out, b.String())
}

func (d *liveDisplay) close() { d.drawn = 0 }

// erase moves the cursor to the start of the block and clears to the end of
// the screen.
func (d *liveDisplay) erase(b *strings.Builder) {
	if d.drawn > 0 {
		fmt.Fprintf(b, "\x1b[%dA\r\x1b[J", d.drawn)
	}
	d.drawn = 0
}

func (d *liveDisplay) draw(b *strings.Builder) {
	if d.last == nil {
		return
	}
	lines := blockLines(*d.last, d.sc)
	for _, l := range lines {
		if r := []rune(l); d.width > 1 && len(r) >= d.width {
			l = string(r[:d.width-1])
		}
		b.WriteString(l)
		b.WriteByte('\n')
	}
	d.drawn = len(lines)
}

// blockLines is the live block for s.
func blockLines(s Sample, sc scale) []string {
	const width = 30
	lagBar := ""
	if s.Lag >= 0 && sc.records > 0 {
		lagBar = bar(float64(s.Lag)/float64(sc.records), width, '█', '░')
	}
	repBar := ""
	if s.Replicas >= 0 && sc.maxReplicas > 0 {
		repBar = strings.Repeat("■ ", int(min(s.Replicas, sc.maxReplicas))) + strings.Repeat("□ ", int(max(sc.maxReplicas-s.Replicas, 0)))
	}
	lines := []string{
		"  " + strings.Repeat("─", 64),
		fmt.Sprintf("  %-13s %s", "time", signedSeconds(s.At)),
		fmt.Sprintf("  %-13s %6s  %s", "lag", count(s.Lag), lagBar),
		fmt.Sprintf("  %-13s %s", "HPA metric", metricText(s, sc.target)),
		fmt.Sprintf("  %-13s %6s", "HPA desired", count(int64(s.Desired))),
		fmt.Sprintf("  %-13s %6s  %s", "replicas", count(int64(s.Replicas)), strings.TrimSpace(repBar)),
	}
	if sc.pods {
		readyBar := ""
		if s.Ready >= 0 && s.Pods >= 0 {
			readyBar = strings.Repeat("● ", int(s.Ready)) + strings.Repeat("○ ", int(max(s.Pods-s.Ready, 0)))
		}
		lines = append(lines, fmt.Sprintf("  %-13s %6s  %s  (%s pods, %s Running)", "pods Ready", count(int64(s.Ready)),
			strings.TrimSpace(readyBar), count(int64(s.Pods)), count(int64(s.Running))))
	}
	return lines
}

// lineDisplay prints event lines as they come and the latest sample once
// every interval, for output that is not a terminal.
type lineDisplay struct {
	out     io.Writer
	sc      scale
	every   time.Duration
	printed bool
	next    time.Duration // At of the next sample to print
}

func (d *lineDisplay) event(at time.Duration, line string) {
	fmt.Fprintf(d.out, "%8s  %s\n", signedSeconds(at), line)
}

func (d *lineDisplay) update(s Sample) {
	if d.printed && s.At < d.next {
		return
	}
	d.printed, d.next = true, s.At+d.every
	fmt.Fprintf(d.out, "%8s  %s\n", signedSeconds(s.At), statusLine(s, d.sc))
}

func (d *lineDisplay) close() {}

// statusLine is s on one line.
func statusLine(s Sample, sc scale) string {
	line := fmt.Sprintf("lag %s · HPA metric %s · HPA desired %s · replicas %s",
		count(s.Lag), metricText(s, sc.target), count(int64(s.Desired)), count(int64(s.Replicas)))
	if sc.pods {
		line += fmt.Sprintf(" · pods %s (Running %s, Ready %s)", count(int64(s.Pods)), count(int64(s.Running)), count(int64(s.Ready)))
	}
	return line
}

// metricText is the HPA's view: per replica against its target, and in all.
func metricText(s Sample, target float64) string {
	if !known(s.Metric) {
		if known(s.MetricTotal) {
			return fmt.Sprintf("%s (target %s)", number(s.MetricTotal), number(target))
		}
		return "— (the HPA reads nothing at 0 replicas)"
	}
	return fmt.Sprintf("%s/%s per replica, %s in all", number(s.Metric), number(target), number(s.MetricTotal))
}

// count is n, or "?" when unknown (negative).
func count(n int64) string {
	if n < 0 {
		return "?"
	}
	return fmt.Sprint(n)
}

// number is v with at most one decimal, "?" for NaN.
func number(v float64) string {
	if !known(v) {
		return "?"
	}
	if v == float64(int64(v)) {
		return fmt.Sprint(int64(v))
	}
	return fmt.Sprintf("%.1f", v)
}

// bar is a bar of width cells filled to fraction f.
func bar(f float64, width int, full, empty rune) string {
	n := int(f*float64(width) + 0.5)
	n = max(0, min(n, width))
	return strings.Repeat(string(full), n) + strings.Repeat(string(empty), width-n)
}
