// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/scalertest"
)

func probe(sc *scaler) (scalers.Reading, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return sc.Probe(ctx)
}

func TestAProbeReadsWhatAReadReads(t *testing.T) {
	a := newAdmin(t)
	lists, streams, _ := testTypes(t)
	list := a.list(4)
	stream := a.stream(9)
	group := a.group(stream, "0")
	a.deliver(stream, group, 2)
	for name, sc := range map[string]*scaler{
		"list length":     newScaler(t, lists, listTrigger(map[string]string{"address": redisAddr, "listName": list, "activationListLength": "3"}, nil)),
		"stream length":   newScaler(t, streams, streamTrigger(map[string]string{"address": redisAddr, "stream": stream, "streamLength": "5", "activationLagCount": "9"}, nil)),
		"pending entries": newScaler(t, streams, streamTrigger(map[string]string{"address": redisAddr, "stream": stream, "consumerGroup": group}, nil)),
		"lag":             newScaler(t, streams, streamTrigger(map[string]string{"address": redisAddr, "stream": stream, "consumerGroup": group, "lagCount": "2"}, nil)),
	} {
		t.Run(name, func(t *testing.T) {
			want := scalertest.MustRead(t, sc)
			got, err := probe(sc)
			if err != nil {
				t.Fatalf("Probe: %v", err)
			}
			if got != want {
				t.Errorf("Probe = %+v, Read = %+v", got, want)
			}
		})
	}
}

// holdBatch makes the batcher believe a batch of sc's client is in flight,
// so that probes queue for the next one; the returned function runs that
// batch.
func holdBatch(sc *scaler) (pending func() int, run func()) {
	b := sc.sh.probes
	k := sc.plan.conn
	bt := &batch{pending: map[query][]chan result{}}
	b.mu.Lock()
	b.batches[k] = bt
	b.mu.Unlock()
	pending = func() int {
		b.mu.Lock()
		defer b.mu.Unlock()
		n := 0
		for _, chs := range bt.pending {
			n += len(chs)
		}
		return n
	}
	return pending, func() { go b.run(k, bt) }
}

func TestProbesThatArriveTogetherShareOneRoundTrip(t *testing.T) {
	a := newAdmin(t)
	lists, streams, _ := testTypes(t)
	str := a.key("string")
	if err := a.rdb.Set(a.ctx(), str, "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	stream := a.stream(5)
	group := a.group(stream, "0")
	type probeCase struct {
		sc      *scaler
		want    float64
		wantErr error
	}
	var cases []probeCase
	for i := 0; i < 10; i++ {
		cases = append(cases, probeCase{sc: newScaler(t, lists, listTrigger(map[string]string{"address": redisAddr, "listName": a.list(i)}, nil)), want: float64(i)})
	}
	same := a.list(3) // five triggers on one list
	for i := 0; i < 5; i++ {
		cases = append(cases, probeCase{sc: newScaler(t, lists, listTrigger(map[string]string{"address": redisAddr, "listName": same}, nil)), want: 3})
	}
	cases = append(cases,
		probeCase{sc: newScaler(t, streams, streamTrigger(map[string]string{"address": redisAddr, "stream": stream, "consumerGroup": group, "lagCount": "1"}, nil)), want: 5},
		probeCase{sc: newScaler(t, streams, streamTrigger(map[string]string{"address": redisAddr, "stream": stream, "streamLength": "1"}, nil)), want: 5},
		probeCase{sc: newScaler(t, lists, listTrigger(map[string]string{"address": redisAddr, "listName": str}, nil)), wantErr: ErrWrongType},
		probeCase{sc: newScaler(t, streams, streamTrigger(map[string]string{"address": redisAddr, "stream": stream, "consumerGroup": "nobody"}, nil)), wantErr: ErrNoGroup},
	)
	scalertest.MustRead(t, cases[0].sc) // connect first

	pending, run := holdBatch(cases[0].sc)
	before := lists.sh.queries.Load()
	var wg sync.WaitGroup
	for _, c := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := probe(c.sc)
			switch {
			case c.wantErr != nil && !errors.Is(err, c.wantErr):
				t.Errorf("probe of %s = %+v, %v; want %v", c.sc.plan.key, r, err, c.wantErr)
			case c.wantErr == nil && (err != nil || r.Value != c.want):
				t.Errorf("probe of %s = %+v, %v; want %v", c.sc.plan.key, r, err, c.want)
			}
		}()
	}
	scalertest.Eventually(t, 10*time.Second, "every probe to wait for the next batch", func() (bool, string) {
		n := pending()
		return n == len(cases), strings.Repeat("|", n)
	})
	run()
	wg.Wait()
	// One pipeline for all the probes, and one TYPE lookup for each of the
	// two that failed (to say what is wrong with their keys).
	if q := lists.sh.queries.Load() - before; q != 3 {
		t.Errorf("%d probes cost %d round trips, want 1 (+2 for the errors' TYPE lookups)", len(cases), q)
	}
}

func TestAProbeThatGivesUpDoesNotHoldUpTheBatch(t *testing.T) {
	a := newAdmin(t)
	lists, _, _ := testTypes(t)
	list := a.list(2)
	quitter := newScaler(t, lists, listTrigger(map[string]string{"address": redisAddr, "listName": list}, nil))
	waiter := newScaler(t, lists, listTrigger(map[string]string{"address": redisAddr, "listName": list}, nil))
	pending, run := holdBatch(quitter)

	ctx, cancel := context.WithCancel(context.Background())
	quit := make(chan error, 1)
	go func() {
		_, err := quitter.Probe(ctx)
		quit <- err
	}()
	got := make(chan scalers.Reading, 1)
	go func() {
		r, err := probe(waiter)
		if err != nil {
			t.Errorf("waiting probe: %v", err)
		}
		got <- r
	}()
	scalertest.Eventually(t, 10*time.Second, "both probes to wait", func() (bool, string) { return pending() == 2, "fewer" })
	cancel()
	if err := <-quit; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled probe = %v, want context.Canceled", err)
	}
	run()
	expect(t, <-got, 2, true)
}

func TestAProbeOfAnUnreachableServerIsAnError(t *testing.T) {
	requireRedis(t)
	lists, _, _ := testTypes(t)
	sc := newScaler(t, lists, listTrigger(map[string]string{"address": scalertest.FreeAddr(t), "listName": "l", "timeout": "3s"}, map[string]string{"password": "probe-secret-9"}))
	r, err := probe(sc)
	if err == nil {
		t.Fatalf("Probe = %+v with no error", r)
	}
	if r != (scalers.Reading{}) || strings.Contains(err.Error(), "probe-secret-9") {
		t.Errorf("Probe = %+v, %v: want no reading and no password", r, err)
	}
	if n := lists.OpenConnections(); n != 1 {
		t.Errorf("%d clients open while the trigger lives, want 1", n)
	}
	_ = sc.Close()
	scalertest.Eventually(t, 10*time.Second, "the batch to let its client go", func() (bool, string) {
		n := lists.OpenConnections()
		return n == 0, strings.Repeat("|", n)
	})
}
