// SPDX-License-Identifier: Apache-2.0

package controller

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
)

// objectSet is a loop's objects by key, under one lock: the ScaleLoop's
// ScaledObjects and the JobLoop's ScaledJobs. The loop owns each object's
// scalers and closes an object when it replaces or removes it.
type objectSet[O interface{ close() }] struct {
	mu      sync.RWMutex
	objects map[types.NamespacedName]O
}

// get returns key's object, or the zero O (nil) when there is none.
func (s *objectSet[O]) get(key types.NamespacedName) O {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.objects[key]
}

// has says whether the set holds key.
func (s *objectSet[O]) has(key types.NamespacedName) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.objects[key]
	return ok
}

// put stores o under key and returns the object it replaces, if any; the
// caller closes that one.
func (s *objectSet[O]) put(key types.NamespacedName, o O) (old O, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.objects == nil {
		s.objects = map[types.NamespacedName]O{}
	}
	old, ok = s.objects[key]
	s.objects[key] = o
	return old, ok
}

// remove drops key and returns its object, if any; the caller closes it.
func (s *objectSet[O]) remove(key types.NamespacedName) (old O, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok = s.objects[key]
	delete(s.objects, key)
	return old, ok
}

// closeAll empties the set and closes every object, outside the lock.
func (s *objectSet[O]) closeAll() {
	s.mu.Lock()
	objs := s.objects
	s.objects = map[types.NamespacedName]O{}
	s.mu.Unlock()
	for _, o := range objs {
		o.close()
	}
}

// carryReadings gives each new trigger the last sample of the old trigger of
// the same name and type, so a spec change does not forget health, and
// returns the later of the two last-active times. The caller holds both
// objects' locks: the new object is published already, so a poll or an
// adapter read may reach it meanwhile.
func carryReadings(nts, ots []*loopTrigger, newAct, oldAct *time.Time) *time.Time {
	for _, nt := range nts {
		for _, ot := range ots {
			if ot.name == nt.name && ot.typ == nt.typ {
				last := ot.lastSample()
				nt.mu.Lock()
				nt.last = last
				nt.mu.Unlock()
			}
		}
	}
	if oldAct != nil && (newAct == nil || oldAct.After(*newAct)) {
		return oldAct
	}
	return newAct
}

// readTimeout is how long one read of a trigger may take: the polling
// interval clamped to 5-30 seconds.
func readTimeout(interval time.Duration) time.Duration {
	return min(max(interval, 5*time.Second), 30*time.Second)
}

// readTriggers reads every trigger once, in parallel (a slow source must not
// delay the others), within readTimeout,
// and hands each sample to done (which may be nil) from the reading
// goroutine.
func readTriggers(ctx context.Context, clk clock.Clock, ts []*loopTrigger, probe bool, interval time.Duration, done func(*loopTrigger, Sample)) {
	rctx, cancel := context.WithTimeout(ctx, readTimeout(interval))
	defer cancel()
	var wg sync.WaitGroup
	for _, t := range ts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := t.read(rctx, clk, probe)
			if done != nil {
				done(t, s)
			}
		}()
	}
	wg.Wait()
}

// failing says whether a trigger's last read failed.
func failing(ts []*loopTrigger) bool {
	for _, t := range ts {
		if t.lastSample().Err != nil {
			return true
		}
	}
	return false
}

// setAuthErrors sets (or, for a nil error, clears) each trigger's auth
// error. errs is in the triggers' order.
func setAuthErrors(ts []*loopTrigger, errs []error) {
	for i, t := range ts {
		if i < len(errs) && errs[i] != nil {
			err := errs[i]
			t.authErr.Store(&err)
		} else {
			t.authErr.Store(nil)
		}
	}
}
