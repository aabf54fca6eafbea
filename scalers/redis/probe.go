// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/ebbscale/ebb/scalers"
)

// Activation probes.
//
// While a target rests at zero replicas the scale loop probes its triggers
// every activation probe interval (1 s by default). The probes of the
// triggers on one client (one server, database and set of credentials) are
// merged into pipelines, group-commit style:
//
//   - a probe puts its query in the client's next batch and starts that
//     batch at once when none is running;
//   - probes that arrive while a batch runs wait for it to end and go
//     together in the next one: one pipelined round trip for all of them,
//     one command for identical queries;
//   - so a probe's answer always comes from commands sent after it arrived,
//     never from an older result, and a lone probe costs what a read costs;
//   - a batch runs on its own goroutine with a context detached from the
//     probes, bounded by probeBatchTimeout: a probe that gives up returns at
//     once and the others still get their answers.
//
// A query's error goes to the triggers of that query only; a failed round
// trip to all the batch's triggers.

// probeBatchTimeout bounds one batch, whoever waits for it.
const probeBatchTimeout = 15 * time.Second

// batcher runs the probe batches of every client of a shared.
type batcher struct {
	sh      *shared
	mu      sync.Mutex
	batches map[connKey]*batch
}

// batch is one client's queue of probes: those waiting for the next
// pipeline, by query.
type batch struct {
	pending map[query][]chan result
}

func newBatcher(sh *shared) *batcher {
	return &batcher{sh: sh, batches: map[connKey]*batch{}}
}

// Probe reads what Read reads, merged into one pipelined round trip with the
// probes of the other triggers on the same client that arrive meanwhile.
func (s *scaler) Probe(ctx context.Context) (scalers.Reading, error) {
	if s.closed.Load() {
		return scalers.Reading{}, errors.New("redis scaler is closed")
	}
	ctx, cancel := context.WithTimeout(ctx, s.plan.timeout)
	defer cancel()
	v, err := s.sh.probes.probe(ctx, s.plan.conn, queryOf(s.plan))
	if err != nil {
		return scalers.Reading{}, err
	}
	return s.reading(v), nil
}

func (b *batcher) probe(ctx context.Context, k connKey, q query) (float64, error) {
	ch := make(chan result, 1)
	b.mu.Lock()
	bt, running := b.batches[k]
	if !running {
		bt = &batch{pending: map[query][]chan result{}}
		b.batches[k] = bt
	}
	bt.pending[q] = append(bt.pending[q], ch)
	b.mu.Unlock()
	if !running {
		go b.run(k, bt)
	}
	select {
	case r := <-ch:
		if r.err != nil {
			return 0, failure(ctx, k, r.err)
		}
		return r.v, nil
	case <-ctx.Done():
		return 0, failure(ctx, k, ctx.Err())
	}
}

// run sends the client's pending probes, batch after batch, until none is
// left; then the client's batch is forgotten.
func (b *batcher) run(k connKey, bt *batch) {
	lease := b.sh.clients.Acquire(k)
	defer lease.Release()
	for {
		b.mu.Lock()
		work := bt.pending
		if len(work) == 0 {
			delete(b.batches, k)
			b.mu.Unlock()
			return
		}
		bt.pending = map[query][]chan result{}
		b.mu.Unlock()

		qs := make([]query, 0, len(work))
		for q := range work {
			qs = append(qs, q)
		}
		// A panic fails this batch's probes (as a *scalers.PanicError),
		// not the process, and the client's next batch runs as usual.
		var res []result
		err := scalers.Guard(func() error {
			var err error
			res, err = b.send(lease, qs)
			return err
		})
		for i, q := range qs {
			r := result{err: err}
			if err == nil {
				r = res[i]
			}
			for _, ch := range work[q] {
				ch <- r // buffered: a probe that gave up does not block the batch
			}
		}
	}
}

func (b *batcher) send(lease *scalers.Lease[connKey, *client], qs []query) ([]result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), probeBatchTimeout)
	defer cancel()
	c, err := lease.Get(ctx)
	if err != nil {
		return nil, err
	}
	b.sh.queries.Add(1)
	res, err := c.readAll(ctx, qs)
	return res, c.whileConnecting(err)
}
