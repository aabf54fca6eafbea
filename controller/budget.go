// SPDX-License-Identifier: Apache-2.0

package controller

import (
	"context"
	"errors"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// DefaultReadBudget is how long a poll waits for its triggers' reads
// before it lets them go on in the background and frees its worker.
const DefaultReadBudget = time.Second

// Backoff of failed reads: the first retry after about backoffBase, each
// further failure doubling it, up to the polling interval and backoffMax.
const (
	backoffBase = time.Second
	backoffMax  = 30 * time.Second
)

// ReadBackoff is how long a poll leaves a trigger whose last failures reads
// in a row failed before reading it again: backoffBase doubled per failure
// after the first, capped at the polling interval (and at 30 s, and never
// under backoffBase), of which the upper half is spread by jitter in [0, 1)
// so that triggers failing together do not retry together. Zero failures:
// no wait. A success resets the count, and so the backoff.
//
// At zero replicas this stretches the 1 s activation probe of a source that
// fails (refused, unreachable) to 1, 2, 4 ... 30 s; while the target runs,
// polls come every polling interval anyway, so the count of failures that
// decides a fallback grows as before.
func ReadBackoff(failures int32, interval time.Duration, jitter float64) time.Duration {
	if failures <= 0 {
		return 0
	}
	limit := max(min(interval, backoffMax), backoffBase)
	d := limit
	if failures <= 16 {
		d = min(backoffBase<<(failures-1), limit)
	}
	jitter = min(max(jitter, 0), 1)
	return d/2 + time.Duration(jitter*float64(d/2))
}

// backoff is t's wait after its failures-th failure in a row.
func (t *loopTrigger) backoff(failures int32) time.Duration {
	j := 0.5
	if t.jitter != nil {
		j = t.jitter()
	}
	return ReadBackoff(failures, t.interval, j)
}

// namespaceOf groups the scheduler's keys by namespace, for the fair share
// of poll workers.
func namespaceOf(key types.NamespacedName) string { return key.Namespace }

// pollRead is one trigger's read started by a poll.
type pollRead struct {
	t    *loopTrigger
	done chan struct{}
	s    Sample
	// abandoned says the poll stopped waiting (under t.mu): the read's end
	// records itself.
	abandoned bool
}

// pollTriggers reads o's triggers for a poll, in parallel, and waits at
// most the read budget for them. It skips a trigger that is backing off
// after a failure (ReadBackoff), one whose read is still pending, and one
// whose pending read has just ended (its sample is recorded already). A
// read that outlasts the budget goes on, up to readTimeout, without the
// poll: the trigger is pending (health says what that means), and the
// read's end stores its sample and polls o again. Called with o.mu held.
func (l *ScaleLoop) pollTriggers(ctx context.Context, o *loopObject, probe bool, interval time.Duration) {
	now := l.Clock.Now()
	timeout := readTimeout(interval)
	var reads []*pollRead
	for _, t := range o.triggers {
		t.mu.Lock()
		skip := t.pending || t.late || now.Before(t.retryAt)
		t.late = false
		t.mu.Unlock()
		if skip {
			continue
		}
		r := &pollRead{t: t, done: make(chan struct{})}
		reads = append(reads, r)
		go l.runPollRead(ctx, o, r, probe, timeout)
	}
	if len(reads) == 0 {
		return
	}
	budget := l.Clock.NewTimer(l.ReadBudget)
	defer budget.Stop()
	expired := false
	for _, r := range reads {
		if !expired {
			select {
			case <-r.done:
			case <-budget.C():
				expired = true
			case <-ctx.Done():
				expired = true
			}
		}
		if expired {
			r.t.mu.Lock()
			select {
			case <-r.done:
			default:
				r.abandoned, r.t.pending = true, true
			}
			r.t.mu.Unlock()
			if r.abandoned {
				continue
			}
		}
		l.storeRead(o, r.t, r.s)
	}
}

// runPollRead runs one read of a poll. When the poll has stopped waiting by
// the time it ends, it records the end itself and polls o again.
func (l *ScaleLoop) runPollRead(ctx context.Context, o *loopObject, r *pollRead, probe bool, timeout time.Duration) {
	rctx, cancel := context.WithTimeout(ctx, timeout)
	r.s = r.t.read(rctx, l.Clock, probe)
	cancel()
	close(r.done)
	t := r.t
	t.mu.Lock()
	late := r.abandoned
	if late {
		t.pending, t.late = false, true
	}
	t.mu.Unlock()
	if !late || ctx.Err() != nil || l.object(o.key) != o {
		return
	}
	l.storeRead(o, t, r.s)
	l.sched.Wake(o.key)
}

// storeRead puts a poll's sample in the metric store, unless the object was
// let go during the read.
func (l *ScaleLoop) storeRead(o *loopObject, t *loopTrigger, s Sample) {
	if errors.Is(s.Err, errObjectClosed) {
		return
	}
	l.Store.Put(MetricRef{Namespace: o.key.Namespace, ScaledObject: o.key.Name, Metric: t.spec.Name}, s)
}
