// SPDX-License-Identifier: Apache-2.0

package http

import (
	"errors"
	"time"
)

// maxPoints bounds a history. Reads come once per polling interval (or once
// a second while probed), so a one-minute window needs at most ~60 points;
// past the bound the oldest points go first.
const maxPoints = 256

// series identifies one series by its labels, as "name=value\xff..." in
// label-name order.
type series string

// history turns scrapes of a counter into a per-second rate. It is pure (the
// caller passes the time of each scrape) and not safe for concurrent use.
type history struct {
	window time.Duration
	// last is each series' value at its last scrape.
	last map[series]lastValue
	// points are (time, cumulative increase since the first scrape), oldest
	// first, times strictly increasing.
	points []point
	total  float64
}

type lastValue struct {
	v    float64
	seen time.Time
}

type point struct {
	t     time.Time
	total float64
}

func newHistory(window time.Duration) *history {
	return &history{window: window, last: map[series]lastValue{}}
}

// errTooSoon is returned by add for a scrape not after the newest point.
var errTooSoon = errors.New("scrape not after the newest point")

// add records a scrape taken at t: the value of every matching series.
//
// The increase of a series since its previous scrape is the difference, or
// its new value when it went down (a counter reset). A series the history
// has not seen counts its whole value (a counter starts at 0 when a series
// is created), except on the first scrape, which only sets the baseline.
// Series not seen for 2 windows are forgotten.
func (h *history) add(t time.Time, values map[series]float64) error {
	if n := len(h.points); n > 0 && !t.After(h.points[n-1].t) {
		return errTooSoon
	}
	first := len(h.points) == 0
	var inc float64
	for s, v := range values {
		prev, ok := h.last[s]
		switch {
		case first:
		case !ok:
			inc += v
		case v < prev.v:
			inc += v
		default:
			inc += v - prev.v
		}
		h.last[s] = lastValue{v: v, seen: t}
	}
	for s, lv := range h.last {
		if t.Sub(lv.seen) > 2*h.window {
			delete(h.last, s)
		}
	}
	h.total += inc
	h.points = append(h.points, point{t: t, total: h.total})
	h.trim(t)
	return nil
}

// trim drops the points that no rate at or after now needs: every point
// older than the oldest one inside the window, except the newest of those
// (the anchor when no other point is inside the window).
func (h *history) trim(now time.Time) {
	cut := 0
	for cut+1 < len(h.points) && now.Sub(h.points[cut+1].t) > h.window {
		cut++
	}
	if len(h.points)-cut > maxPoints {
		cut = len(h.points) - maxPoints
	}
	if cut > 0 {
		h.points = append(h.points[:0], h.points[cut:]...)
	}
}

// span is the time between the oldest and the newest point.
func (h *history) span() time.Duration {
	if len(h.points) < 2 {
		return 0
	}
	return h.points[len(h.points)-1].t.Sub(h.points[0].t)
}

// newest is the time of the newest point (zero when there is none).
func (h *history) newest() time.Time {
	if len(h.points) == 0 {
		return time.Time{}
	}
	return h.points[len(h.points)-1].t
}

// rate is the per-second increase from the oldest point inside the window
// ending at the newest point to the newest point; when only the newest point
// is inside the window, from the point before it. ok is false with fewer
// than two points.
func (h *history) rate() (r float64, span time.Duration, ok bool) {
	n := len(h.points)
	if n < 2 {
		return 0, 0, false
	}
	last := h.points[n-1]
	from := n - 2
	for from > 0 && last.t.Sub(h.points[from-1].t) <= h.window {
		from--
	}
	first := h.points[from]
	span = last.t.Sub(first.t)
	return (last.total - first.total) / span.Seconds(), span, true
}
