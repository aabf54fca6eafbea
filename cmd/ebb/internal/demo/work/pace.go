// SPDX-License-Identifier: Apache-2.0

package work

import (
	"context"
	"time"
)

// maxStep caps the time one tick may account for: after a stall (a slow
// read, a suspended laptop) the consumer does not take a burst at once.
const maxStep = 2 * time.Second

// Pace consumes at a rate until ctx ends: every tick it asks rate for the
// items per second due now and calls take with the whole items due since the
// last tick. rate says false to skip a tick (it could not tell); a rate of 0
// or less drops what was due. Capacity left idle is not saved up: when take
// takes fewer than asked, nothing waits, and the fraction due is dropped.
// Errors of take go to report, which must not block. Pace calls rate, take
// and report from its own goroutine, one at a time.
func Pace(ctx context.Context, every time.Duration, rate func(context.Context) (float64, bool), take func(ctx context.Context, n int) (int, error), report func(error)) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	last := time.Now()
	budget := 0.0
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			dt := min(now.Sub(last), maxStep).Seconds()
			last = now
			r, ok := rate(ctx)
			if !ok {
				continue
			}
			if r <= 0 {
				budget = 0
				continue
			}
			budget += r * dt
			n := int(budget)
			if n == 0 {
				continue
			}
			took, err := take(ctx, n)
			budget -= float64(took)
			if took < n {
				budget = 0
			}
			if err != nil && ctx.Err() == nil {
				report(err)
			}
		}
	}
}
