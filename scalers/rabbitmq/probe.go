// SPDX-License-Identifier: Apache-2.0

package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ebbscale/ebb/scalers"
)

// Activation probes. While a target rests at zero replicas the scale loop
// calls Probe every activation probe interval (1 s by default) for each of its
// triggers. A trigger that reads one queue through the management API is
// answered from a batch: one management API request for every probed queue of
// its vhost (same API, same credentials), shared by all the probes that arrive
// while it runs and served to later ones while it is younger than maxAge.
//
// What one batch asks for depends on how many queues are being probed in the
// vhost (the interest: queues probed within the last interestTTL):
//
//   - one queue: GET /api/queues/<vhost>/<queue>, the request a Read makes;
//   - up to maxFiltered queues: one page of the vhost's queues filtered by an
//     exact-match regular expression over their names, so that the broker
//     gathers statistics for those queues only;
//   - more: every queue of the vhost in one listing.
//
// Listing a whole vhost costs the broker time in proportion to the queues it
// holds (about 0.7 s for 3,000 queues on a loaded two-core machine, against
// 10 ms for one queue), and a name filter costs time in proportion to its
// length times the queues it scans; so a few idle triggers in a big vhost ask
// for their queues alone, and many ask for the whole vhost, once.
//
// Probes of triggers that cannot be batched fall back to Read: AMQP hosts
// (AMQP has no way to ask for many queues at once, and the management API of
// an AMQP host is not known: guessing its address and sending the AMQP
// credentials there, possibly over plain HTTP when the user chose amqps, is
// not safe; a passive queue.declare on the shared connection is also far
// cheaper for the broker than a management API request, and exact rather
// than up to 5 s old), regular expressions and MessageRate.

// Batch settings; a Type's batcher starts with these, tests change them.
const (
	// defaultMaxAge is how old a batch result may be and still answer a
	// probe.
	defaultMaxAge = 500 * time.Millisecond
	// defaultInterestTTL is how long a queue stays in its vhost's batches
	// after its last probe.
	defaultInterestTTL = time.Minute
	// defaultMaxFiltered is the most queues a batch asks for by name; beyond
	// it a batch lists the whole vhost.
	defaultMaxFiltered = 16
	// maxFilterBytes bounds the name filter in the request URL (the broker
	// refuses request lines much above 8 KB, and proxies in front of it may
	// refuse less).
	maxFilterBytes = 4096
	// maxPageSize is the largest page the management API serves.
	maxPageSize = 500
	// defaultMaxBatchTimeout bounds a batch whatever the triggers' timeouts: the
	// probes of a vhost wait for the batch in flight, so a long one would
	// keep them failing after the broker is back. (A Read still gets the
	// trigger's whole timeout.)
	defaultMaxBatchTimeout = 30 * time.Second
)

// batcher merges the probes of a Type's batchable triggers into one
// management API request per vhost. Its one lock guards all of its state.
type batcher struct {
	typ *Type
	// now is the clock; injected so that tests can age results and
	// interest.
	now         func() time.Time
	maxAge      time.Duration
	interestTTL time.Duration
	maxFiltered int
	maxTimeout  time.Duration

	mu      sync.Mutex
	vhosts  map[Vhost]*vhostBatches
	sweptAt time.Time
}

// vhostBatches is one vhost's state, guarded by batcher.mu.
type vhostBatches struct {
	interest map[string]interest // queue name → its latest probe
	last     *batchResult        // the latest batch to end; nil before
	running  *batchCall          // the batch in flight; nil when none
}

type interest struct {
	seen    time.Time
	timeout time.Duration // the probing trigger's timeout
}

// batchCall is one batch in flight. res is set before done closes and not
// changed after.
type batchCall struct {
	names map[string]struct{} // the queues it asks for; nil: all of them
	done  chan struct{}
	res   *batchResult
}

// batchResult is what a batch found; it is not changed once published.
type batchResult struct {
	at time.Time // when the batch started: its data is at least this fresh
	// depths holds the queues found among those the result answers for.
	depths map[string]QueueDepth
	// answers are the queues the result answers for: a queue in answers and
	// not in depths does not exist.
	answers map[string]struct{}
	// err, when set, is why the batch failed; it answers every queue.
	err error
}

func (r *batchResult) covers(queue string) bool {
	if r.err != nil {
		return true
	}
	_, ok := r.answers[queue]
	return ok
}

func (c *batchCall) covers(queue string) bool {
	if c.names == nil {
		return true
	}
	_, ok := c.names[queue]
	return ok
}

func newBatcher(t *Type) *batcher {
	return &batcher{
		typ:         t,
		now:         time.Now,
		maxAge:      defaultMaxAge,
		interestTTL: defaultInterestTTL,
		maxFiltered: defaultMaxFiltered,
		maxTimeout:  defaultMaxBatchTimeout,
		vhosts:      map[Vhost]*vhostBatches{},
	}
}

// Probe returns what Read would, for the scale loop's frequent activation
// checks of an idle target. A trigger that reads one queue through the
// management API is answered from a batch shared with every other probed
// queue of its vhost (see the package's batching notes above); any other
// trigger is Read. Probe is safe for concurrent use and gives up at ctx's
// deadline or after the trigger's timeout, whichever comes first; a probe
// that gives up does not stop the batch the others wait for.
func (s *scaler) Probe(ctx context.Context) (scalers.Reading, error) {
	if s.batch == nil {
		return s.Read(ctx)
	}
	if s.closed.Load() {
		return scalers.Reading{}, errors.New("rabbitmq scaler is closed")
	}
	ctx, cancel := context.WithTimeout(ctx, s.plan.timeout)
	defer cancel()
	v, err := s.typ.probes.value(ctx, *s.batch, s.plan.timeout)
	if err != nil {
		return scalers.Reading{}, scalers.Redact(err, s.secrets...)
	}
	return scalers.Reading{Value: v, Active: scalers.IsActive(v, s.plan.activation)}, nil
}

// value is p's queue's value from a batch of its vhost: a result younger than
// maxAge that answers for the queue, the batch in flight when it asks for the
// queue, or a new batch.
func (b *batcher) value(ctx context.Context, p Probe, timeout time.Duration) (float64, error) {
	for {
		b.mu.Lock()
		now := b.now()
		b.sweep(now)
		vb := b.vhosts[p.Vhost]
		if vb == nil {
			vb = &vhostBatches{interest: map[string]interest{}}
			b.vhosts[p.Vhost] = vb
		}
		in, ok := vb.interest[p.Queue]
		if !ok || now.Sub(in.seen) >= b.interestTTL || timeout > in.timeout {
			in.timeout = timeout
		}
		in.seen = now
		vb.interest[p.Queue] = in
		if r := vb.last; r != nil && now.Sub(r.at) < b.maxAge && r.covers(p.Queue) {
			b.mu.Unlock()
			return p.answer(r)
		}
		c := vb.running
		if c == nil {
			c = b.start(ctx, p.Vhost, vb, now)
		}
		b.mu.Unlock()
		// When c does not ask for this queue, wait for it to end: the next
		// batch will ask for every queue probed by then.
		select {
		case <-c.done:
		case <-ctx.Done():
			return 0, fmt.Errorf("probing queue %q in %s: %w", p.Queue, p.Vhost, ctx.Err())
		}
		if c.res.covers(p.Queue) {
			return p.answer(c.res)
		}
	}
}

// answer is p's value in r.
func (p Probe) answer(r *batchResult) (float64, error) {
	if r.err != nil {
		return 0, fmt.Errorf("probing queue %q in %s: %w", p.Queue, p.Vhost, r.err)
	}
	return p.Value(r.depths)
}

// start begins a batch for vb's interest, forgetting queues not probed within
// interestTTL. b.mu is held. The batch runs on its own goroutine with a
// context detached from the caller that starts it (keeping its values), so
// that this caller giving up does not fail the probes that joined; it ends by
// the longest timeout of the triggers probing the vhost, at most maxTimeout.
// A vhost has at most one batch in flight.
func (b *batcher) start(ctx context.Context, v Vhost, vb *vhostBatches, now time.Time) *batchCall {
	var timeout time.Duration
	for q, in := range vb.interest {
		if now.Sub(in.seen) >= b.interestTTL {
			delete(vb.interest, q)
			continue
		}
		timeout = max(timeout, in.timeout)
	}
	if timeout <= 0 { // no interest left: cannot happen, as the caller just probed
		timeout = defaultTimeout
	}
	c := &batchCall{done: make(chan struct{})}
	var filter string
	if len(vb.interest) <= b.maxFiltered {
		names := make([]string, 0, len(vb.interest))
		for q := range vb.interest {
			names = append(names, q)
		}
		var ok bool
		if filter, ok = nameFilter(names); ok || len(names) == 1 {
			c.names = make(map[string]struct{}, len(names))
			for _, q := range names {
				c.names[q] = struct{}{}
			}
		}
	}
	vb.running = c
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(timeout, b.maxTimeout))
	go func() {
		defer cancel()
		// A panic fails the batch (every probe waiting on it gets a
		// *scalers.PanicError) instead of the process, and the vhost's
		// next batch starts as usual.
		var depths map[string]QueueDepth
		err := scalers.Guard(func() error {
			var err error
			depths, err = b.fetch(bctx, v, c.names, filter)
			return err
		})
		res := &batchResult{at: now, depths: depths, answers: c.names, err: err}
		b.mu.Lock()
		if err == nil && c.names == nil {
			// Keep only the probed queues of a whole-vhost listing.
			res.depths = make(map[string]QueueDepth, len(vb.interest))
			res.answers = make(map[string]struct{}, len(vb.interest))
			for q := range vb.interest {
				res.answers[q] = struct{}{}
				if d, ok := depths[q]; ok {
					res.depths[q] = d
				}
			}
		}
		c.res = res
		vb.last, vb.running = res, nil
		b.mu.Unlock()
		close(c.done)
	}()
	return c
}

// sweep forgets, once per interestTTL, the queues not probed within it, and
// the vhosts left without any. b.mu is held.
func (b *batcher) sweep(now time.Time) {
	if now.Sub(b.sweptAt) < b.interestTTL {
		return
	}
	b.sweptAt = now
	for v, vb := range b.vhosts {
		for q, in := range vb.interest {
			if now.Sub(in.seen) >= b.interestTTL {
				delete(vb.interest, q)
			}
		}
		if len(vb.interest) == 0 && vb.running == nil {
			delete(b.vhosts, v)
		}
	}
}

// fetch asks the management API for the queues named (all of the vhost's when
// names is nil; filter is their name filter when there are several) and
// returns the counts of those that exist. Its errors carry no URL: the caller
// says what failed.
func (b *batcher) fetch(ctx context.Context, v Vhost, names map[string]struct{}, filter string) (map[string]QueueDepth, error) {
	lease := b.typ.httpPool.Acquire(v.key)
	defer lease.Release()
	c, err := lease.Get(ctx)
	if err != nil {
		return nil, err
	}
	b.typ.queries.Add(1)
	switch {
	case names == nil:
		return listQueues(ctx, c, v)
	case len(names) == 1:
		for q := range names {
			return readQueue(ctx, c, v, q)
		}
	}
	return listNamed(ctx, c, v, filter)
}

// depthColumns are the columns a batch asks for.
const depthColumns = "name,messages,messages_ready"

func depthOf(q queueStats) QueueDepth {
	if q.Messages == nil || q.MessagesReady == nil {
		return QueueDepth{}
	}
	return QueueDepth{Messages: *q.Messages, Ready: *q.MessagesReady, Reported: true}
}

// listQueues reads every queue of the vhost in one request.
func listQueues(ctx context.Context, c *httpClient, v Vhost) (map[string]QueueDepth, error) {
	var queues []queueStats
	if err := c.get(ctx, "/api/queues/"+url.PathEscape(v.vhost)+"?columns="+depthColumns, &queues); err != nil {
		return nil, vhostError(err)
	}
	out := make(map[string]QueueDepth, len(queues))
	for _, q := range queues {
		out[q.Name] = depthOf(q)
	}
	return out, nil
}

// readQueue reads one queue; a missing queue is left out of the answer.
func readQueue(ctx context.Context, c *httpClient, v Vhost, queue string) (map[string]QueueDepth, error) {
	var q queueStats
	err := c.get(ctx, "/api/queues/"+url.PathEscape(v.vhost)+"/"+url.PathEscape(queue)+"?columns="+depthColumns, &q)
	if se, ok := err.(*statusError); ok && se.code == http.StatusNotFound {
		if nf := c.notFound(ctx, v.vhost); errors.Is(nf, ErrVhostNotFound) {
			return nil, nf
		}
		return map[string]QueueDepth{}, nil
	}
	if err != nil {
		return nil, scalers.StripURL(err)
	}
	return map[string]QueueDepth{queue: depthOf(q)}, nil
}

// listNamed reads the queues whose names match filter, page by page (the
// filter matches exact names, so there is one page unless it asks for more
// queues than a page holds).
func listNamed(ctx context.Context, c *httpClient, v Vhost, filter string) (map[string]QueueDepth, error) {
	q := url.Values{}
	q.Set("name", filter)
	q.Set("use_regex", "true")
	q.Set("page_size", strconv.Itoa(maxPageSize))
	q.Set("columns", depthColumns)
	out := map[string]QueueDepth{}
	for page := 1; ; page++ {
		q.Set("page", strconv.Itoa(page))
		var pg queuePage
		if err := c.get(ctx, "/api/queues/"+url.PathEscape(v.vhost)+"?"+q.Encode(), &pg); err != nil {
			return nil, vhostError(err)
		}
		for _, item := range pg.Items {
			out[item.Name] = depthOf(item)
		}
		if page >= pg.PageCount {
			return out, nil
		}
		if page >= maxPages {
			return nil, fmt.Errorf("the management API announced %d pages: %w", pg.PageCount, &scalers.TooLargeError{What: "pages", Limit: maxPages})
		}
	}
}

// vhostError reads a 404 on a vhost's queue listing as a missing vhost.
func vhostError(err error) error {
	if se, ok := err.(*statusError); ok && se.code == http.StatusNotFound {
		return ErrVhostNotFound
	}
	return scalers.StripURL(err)
}

// nameFilter is a regular expression (PCRE, as the broker evaluates it) that
// matches exactly the given queue names, case-sensitively. ok is false when a
// name holds a byte outside printable ASCII, or the filter would not fit in a
// request URL; the batch then lists the whole vhost.
func nameFilter(names []string) (filter string, ok bool) {
	names = append([]string(nil), names...)
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("^(?-i)(?:")
	for i, n := range names {
		if i > 0 {
			b.WriteByte('|')
		}
		for j := 0; j < len(n); j++ {
			ch := n[j]
			if ch < 0x20 || ch >= 0x7f {
				return "", false
			}
			if strings.IndexByte(`\^$.|?*+()[]{}#`, ch) >= 0 {
				b.WriteByte('\\')
			}
			b.WriteByte(ch)
		}
	}
	b.WriteString(")$")
	filter = b.String()
	if len(url.QueryEscape(filter)) > maxFilterBytes {
		return "", false
	}
	return filter, true
}
