// SPDX-License-Identifier: Apache-2.0

package explain

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteJSON writes the report as indented JSON.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report for a person: the verdict, then the facts by
// section.
func (r Report) WriteText(w io.Writer) error {
	p := &printer{w: w}
	p.line(0, "%s", r.Verdict)

	p.section("ScaledObject %s/%s", r.Namespace, r.Name)
	t := r.Target
	if t.Replicas != nil {
		p.line(1, "target:   %s %s (%s), %d %s (its /scale)", t.Kind, t.Name, t.APIVersion, *t.Replicas, plural(*t.Replicas, "replica", "replicas"))
	} else {
		p.line(1, "target:   %s %s (%s), replicas unknown: %s", t.Kind, t.Name, t.APIVersion, t.Error)
	}
	idle := "not set"
	if r.Spec.IdleReplicas != nil {
		idle = fmt.Sprint(*r.Spec.IdleReplicas)
	}
	p.line(1, "replicas: min %d, max %d, idle %s", r.Spec.MinReplicas, r.Spec.MaxReplicas, idle)
	p.line(1, "timing:   polling every %s, cooldown %s, initial cooldown %s, scale to zero %s",
		seconds(r.Spec.PollingIntervalSeconds), seconds(r.Spec.CooldownSeconds), seconds(r.Spec.InitialCooldownSeconds), r.Spec.ScaleToZero)
	p.conditions(r.Conditions, r.Now)

	p.section("Triggers (as Ebb's status records them)")
	if len(r.Triggers) == 0 {
		p.line(1, "none")
	}
	for _, tr := range r.Triggers {
		head := fmt.Sprintf("%s (%s", tr.Name, tr.Type)
		if tr.MetricName != "" {
			head += ", metric " + tr.MetricName
		}
		p.line(1, "%s)", head)
		value := tr.Value
		if value == "" {
			value = "not read yet"
		}
		state := "inactive"
		switch {
		case tr.Active:
			state = "active"
		case !tr.Known:
			state = "unknown"
		}
		p.line(2, "value %s, target %s (%s), activation threshold %s (%s): %s", value, orDefault(tr.Target, "?"), tr.MetricType, tr.Activation, tr.ActivationFrom, state)
		if tr.Arithmetic != "" {
			if tr.Wants != nil {
				p.line(2, "asks the HPA for %d: %s", *tr.Wants, tr.Arithmetic)
			} else {
				p.line(2, "%s", tr.Arithmetic)
			}
		} else if tr.Composite {
			p.line(2, "the HPA scales on this composite metric (advanced.scalingModifiers)")
		}
		health := fmt.Sprintf("health: %d consecutive failures", tr.ConsecutiveFailures)
		if tr.LastReadTime != nil {
			health += fmt.Sprintf(", last read %s (%s ago)", clock(*tr.LastReadTime, r.Now), age(*tr.LastReadTime, r.Now))
		} else {
			health += ", never read"
		}
		p.line(2, "%s", health)
		if tr.LastError != "" {
			p.line(2, "last error: %s", tr.LastError)
		}
	}

	h := r.HPA
	p.section("HPA %s", h.Name)
	switch {
	case h.Error != "":
		p.line(1, "could not be read: %s", h.Error)
	case !h.Found:
		p.line(1, "does not exist")
	default:
		p.line(1, "range %d–%d, current %d, desired %d", h.MinReplicas, h.MaxReplicas, h.CurrentReplicas, h.DesiredReplicas)
		if h.Wants != nil {
			p.line(1, "the triggers ask for %d (the highest ask, within %d–%d); its behavior may limit or delay the step", *h.Wants, h.MinReplicas, h.MaxReplicas)
		}
		for _, m := range h.Metrics {
			cur := m.Current
			if cur == "" {
				cur = "not read yet"
			}
			p.line(1, "metric %s: current %s, target %s (%s)", m.Name, cur, m.Target, m.TargetType)
		}
		p.line(1, "tolerance %s: no change while value / target is within it of 1", formatTolerance(h.ToleranceUp, h.ToleranceDown))
		def := ""
		if h.BehaviorDefault {
			def = " (Kubernetes' defaults: the HPA has no behavior)"
		}
		p.line(1, "stabilization windows: scale up %d s, scale down %d s%s", h.ScaleUpWindowSeconds, h.ScaleDownWindowSeconds, def)
		if h.LastScaleTime != nil {
			p.line(1, "last scaled %s (%s ago)", clock(*h.LastScaleTime, r.Now), age(*h.LastScaleTime, r.Now))
		} else {
			p.line(1, "has not scaled yet")
		}
		p.conditions(h.Conditions, r.Now)
	}

	p.section("Scale to zero")
	z := r.ToZero
	if z.LastActiveTime != nil {
		p.line(1, "last active %s (%s ago); cooldown %s", clock(*z.LastActiveTime, r.Now), age(*z.LastActiveTime, r.Now), seconds(z.CooldownSeconds))
	} else {
		p.line(1, "never active; cooldown %s", seconds(z.CooldownSeconds))
	}
	if z.CooldownRemainingSeconds > 0 {
		p.line(1, "cooldown remaining: %s", (time.Duration(z.CooldownRemainingSeconds * float64(time.Second))).Round(time.Second))
	}
	p.line(1, "%s", z.State)
	switch {
	case r.Pause.Replicas != nil:
		p.line(1, "paused: annotation ebb.dev/paused-replicas=%d", *r.Pause.Replicas)
	case r.Pause.Paused:
		p.line(1, "paused: annotation ebb.dev/paused=true")
	default:
		p.line(1, "not paused")
	}
	fb := r.Fallback
	switch {
	case !fb.Configured:
		p.line(1, "no fallback configured")
	case fb.Active:
		p.line(1, "fallback active: %d replicas hold (%s)", fb.HoldReplicas, fb.Message)
	default:
		p.line(1, "fallback: %d replicas (%s) after %d consecutive failures; not active", fb.Replicas, fb.Behavior, fb.FailureThreshold)
	}

	p.section("Events (newest last)")
	if r.EventsError != "" {
		p.line(1, "could not list them all: %s", r.EventsError)
	}
	if len(r.Events) == 0 {
		p.line(1, "none")
	}
	tw := tabwriter.NewWriter(p, 0, 0, 2, ' ', 0)
	for _, e := range r.Events {
		count := ""
		if e.Count > 1 {
			count = fmt.Sprintf(" (×%d)", e.Count)
		}
		fmt.Fprintf(tw, "  %s ago\t%s\t%s\t%s\t%s%s\n", age(e.Time, r.Now), e.Type, e.Reason, e.Object, e.Message, count)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return p.err
}

type printer struct {
	w   io.Writer
	err error
}

func (p *printer) Write(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	n, err := p.w.Write(b)
	p.err = err
	return n, err
}

func (p *printer) line(indent int, format string, args ...any) {
	fmt.Fprintf(p, "%s%s\n", strings.Repeat("  ", indent), fmt.Sprintf(format, args...))
}

func (p *printer) section(format string, args ...any) {
	fmt.Fprintf(p, "\n%s\n", fmt.Sprintf(format, args...))
}

func (p *printer) conditions(cs []Condition, now time.Time) {
	if len(cs) == 0 {
		p.line(1, "conditions: none yet")
		return
	}
	p.line(1, "conditions:")
	tw := tabwriter.NewWriter(p, 0, 0, 2, ' ', 0)
	for _, c := range cs {
		since := ""
		if !c.Since.IsZero() {
			since = "for " + age(c.Since, now)
		}
		fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\t%s\n", c.Type, c.Status, c.Reason, since, c.Message)
	}
	_ = tw.Flush()
}
