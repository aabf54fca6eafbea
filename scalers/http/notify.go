// SPDX-License-Identifier: Apache-2.0

package http

import (
	"context"
	"errors"
	"fmt"
	"io"
	nethttp "net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/http/interceptor"
)

// Push activation: one watcher per interceptor (admin URL and token) long-
// polls its GET /v1/activations and wakes the triggers whose route
// signalled. The triggers on one interceptor share it; it runs while at
// least one of them is subscribed.

// activationWait is how long one long poll asks the interceptor to wait.
const activationWait = 25 * time.Second

// Back-off between failed long polls.
const (
	minRetry = time.Second
	maxRetry = 30 * time.Second
)

var _ scalers.Notifier = (*probingScaler)(nil)

// Notify subscribes wake to the signals of the trigger's route: the
// interceptor signals when the route's first request is held.
func (s *probingScaler) Notify(wake func()) (stop func()) {
	return s.typ.subscribe(s.set.base, s.key, s.set.cfg.Route, wake)
}

// watchKey identifies an interceptor and the token to read it with.
type watchKey struct {
	base string
	clientKey
}

// watcher long-polls one interceptor for activations: every replica of
// it when the admin URL's host resolves to several addresses, so that a
// request held by any of them wakes the triggers at once.
type watcher struct {
	base   string // the admin URL, without a trailing /
	lease  *scalers.Lease[clientKey, *nethttp.Client]
	token  string
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	subs map[string]map[*func()]struct{} // route → wakes
	n    int
	// polls counts the long polls answered, by every replica (for tests).
	polls int
	// polled counts them per replica address ("" for the URL as written;
	// for tests).
	polled map[string]int
	// polling is the replica addresses long-polled now, sorted (for tests).
	polling []string
	// panicked is a panic recovered in a long poll (decoding the
	// interceptor's answer, say), until a Read or Probe of one of the
	// triggers on the interceptor reports it as its error.
	panicked *scalers.PanicError
}

// subscribe adds wake for route to the interceptor's watcher, starting it
// if it is the first.
func (t *Type) subscribe(base string, ck clientKey, route string, wake func()) (stop func()) {
	key := watchKey{base: base, clientKey: ck}
	t.watchMu.Lock()
	if t.watchers == nil {
		t.watchers = map[watchKey]*watcher{}
	}
	w := t.watchers[key]
	if w == nil {
		ctx, cancel := context.WithCancel(context.Background())
		w = &watcher{base: base, lease: t.clients.Acquire(ck), token: ck.bearerToken,
			cancel: cancel, done: make(chan struct{}), subs: map[string]map[*func()]struct{}{}, polled: map[string]int{}}
		t.watchers[key] = w
		go w.run(ctx, t.resolver, t.reresolve, t.retryMin)
	}
	p := &wake
	w.mu.Lock()
	if w.subs[route] == nil {
		w.subs[route] = map[*func()]struct{}{}
	}
	w.subs[route][p] = struct{}{}
	w.n++
	w.mu.Unlock()
	t.watchMu.Unlock()

	var once sync.Once
	return func() {
		once.Do(func() {
			t.watchMu.Lock()
			defer t.watchMu.Unlock()
			w.mu.Lock()
			delete(w.subs[route], p)
			if len(w.subs[route]) == 0 {
				delete(w.subs, route)
			}
			w.n--
			last := w.n == 0
			w.mu.Unlock()
			if last {
				delete(t.watchers, key)
				w.cancel()
			}
		})
	}
}

// watcherPanic returns (once) a panic recovered in the long polls of the
// watcher of an interceptor, nil when there was none.
func (t *Type) watcherPanic(base string, ck clientKey) error {
	t.watchMu.Lock()
	w := t.watchers[watchKey{base: base, clientKey: ck}]
	t.watchMu.Unlock()
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	pe := w.panicked
	w.panicked = nil
	if pe == nil {
		return nil
	}
	return fmt.Errorf("watching the interceptor's activations: %w", pe)
}

// activationWatchers is the number of interceptors watched now (for tests).
func (t *Type) activationWatchers() int {
	t.watchMu.Lock()
	defer t.watchMu.Unlock()
	return len(t.watchers)
}

// run keeps one long poll per replica of the interceptor until ctx ends.
// It looks the admin URL's host up every reresolve, and when a poll ends,
// starting a poll for each new address and stopping those of addresses
// gone. A host it cannot look up keeps the polls it has (or, with none,
// polls the URL as written).
func (w *watcher) run(ctx context.Context, res *resolver, reresolve, retryMin time.Duration) {
	defer close(w.done)
	defer w.lease.Release()
	type running struct {
		cancel context.CancelFunc
		done   chan struct{}
	}
	polls := map[string]running{} // replica address ("" for the URL as written) → its poll
	ended := make(chan struct{}, 1)
	defer func() {
		for _, p := range polls {
			p.cancel()
		}
		for _, p := range polls {
			<-p.done
		}
	}()
	ticker := time.NewTicker(reresolve)
	defer ticker.Stop()
	for {
		want := map[string]replica{}
		var reps []replica
		err := scalers.Guard(func() error {
			var err error
			reps, err = wantReplicas(ctx, res, w.base)
			return err
		})
		switch {
		case err == nil:
			for _, r := range reps {
				want[r.addr] = r
			}
		case len(polls) == 0:
			want[""] = replica{url: w.base}
		default:
			for addr := range polls {
				want[addr] = replica{}
			}
		}
		for addr, p := range polls {
			if _, ok := want[addr]; !ok {
				p.cancel()
				<-p.done
				delete(polls, addr)
			}
		}
		for addr, r := range want {
			if _, ok := polls[addr]; ok {
				continue
			}
			pctx, cancel := context.WithCancel(ctx)
			p := running{cancel: cancel, done: make(chan struct{})}
			polls[addr] = p
			go func() {
				defer close(p.done)
				w.pollReplica(pctx, r, retryMin, ended)
			}()
		}
		addrs := make([]string, 0, len(polls))
		for addr := range polls {
			addrs = append(addrs, addr)
		}
		slices.Sort(addrs)
		w.mu.Lock()
		w.polling = addrs
		w.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-ended:
		}
	}
}

// wantReplicas is the replicas of the admin URL base.
func wantReplicas(ctx context.Context, res *resolver, base string) ([]replica, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return res.replicas(ctx, base)
}

// pollReplica long-polls one replica until ctx ends. A failure waits
// retryMin, doubling up to maxRetry; meanwhile the scale loop's probes still
// activate. Each answer (or failure) tells run, through ended, to look the
// host up again.
func (w *watcher) pollReplica(ctx context.Context, r replica, retryMin time.Duration, ended chan<- struct{}) {
	var epoch string
	var seq uint64
	retry := retryMin
	for ctx.Err() == nil {
		// A panic fails this poll, like any failure (a retry after the
		// back-off), and the next read of a trigger on the interceptor
		// reports it.
		var a interceptor.Activations
		err := scalers.Guard(func() error {
			var err error
			a, err = w.poll(ctx, r, epoch, seq)
			return err
		})
		var pe *scalers.PanicError
		if errors.As(err, &pe) {
			w.mu.Lock()
			w.panicked = pe
			w.mu.Unlock()
		}
		select {
		case ended <- struct{}{}:
		default:
		}
		if err != nil {
			timer := time.NewTimer(retry)
			select {
			case <-timer.C:
			case <-ctx.Done():
				timer.Stop()
				return
			}
			retry = min(2*retry, maxRetry)
			continue
		}
		retry = retryMin
		epoch, seq = a.Epoch, a.Seq
		w.wake(a.Routes)
	}
}

// poll is one GET /v1/activations.
func (w *watcher) poll(ctx context.Context, r replica, epoch string, since uint64) (interceptor.Activations, error) {
	var a interceptor.Activations
	ctx, cancel := context.WithTimeout(ctx, activationWait+15*time.Second)
	defer cancel()
	client, err := w.lease.Get(ctx)
	if err != nil {
		return a, err
	}
	q := url.Values{"epoch": {epoch}, "since": {strconv.FormatUint(since, 10)}, "wait": {activationWait.String()}}
	req, err := nethttp.NewRequestWithContext(ctx, nethttp.MethodGet, strings.TrimSuffix(r.url, "/")+"/v1/activations?"+q.Encode(), nil)
	if err != nil {
		return a, err
	}
	if r.host != "" {
		req.Host = r.host
		// The egress policy checks the name the replica was looked up for.
		req = req.WithContext(scalers.WithEgressName(req.Context(), hostName(r.host)))
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "ebb-http-scaler")
	req.Header.Set("Authorization", "Bearer "+w.token)
	resp, err := client.Do(req)
	if err != nil {
		return a, scalers.StripURL(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != nethttp.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return a, fmt.Errorf("the interceptor answered HTTP %d %s", resp.StatusCode, nethttp.StatusText(resp.StatusCode))
	}
	if err := scalers.ReadJSON(resp.Body, activationsLimits, &a); err != nil {
		return a, err
	}
	if a.Epoch == "" {
		return a, errors.New("the interceptor's answer has no epoch")
	}
	w.mu.Lock()
	w.polls++
	w.polled[r.addr]++
	w.mu.Unlock()
	return a, nil
}

// wake calls the wakes of the routes, outside the lock.
func (w *watcher) wake(routes []string) {
	var wakes []func()
	w.mu.Lock()
	for _, r := range routes {
		for p := range w.subs[r] {
			wakes = append(wakes, *p)
		}
	}
	w.mu.Unlock()
	for _, f := range wakes {
		f()
	}
}
