// SPDX-License-Identifier: Apache-2.0

package sqlscaler

import (
	"context"
	"errors"

	"github.com/ebbscale/ebb/scalers"
)

// maxJoins bounds how many times Read starts over after joining a run whose
// leader's context ended.
const maxJoins = 3

// Read returns fn's value through c under key: while a run for key is in
// flight, Read waits for its result instead of querying again.
//
// The Coalescer runs fn with the context of the caller that started the run.
// When that caller's context ends first (it was cancelled, or its timeout was
// shorter), the run fails for a reason that does not concern the callers who
// joined it; they start over, so a caller gets a context error only when its
// own context has ended.
func Read(ctx context.Context, c *scalers.Coalescer[float64], key string, fn func(ctx context.Context) (float64, error)) (float64, error) {
	for attempt := 0; ; attempt++ {
		led := false
		v, err := c.Do(ctx, key, func(runCtx context.Context) (float64, error) {
			led = true
			v, err := fn(runCtx)
			if err != nil && runCtx.Err() != nil {
				err = &leaderEnded{err}
			}
			return v, err
		})
		var ended *leaderEnded
		if err == nil || !errors.As(err, &ended) {
			return v, err
		}
		if led || ctx.Err() != nil || attempt >= maxJoins {
			return v, ended.err
		}
	}
}

// leaderEnded marks a run's error as caused by the end of the context of the
// caller that started it.
type leaderEnded struct{ err error }

func (e *leaderEnded) Error() string { return e.err.Error() }
func (e *leaderEnded) Unwrap() error { return e.err }
