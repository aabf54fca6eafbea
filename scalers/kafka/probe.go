// SPDX-License-Identifier: Apache-2.0

package kafka

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ebbscale/ebb/scalers"
)

// Activation probes.
//
// While a target rests at zero replicas the scale loop probes its triggers
// every activation probe interval (1 s by default). Read per probe would cost
// one OffsetFetch and one or two ListOffsets per trigger per second. Probes
// are instead answered in batches, per cluster (the client pool's key):
//
//   - a probe registers its interest, (group, topic, policy), and is
//     answered by the latest batch result for it when that result is younger
//     than probeMaxAge (a result dates from when the batch's answers came
//     in, as the scale loop dates a sample from when its read returned);
//   - otherwise it joins the batch in flight if that batch reads its key, or
//     waits for the next batch, which starts when the one in flight ends and
//     reads every key waiting for it: probes that arrive together cost a
//     batch or two;
//   - a batch also reads ahead the keys whose next probe is expected (one
//     period after the last: the scale loop calls a trigger at zero replicas
//     once per probe interval, with Probe or, once per polling interval,
//     Read) early enough in the life of its result, so that in steady state
//     a key is read about once per probe interval however the triggers'
//     probes are spread, and a batch runs about every probeMaxAge −
//     probeReadAheadMargin;
//   - a batch is one call of the client's batched offsets path: one
//     OffsetFetch per group, one ListOffsets per partition leader for all
//     groups together (and one more per leader for log start offsets);
//   - a batch runs on its own goroutine with a context detached from the
//     probe that started it and bounded by probeBatchTimeout: a caller that
//     gives up returns at once and the others still get the answer;
//   - a key not probed for probeInterestTTL is forgotten.
//
// A probe returns exactly what Read would return on the same offsets: the
// trigger's own evaluate turns them into a Reading. An error of one group
// goes to that group's triggers only; an error of the cluster to all.

const (
	// probeMaxAge is how old a batch result may be to answer a probe.
	probeMaxAge = 500 * time.Millisecond
	// probeReadAheadMargin is how long before its result expires a probe is
	// expected, at least, for a batch to read its key ahead: a probe that
	// comes a little late still finds the result fresh. Keys expected later
	// are left to the next batch.
	probeReadAheadMargin = probeMaxAge / 2
	// probeInterestTTL is how long a key stays of interest without a probe.
	probeInterestTTL = 10 * time.Second
	// probeBatchTimeout bounds one batch, whoever waits for it.
	probeBatchTimeout = 15 * time.Second
)

// probeKey is what a probe reads: a group's offsets on a topic ("" for
// every topic the group committed on), with or without the log start
// offsets the earliest policy needs.
type probeKey struct {
	group, topic string
	earliest     bool
}

// probeResult is a batch's answer for one key. It is not changed once made.
type probeResult struct {
	at     time.Time // when the batch that read it had its answers
	topics []TopicOffsets
	err    error
	// alone says that the batch could not answer for this key by itself
	// (see fetch): the probe reads it with Read.
	alone bool
}

// interest is what a prober knows of one key.
type interest struct {
	last   time.Time     // the latest call: a probe, or a Read in its place
	period time.Duration // between the two latest calls (0: not known yet)
	res    *probeResult  // the latest batch result, nil before the first
}

// seen records a call for the key at now, and the period of the calls.
// Calls closer than probeMaxAge are of other triggers on the same key, not
// the period.
func (in *interest) seen(now time.Time) {
	if gap := now.Sub(in.last); !in.last.IsZero() && gap >= probeMaxAge {
		in.period = gap
	}
	in.last = now
}

// due says whether a batch starting at start should read the key ahead of
// its next probe: that probe is expected (one period after the last call)
// at least probeReadAheadMargin before the batch's result expires (counted
// from start: the result will be younger), and the result held now will not
// serve it with that margin. A probe later than expected by more than
// probeMaxAge is not waited for: the trigger may have stopped probing.
func (in *interest) due(start time.Time) bool {
	if in.period <= 0 {
		return false
	}
	next := in.last.Add(in.period)
	if next.Before(start) {
		if start.Sub(next) > probeMaxAge {
			return false
		}
		next = start
	}
	need := next.Add(probeReadAheadMargin) // a result must be fresh until then
	if need.After(start.Add(probeMaxAge)) {
		return false // for a later batch
	}
	return in.res == nil || need.After(in.res.at.Add(probeMaxAge))
}

// probeBatch is one batched read of a cluster's offsets.
type probeBatch struct {
	// keys are the keys it reads. Before it starts, they are the keys
	// waiting for it; they do not change once it runs.
	keys map[probeKey]bool
	// base carries the values (not the cancellation) of the context of the
	// probe that created it.
	base context.Context
	done chan struct{}
	// results has an entry for every key; it is set before done is closed.
	results map[probeKey]*probeResult
}

func newProbeBatch(ctx context.Context) *probeBatch {
	return &probeBatch{keys: map[probeKey]bool{}, base: context.WithoutCancel(ctx), done: make(chan struct{})}
}

// prober batches the probes of the triggers on one cluster. The Type holds
// one per cluster in use (see probers).
type prober struct {
	typ  *Type
	key  clusterKey
	life context.Context // ends when the last trigger on the cluster closes
	end  context.CancelFunc

	mu       sync.Mutex // guards everything below
	interest map[probeKey]*interest
	running  *probeBatch // the batch in flight
	next     *probeBatch // the batch that starts when running ends
}

// probe answers one probe of key: the batch result, or ctx's error when ctx
// ends first.
func (p *prober) probe(ctx context.Context, key probeKey) (*probeResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := p.typ.now()
	p.mu.Lock()
	in := p.interest[key]
	if in == nil {
		in = &interest{}
		p.interest[key] = in
	}
	in.seen(now)
	if r := in.res; r != nil && now.Sub(r.at) < probeMaxAge {
		p.mu.Unlock()
		return r, nil
	}
	b := p.running
	switch {
	case b == nil:
		b = newProbeBatch(ctx)
		b.keys[key] = true
		p.start(b, now)
	case !b.keys[key]:
		if p.next == nil {
			p.next = newProbeBatch(ctx)
		}
		b = p.next
		b.keys[key] = true
	}
	p.mu.Unlock()
	select {
	case <-b.done:
		return b.results[key], nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// read records a Read of key, when probes are interested in it: the scale
// loop reads a trigger at zero replicas in place of a probe once per polling
// interval, and the probes' period goes on.
func (p *prober) read(key probeKey) {
	now := p.typ.now()
	p.mu.Lock()
	if in := p.interest[key]; in != nil {
		in.seen(now)
	}
	p.mu.Unlock()
}

// start runs b: it forgets stale interest, adds the keys due, and reads them
// on a goroutine of its own. The caller holds mu.
func (p *prober) start(b *probeBatch, now time.Time) {
	for k, in := range p.interest {
		switch {
		case now.Sub(in.last) > probeInterestTTL:
			delete(p.interest, k)
		case in.due(now):
			b.keys[k] = true
		}
	}
	p.running = b
	p.typ.probeBatches.Add(1)
	go p.run(b)
}

// run reads b's keys, records the results and starts the next batch.
func (p *prober) run(b *probeBatch) {
	ctx, cancel := context.WithTimeout(b.base, probeBatchTimeout)
	stop := context.AfterFunc(p.life, cancel)
	// A panic fails every key of the batch (with a *scalers.PanicError),
	// not the process; the next batch starts as usual.
	if err := scalers.Guard(func() error { b.results = p.fetch(ctx, b.keys); return nil }); err != nil {
		at := p.typ.now()
		b.results = make(map[probeKey]*probeResult, len(b.keys))
		for k := range b.keys {
			b.results[k] = &probeResult{at: at, err: err}
		}
	}
	stop()
	cancel()

	p.mu.Lock()
	for k, r := range b.results {
		if in := p.interest[k]; in != nil && (in.res == nil || !in.res.at.After(r.at)) {
			in.res = r
		}
	}
	p.running = nil
	if n := p.next; n != nil {
		p.next = nil
		p.start(n, p.typ.now())
	}
	p.mu.Unlock()
	close(b.done)
}

// fetch reads keys with one call of the client's batched offsets path and
// answers every key. A group is read once, on the union of its keys' topics.
// Two cases cannot be answered from that one query, and their keys are
// marked alone (read with Read): a key on every topic of a group that other
// keys read on named topics, and a key of a group read on several topics
// that failed (the error may concern another key's topic only).
func (p *prober) fetch(ctx context.Context, keys map[probeKey]bool) map[probeKey]*probeResult {
	named := map[string]bool{} // groups some key reads on a named topic
	for k := range keys {
		if k.topic != "" {
			named[k.group] = true
		}
	}
	groups := map[string][]string{}
	start := false
	for k := range keys {
		if k.topic == "" && named[k.group] {
			continue // alone
		}
		groups[k.group] = append(groups[k.group], k.topic)
		start = start || k.earliest
	}
	for g, ts := range groups {
		groups[g] = dedup(ts)
	}
	var res map[string]GroupOffsets
	var err error
	if len(groups) > 0 {
		res, err = p.offsets(ctx, groups, start)
	}
	at := p.typ.now()
	out := make(map[probeKey]*probeResult, len(keys))
	for k := range keys {
		r := &probeResult{at: at}
		out[k] = r
		if k.topic == "" && named[k.group] {
			r.alone = true
			continue
		}
		if err != nil {
			r.err = err
			continue
		}
		g, ok := res[k.group]
		switch {
		case !ok:
			r.err = fmt.Errorf("the broker's answers lack consumer group %q", k.group)
		case g.Err != nil && len(groups[k.group]) > 1:
			r.alone = true
		case g.Err != nil:
			r.err = g.Err
		case k.topic == "":
			r.topics = g.Topics
		default:
			r.err = fmt.Errorf("the broker's answers lack topic %q", k.topic)
			for i := range g.Topics {
				if g.Topics[i].Topic == k.topic {
					r.topics, r.err = g.Topics[i:i+1], nil
					break
				}
			}
		}
	}
	return out
}

// offsets is one call of the client's batched offsets path, through the
// cluster's pooled client.
func (p *prober) offsets(ctx context.Context, groups map[string][]string, start bool) (map[string]GroupOffsets, error) {
	lease := p.typ.clients.Acquire(p.key)
	defer lease.Release()
	c, err := lease.Get(ctx)
	if err != nil {
		return nil, err
	}
	res, err := c.offsets(ctx, groups, start)
	if err != nil && isConnError(err) {
		lease.Invalidate(ctx, c, func(a, b *client) bool { return a == b })
	}
	return res, err
}

// probers holds one prober per cluster in use, shared by the triggers on
// the cluster, from their New to their Close.
type probers struct {
	mu   sync.Mutex // guards m and refs
	m    map[clusterKey]*prober
	refs map[*prober]int
}

// acquire returns the cluster's prober, creating it (no I/O).
func (ps *probers) acquire(t *Type, key clusterKey) *prober {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.m == nil {
		ps.m, ps.refs = map[clusterKey]*prober{}, map[*prober]int{}
	}
	p := ps.m[key]
	if p == nil {
		life, end := context.WithCancel(context.Background())
		p = &prober{typ: t, key: key, life: life, end: end, interest: map[probeKey]*interest{}}
		ps.m[key] = p
	}
	ps.refs[p]++
	return p
}

// release gives back one trigger's hold; the last one ends the prober and
// cancels its batch in flight, if any.
func (ps *probers) release(p *prober) {
	ps.mu.Lock()
	if ps.refs[p] == 0 {
		ps.mu.Unlock()
		return
	}
	ps.refs[p]--
	last := ps.refs[p] == 0
	if last {
		delete(ps.refs, p)
		delete(ps.m, p.key)
	}
	ps.mu.Unlock()
	if last {
		p.end()
	}
}

// stats reports the probers in use and the keys they are interested in.
func (ps *probers) stats() (clusters, keys int) {
	ps.mu.Lock()
	all := make([]*prober, 0, len(ps.m))
	for _, p := range ps.m {
		all = append(all, p)
	}
	ps.mu.Unlock()
	for _, p := range all {
		p.mu.Lock()
		keys += len(p.interest)
		p.mu.Unlock()
	}
	return len(all), keys
}
