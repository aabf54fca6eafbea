package controller

import (
	"container/heap"
	"context"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// Scheduler runs one job per key at the key's due time, on a fixed number of
// workers: a thousand ScaledObjects cost a heap entry each, not a goroutine
// each. A key never runs twice at once. The job returns the delay until its
// next run, or false to stop running the key.
type Scheduler[K comparable] struct {
	job     func(ctx context.Context, key K) (next time.Duration, again bool)
	clock   clock.WithTicker
	workers int

	mu      sync.Mutex
	items   map[K]*schedItem[K]
	queue   schedHeap[K]
	wake    chan struct{}
	started bool
}

type schedItem[K comparable] struct {
	key     K
	due     time.Time
	index   int // in the heap; -1 when not queued
	running bool
	// rerun asks for another run right after the running one, at rerunAt.
	rerun   bool
	rerunAt time.Time
	removed bool
}

// NewScheduler returns a Scheduler running job on workers goroutines.
func NewScheduler[K comparable](clk clock.WithTicker, workers int, job func(ctx context.Context, key K) (time.Duration, bool)) *Scheduler[K] {
	if workers < 1 {
		workers = 1
	}
	return &Scheduler[K]{job: job, clock: clk, workers: workers, items: map[K]*schedItem[K]{}, wake: make(chan struct{}, 1)}
}

// Schedule runs key at at, or sooner if it is already due sooner. A key
// running now runs again once it finishes, at the earlier of at and the time
// its job asks for.
func (s *Scheduler[K]) Schedule(key K, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.items[key]
	if !ok {
		it = &schedItem[K]{key: key, due: at, index: -1}
		s.items[key] = it
		heap.Push(&s.queue, it)
		s.notify()
		return
	}
	it.removed = false
	s.reschedule(it, at)
}

// Wake runs key at once if it is scheduled (a key running now runs again as
// soon as it finishes); a key not scheduled stays so.
func (s *Scheduler[K]) Wake(key K) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if it, ok := s.items[key]; ok && !it.removed {
		s.reschedule(it, s.clock.Now())
	}
}

// reschedule moves a known item's next run to at if that is sooner. Called
// with s.mu held.
func (s *Scheduler[K]) reschedule(it *schedItem[K], at time.Time) {
	switch {
	case it.running:
		if !it.rerun || at.Before(it.rerunAt) {
			it.rerun, it.rerunAt = true, at
		}
	case it.index < 0:
		it.due = at
		heap.Push(&s.queue, it)
		s.notify()
	case at.Before(it.due):
		it.due = at
		heap.Fix(&s.queue, it.index)
		s.notify()
	}
}

// Remove stops running key. A run in progress finishes.
func (s *Scheduler[K]) Remove(key K) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.items[key]
	if !ok {
		return
	}
	if it.index >= 0 {
		heap.Remove(&s.queue, it.index)
	}
	if it.running {
		it.removed = true
		return
	}
	delete(s.items, key)
}

// Len is the number of keys scheduled.
func (s *Scheduler[K]) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.items)
}

func (s *Scheduler[K]) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Start runs the scheduler until ctx ends (a controller-runtime Runnable).
func (s *Scheduler[K]) Start(ctx context.Context) error {
	work := make(chan *schedItem[K])
	var wg sync.WaitGroup
	for i := 0; i < s.workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range work {
				s.runOne(ctx, it)
			}
		}()
	}
	defer func() {
		close(work)
		wg.Wait()
	}()
	for {
		s.mu.Lock()
		var next *schedItem[K]
		var wait time.Duration = -1
		if len(s.queue) > 0 {
			head := s.queue[0]
			if d := head.due.Sub(s.clock.Now()); d <= 0 {
				next = heap.Pop(&s.queue).(*schedItem[K])
				next.running = true
			} else {
				wait = d
			}
		}
		s.mu.Unlock()

		if next != nil {
			select {
			case work <- next:
				continue
			case <-ctx.Done():
				return nil
			}
		}
		var timer clock.Timer
		var fire <-chan time.Time
		if wait >= 0 {
			timer = s.clock.NewTimer(wait)
			fire = timer.C()
		}
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return nil
		case <-s.wake:
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

func (s *Scheduler[K]) runOne(ctx context.Context, it *schedItem[K]) {
	next, again := s.job(ctx, it.key)
	s.mu.Lock()
	defer s.mu.Unlock()
	it.running = false
	if it.removed || (!again && !it.rerun) {
		delete(s.items, it.key)
		return
	}
	it.due = s.clock.Now().Add(next)
	if !again {
		it.due = it.rerunAt
	} else if it.rerun && it.rerunAt.Before(it.due) {
		it.due = it.rerunAt
	}
	it.rerun = false
	heap.Push(&s.queue, it)
	s.notify()
}

type schedHeap[K comparable] []*schedItem[K]

func (h schedHeap[K]) Len() int           { return len(h) }
func (h schedHeap[K]) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h schedHeap[K]) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *schedHeap[K]) Push(x any) {
	it := x.(*schedItem[K])
	it.index = len(*h)
	*h = append(*h, it)
}
func (h *schedHeap[K]) Pop() any {
	old := *h
	n := len(old)
	it := old[n-1]
	old[n-1] = nil
	it.index = -1
	*h = old[:n-1]
	return it
}
