// SPDX-License-Identifier: Apache-2.0

package interceptor

import (
	"sync"
	"time"
)

// window counts events in a ring of buckets and answers the rate over the
// last span. It is safe for concurrent use.
type window struct {
	bucket time.Duration
	start  time.Time // when counting began: no rate spans further back

	mu     sync.Mutex
	counts []int64
	slots  []int64 // the bucket number (time / bucket) each count belongs to
}

func newWindow(size, bucket time.Duration, now time.Time) *window {
	n := int(size / bucket)
	if n < 1 {
		n = 1
	}
	return &window{bucket: bucket, start: now, counts: make([]int64, n), slots: make([]int64, n)}
}

// size is the longest span the window answers for.
func (w *window) size() time.Duration { return time.Duration(len(w.counts)) * w.bucket }

func (w *window) add(now time.Time) {
	slot := now.UnixNano() / int64(w.bucket)
	i := int(slot % int64(len(w.counts)))
	w.mu.Lock()
	if w.slots[i] != slot {
		w.slots[i], w.counts[i] = slot, 0
	}
	w.counts[i]++
	w.mu.Unlock()
}

// rate is the events per second over the last span (at most the window's
// size, at least one bucket), ending now. The current bucket counts for the
// part of it that has passed; a window younger than span divides by its
// age.
func (w *window) rate(now time.Time, span time.Duration) float64 {
	k := int64(span / w.bucket)
	if k < 1 {
		k = 1
	}
	if k > int64(len(w.counts)) {
		k = int64(len(w.counts))
	}
	slot := now.UnixNano() / int64(w.bucket)
	var sum int64
	w.mu.Lock()
	for i, s := range w.slots {
		if s > slot-k && s <= slot {
			sum += w.counts[i]
		}
	}
	w.mu.Unlock()
	elapsed := time.Duration(k-1)*w.bucket + time.Duration(now.UnixNano()-slot*int64(w.bucket))
	if age := now.Sub(w.start); age < elapsed {
		elapsed = age
	}
	if elapsed < w.bucket/10 {
		elapsed = w.bucket / 10
	}
	return float64(sum) / elapsed.Seconds()
}
