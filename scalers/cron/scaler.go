// SPDX-License-Identifier: Apache-2.0

package cron

import (
	"context"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/ebbscale/ebb/scalers"

	_ "time/tzdata" // zone data in the binary: an image may have none
)

// TypeName is the trigger type, as written in spec.triggers[].type.
const TypeName = "cron"

// Type is the cron trigger type. It holds no connections.
type Type struct {
	clock clock.WithTicker
}

var (
	_ scalers.Type     = (*Type)(nil)
	_ scalers.Scaler   = (*scaler)(nil)
	_ scalers.Notifier = (*scaler)(nil)
)

// NewType returns the cron trigger type on the real clock.
func NewType() *Type { return NewTypeWithClock(clock.RealClock{}) }

// NewTypeWithClock returns the cron trigger type on clk (tests).
func NewTypeWithClock(clk clock.WithTicker) *Type { return &Type{clock: clk} }

// Name is "cron".
func (t *Type) Name() string { return TypeName }

// Config returns a zero *Config.
func (t *Type) Config() any { return &Config{} }

// Validate checks a trigger's metadata without I/O.
func (t *Type) Validate(tr scalers.Trigger) error {
	_, err := parse(tr)
	return err
}

// OpenConnections is always 0: a cron trigger reads no source.
func (t *Type) OpenConnections() int { return 0 }

// New builds the trigger's Scaler.
func (t *Type) New(tr scalers.Trigger) (scalers.Scaler, error) {
	s, err := parse(tr)
	if err != nil {
		return nil, err
	}
	return &scaler{
		clock: t.clock,
		set:   s,
		metric: scalers.MetricSpec{
			Name: scalers.MetricName(tr, s.cfg.Timezone),
			// One replica per unit, so the HPA asks for desiredReplicas
			// while a window is open.
			Target:           1,
			ActivationTarget: 0,
			Type:             tr.MetricTypeOrDefault(),
		},
	}, nil
}

type scaler struct {
	clock  clock.WithTicker
	set    settings
	metric scalers.MetricSpec
}

func (s *scaler) Metric() scalers.MetricSpec { return s.metric }

// Read is desiredReplicas while a window is open, 0 otherwise.
func (s *scaler) Read(ctx context.Context) (scalers.Reading, error) {
	if err := ctx.Err(); err != nil {
		return scalers.Reading{}, err
	}
	if Open(s.set.start, s.set.end, s.clock.Now().In(s.set.loc)) {
		return scalers.Reading{Value: float64(s.set.cfg.DesiredReplicas), Active: true}, nil
	}
	return scalers.Reading{}, nil
}

// Close releases nothing.
func (s *scaler) Close() error { return nil }

// Notify signals at every start and end of a window. The scale loop acts on
// it for a target at rest at zero, which so wakes at the window's start
// rather than at its next activation probe; a running target sees the end
// of a window at its next poll.
func (s *scaler) Notify(wake func()) (stop func()) {
	done := make(chan struct{})
	var once sync.Once
	go func() {
		for {
			next := NextBoundary(s.set.start, s.set.end, s.clock.Now().In(s.set.loc))
			if next.IsZero() {
				return // neither schedule fires again
			}
			timer := s.clock.NewTimer(next.Sub(s.clock.Now()))
			select {
			case <-done:
				timer.Stop()
				return
			case <-timer.C():
				wake()
			}
		}
	}()
	return func() { once.Do(func() { close(done) }) }
}

// Open says whether a window is open at now: the latest start at or before
// now comes after the latest end at or before now. So a window is open from
// the instant it starts and closed from the instant it ends; a window that
// opened before the trigger existed is open; a start that a daylight-saving
// change skips opens nothing that day; and a schedule that never fires (the
// 30th of February) keeps the window closed. Starts and ends more than a
// year back (lookback) are not seen.
func Open(start, end interface{ Next(time.Time) time.Time }, now time.Time) bool {
	s := latest(start, now)
	if s.IsZero() {
		return false
	}
	e := latest(end, now)
	return e.IsZero() || s.After(e)
}

// lookback is how far back latest looks for a schedule's last firing.
const lookback = 367 * 24 * time.Hour

// latest is the last time at or before now that sch fires; zero when it did
// not fire within lookback. Next is monotone, so a binary search over where
// to start from finds it in about 55 calls, however often sch fires.
func latest(sch interface{ Next(time.Time) time.Time }, now time.Time) time.Time {
	fires := func(from time.Time) bool { n := sch.Next(from); return !n.IsZero() && !n.After(now) }
	lo, hi := now.Add(-lookback), now // fires(hi) is false: Next is after its argument
	if !fires(lo) {
		return time.Time{}
	}
	for hi.Sub(lo) > time.Nanosecond {
		mid := lo.Add(hi.Sub(lo) / 2)
		if fires(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	// Next(lo) <= now < Next(lo+1ns): Next(lo) is the last firing.
	return sch.Next(lo)
}

// NextBoundary is the first start or end after now; zero when neither
// schedule fires again.
func NextBoundary(start, end interface{ Next(time.Time) time.Time }, now time.Time) time.Time {
	a, b := start.Next(now), end.Next(now)
	switch {
	case a.IsZero():
		return b
	case b.IsZero():
		return a
	case a.Before(b):
		return a
	default:
		return b
	}
}
