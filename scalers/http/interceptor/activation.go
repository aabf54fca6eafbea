// SPDX-License-Identifier: Apache-2.0

package interceptor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Bounds of a wait for activations.
const (
	// DefaultActivationWait is how long GET /v1/activations blocks without
	// a wait parameter.
	DefaultActivationWait = 30 * time.Second
	maxActivationWait     = time.Minute
)

// activations numbers the routes' signals: a route signals when its first
// request is held (no request was held on it before), which is when the
// operator should activate its target. Watchers wait for a sequence number
// beyond the one they saw.
type activations struct {
	// epoch identifies this process: sequence numbers of another epoch mean
	// nothing here.
	epoch string

	mu      sync.Mutex
	seq     uint64
	changed chan struct{} // closed, and replaced, at every signal
}

func (a *activations) init() {
	var b [8]byte
	_, _ = rand.Read(b[:])
	a.epoch = hex.EncodeToString(b[:])
	a.changed = make(chan struct{})
}

func (a *activations) signal(c *counters) {
	a.mu.Lock()
	a.seq++
	c.signaled.Store(a.seq)
	close(a.changed)
	a.changed = make(chan struct{})
	a.mu.Unlock()
}

func (a *activations) state() (uint64, <-chan struct{}) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.seq, a.changed
}

// Activations is the body of GET /v1/activations.
type Activations struct {
	// Epoch identifies the interceptor process; send it back with Seq.
	Epoch string `json:"epoch"`
	// Seq is the sequence number of the last signal; wait beyond it next.
	Seq uint64 `json:"seq"`
	// Routes are the routes that signalled after the Seq the watcher sent;
	// when it sent none or another epoch's, the routes holding requests now.
	// Empty when the wait ended without a signal.
	Routes []string `json:"routes"`
}

// WaitActivations returns as soon as a route signals after since (a
// sequence number of epoch), or when wait has passed, or ctx ends. With an
// empty epoch, another process's epoch, or a since this process has not
// reached, it returns at once the routes holding requests now: a watcher
// that starts or reconnects misses nothing that still waits.
func (ic *Interceptor) WaitActivations(ctx context.Context, epoch string, since uint64, wait time.Duration) Activations {
	seq, changed := ic.act.state()
	out := Activations{Epoch: ic.act.epoch, Seq: seq, Routes: []string{}}
	if epoch != ic.act.epoch || since > seq {
		for _, r := range ic.set.Load().routes {
			if r.held.Load() > 0 {
				out.Routes = append(out.Routes, r.cfg.Name)
			}
		}
		return out
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for seq <= since {
		select {
		case <-changed:
		case <-timer.C:
			return out
		case <-ctx.Done():
			return out
		}
		seq, changed = ic.act.state()
	}
	out.Seq = seq
	for _, r := range ic.set.Load().routes {
		if r.signaled.Load() > since {
			out.Routes = append(out.Routes, r.cfg.Name)
		}
	}
	return out
}

// serveActivations is GET /v1/activations?epoch=<e>&since=<seq>[&wait=<d>].
func (ic *Interceptor) serveActivations(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	var since uint64
	if s := q.Get("since"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			http.Error(w, "since: expected the seq of the previous answer, a whole number", http.StatusBadRequest)
			return
		}
		since = n
	}
	wait := DefaultActivationWait
	if s := q.Get("wait"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 || d > maxActivationWait {
			http.Error(w, "wait: expected a duration from 0s to 1m, such as 30s", http.StatusBadRequest)
			return
		}
		wait = d
	}
	a := ic.WaitActivations(req.Context(), q.Get("epoch"), since, wait)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(a)
}
