// SPDX-License-Identifier: Apache-2.0

package simulate

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

// FormatOffset renders a time since the start as h:mm:ss, with
// milliseconds when it is not a whole second.
func FormatOffset(d time.Duration) string {
	neg := d < 0
	if neg {
		d = -d
	}
	h := d / time.Hour
	m := (d % time.Hour) / time.Minute
	s := (d % time.Minute) / time.Second
	out := fmt.Sprintf("%d:%02d:%02d", h, m, s)
	if ms := (d % time.Second) / time.Millisecond; ms != 0 {
		out += fmt.Sprintf(".%03d", ms)
	}
	if neg {
		out = "-" + out
	}
	return out
}

// WriteTimeline writes the replica changes of a run, one line each.
func WriteTimeline(w io.Writer, r *Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "time\treplicas\tby\treason\n")
	fmt.Fprintf(tw, "%s\t%d\t\tstart\n", FormatOffset(0), r.Initial)
	for _, c := range r.Changes {
		fmt.Fprintf(tw, "%s\t%d → %d\t%s\t%s\n", FormatOffset(c.At), c.From, c.To, c.By, c.Reason)
	}
	return tw.Flush()
}

// summaryRows are the summary's lines: a label and a figure per run.
func summaryRows(results []*Result) [][]string {
	rows := [][]string{
		{"replayed"}, {"scale events"}, {"  by Ebb (0↔1)"}, {"  by the HPA"},
		{"replica-seconds"}, {"average replicas"}, {"peak replicas"}, {"time at zero"},
	}
	for _, r := range results {
		s := r.Summary
		figures := []string{
			FormatOffset(s.Duration),
			strconv.Itoa(s.ScaleEvents),
			strconv.Itoa(s.EbbEvents),
			strconv.Itoa(s.HPAEvents),
			strconv.FormatFloat(s.ReplicaSeconds, 'f', 0, 64),
			strconv.FormatFloat(s.AverageReplicas, 'f', 2, 64),
			fmt.Sprintf("%d at %s", s.Peak, FormatOffset(s.PeakAt)),
			fmt.Sprintf("%s (%.1f %%)", FormatOffset(s.TimeAtZero), 100*s.TimeAtZero.Seconds()/max(s.Duration.Seconds(), 1e-9)),
		}
		for i := range rows {
			rows[i] = append(rows[i], figures[i])
		}
	}
	return rows
}

// WriteSummary writes the summary figures of one run.
func WriteSummary(w io.Writer, r *Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, row := range summaryRows([]*Result{r}) {
		fmt.Fprintf(tw, "  %s\t%s\n", row[0], row[1])
	}
	return tw.Flush()
}

// WriteComparison writes the summary figures of several runs side by side.
func WriteComparison(w io.Writer, results []*Result) error {
	rows := summaryRows(results)
	width := 0
	for _, row := range rows {
		width = max(width, utf8.RuneCountInString(row[0]))
	}
	label := func(s string) string { return "  " + s + strings.Repeat(" ", width-utf8.RuneCountInString(s)) }
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{label("")}
	for _, r := range results {
		head = append(head, r.Scenario.Name)
	}
	fmt.Fprintf(tw, "%s\t\n", strings.Join(head, "\t"))
	for _, row := range rows {
		row[0] = label(row[0])
		fmt.Fprintf(tw, "%s\t\n", strings.Join(row, "\t"))
	}
	return tw.Flush()
}

// Report writes a run's (or several runs') timeline and summary, as `ebb
// simulate` prints them.
func Report(w io.Writer, results []*Result) error {
	for i, r := range results {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if len(results) > 1 {
			fmt.Fprintf(w, "== %s\n", r.Scenario.Name)
		}
		if err := WriteTimeline(w, r); err != nil {
			return err
		}
		if len(results) == 1 {
			fmt.Fprintln(w, "\nSummary")
			if err := WriteSummary(w, r); err != nil {
				return err
			}
		}
	}
	if len(results) > 1 {
		fmt.Fprintln(w, "\nSummary")
		return WriteComparison(w, results)
	}
	return nil
}
