// SPDX-License-Identifier: Apache-2.0

package controller

import (
	"container/heap"
	"context"
	"slices"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// Scheduler runs one job per key at the key's due time, on a fixed number of
// workers: a thousand ScaledObjects cost a heap entry each, not a goroutine
// each. A key never runs twice at once. The job returns the delay until its
// next run, or false to stop running the key.
//
// Keys may be put in groups (GroupBy; the loops group by namespace). While
// more than one group has work (a job running or a key due), no group runs
// more than its share of the workers at once, max(1, workers / such
// groups): a namespace whose sources hang cannot hold every worker while
// another namespace's keys wait. Due keys of a group at its share wait in
// that group's line, and the groups with a line are served in turn as
// workers free up.
// With one group (the default) every worker serves it.
type Scheduler[K comparable] struct {
	job     func(ctx context.Context, key K) (next time.Duration, again bool)
	clock   clock.WithTicker
	workers int
	groupOf func(K) string

	mu     sync.Mutex
	items  map[K]*schedItem[K]
	queue  schedHeap[K]
	groups map[string]*schedGroup[K]
	// waiting are the groups with due keys held back, served in turn from
	// turn on.
	waiting []*schedGroup[K]
	turn    int
	// active counts the groups with a job running or a due key held back.
	active  int
	free    int // idle workers
	wake    chan struct{}
	started bool
}

type schedItem[K comparable] struct {
	key     K
	group   *schedGroup[K]
	due     time.Time
	index   int  // in the heap; -1 when not queued
	held    bool // due, waiting in its group for a worker
	running bool
	// rerun asks for another run right after the running one, at rerunAt.
	rerun   bool
	rerunAt time.Time
	removed bool
}

type schedGroup[K comparable] struct {
	name    string
	keys    int // items of the group the scheduler holds
	running int
	held    []*schedItem[K] // due, in the order they fell due
}

func (g *schedGroup[K]) busy() bool { return g.running > 0 || len(g.held) > 0 }

// NewScheduler returns a Scheduler running job on workers goroutines.
func NewScheduler[K comparable](clk clock.WithTicker, workers int, job func(ctx context.Context, key K) (time.Duration, bool)) *Scheduler[K] {
	if workers < 1 {
		workers = 1
	}
	return &Scheduler[K]{job: job, clock: clk, workers: workers, free: workers, items: map[K]*schedItem[K]{},
		groups: map[string]*schedGroup[K]{}, wake: make(chan struct{}, 1)}
}

// GroupBy sets the group of every key, for the fair share of workers (see
// Scheduler). Call it before the first Schedule.
func (s *Scheduler[K]) GroupBy(group func(K) string) *Scheduler[K] {
	s.groupOf = group
	return s
}

// Share is the number of workers one group may hold when active groups have
// work: max(1, workers / active). Pure, for tests and docs.
func Share(workers, active int) int {
	if active < 1 {
		active = 1
	}
	return max(1, workers/active)
}

// Schedule runs key at at, or sooner if it is already due sooner. A key
// running now runs again once it finishes, at the earlier of at and the time
// its job asks for.
func (s *Scheduler[K]) Schedule(key K, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.items[key]
	if !ok {
		it = &schedItem[K]{key: key, due: at, index: -1, group: s.group(key)}
		it.group.keys++
		s.items[key] = it
		heap.Push(&s.queue, it)
		s.notify()
		return
	}
	it.removed = false
	s.reschedule(it, at)
}

// group returns key's group, made on first use. Called with s.mu held.
func (s *Scheduler[K]) group(key K) *schedGroup[K] {
	name := ""
	if s.groupOf != nil {
		name = s.groupOf(key)
	}
	g, ok := s.groups[name]
	if !ok {
		g = &schedGroup[K]{name: name}
		s.groups[name] = g
	}
	return g
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
	case it.held:
		// Due already; it runs when its group's turn comes.
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
	if it.held {
		s.unhold(it)
	}
	if it.running {
		it.removed = true
		return
	}
	s.drop(it)
}

// drop forgets an item that neither runs nor waits. Called with s.mu held.
func (s *Scheduler[K]) drop(it *schedItem[K]) {
	delete(s.items, it.key)
	g := it.group
	g.keys--
	if g.keys == 0 && !g.busy() {
		delete(s.groups, g.name)
	}
}

// unhold takes a held item out of its group's line. Called with s.mu held.
func (s *Scheduler[K]) unhold(it *schedItem[K]) {
	g := it.group
	g.held = slices.DeleteFunc(g.held, func(h *schedItem[K]) bool { return h == it })
	it.held = false
	if len(g.held) == 0 {
		if j := slices.Index(s.waiting, g); j >= 0 {
			s.waiting = slices.Delete(s.waiting, j, j+1)
			if s.turn > j {
				s.turn--
			}
		}
	}
	if !g.busy() {
		s.active--
	}
	s.notify()
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

// next picks the item to run now, if a worker is free: every due item
// joins its group's line first, then the groups with a line are served in
// turn, each while under its share. It returns the wait until the next item
// falls due, or -1 to wait for a wake. Called with s.mu held.
func (s *Scheduler[K]) next(now time.Time) (*schedItem[K], time.Duration) {
	if s.free == 0 {
		return nil, -1
	}
	for len(s.queue) > 0 && !s.queue[0].due.After(now) {
		s.hold(heap.Pop(&s.queue).(*schedItem[K]))
	}
	share := Share(s.workers, s.active)
	for i := 0; i < len(s.waiting); i++ {
		j := (s.turn + i) % len(s.waiting)
		g := s.waiting[j]
		if g.running >= share {
			continue
		}
		it := g.held[0]
		g.held[0] = nil
		g.held = g.held[1:]
		it.held = false
		if len(g.held) == 0 {
			s.waiting = slices.Delete(s.waiting, j, j+1)
			s.turn = j
		} else {
			s.turn = j + 1
		}
		return it, 0
	}
	if len(s.queue) > 0 {
		return nil, s.queue[0].due.Sub(now)
	}
	return nil, -1
}

// hold puts a due item in its group's line. Called with s.mu held.
func (s *Scheduler[K]) hold(it *schedItem[K]) {
	g := it.group
	if !g.busy() {
		s.active++
	}
	if len(g.held) == 0 {
		s.waiting = append(s.waiting, g)
	}
	g.held = append(g.held, it)
	it.held = true
}

// start marks it, just taken from its group's line, running on a worker.
// Called with s.mu held.
func (s *Scheduler[K]) start(it *schedItem[K]) {
	g := it.group
	g.running++
	s.free--
	it.running = true
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
		next, wait := s.next(s.clock.Now())
		if next != nil {
			s.start(next)
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
	defer s.notify()
	it.running = false
	s.free++
	g := it.group
	g.running--
	if !g.busy() {
		s.active--
	}
	if it.removed || (!again && !it.rerun) {
		s.drop(it)
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
