// SPDX-License-Identifier: Apache-2.0

package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/kafka"
	"github.com/ebbscale/ebb/scalers/scalertest"
)

// fakeClock is the clock of probe results and interest in tests that step
// time by hand: a batch result stays fresh until the test advances it.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock(typ *kafka.Type) *fakeClock {
	c := &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	kafka.SetClock(typ, c.Now)
	return c
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func probeOnce(ctx context.Context, sc scalers.Scaler) (scalers.Reading, error) {
	p, ok := sc.(scalers.Prober)
	if !ok {
		return scalers.Reading{}, errors.New("the kafka scaler does not implement scalers.Prober")
	}
	return p.Probe(ctx)
}

func probe(t testing.TB, sc scalers.Scaler) scalers.Reading {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := probeOnce(ctx, sc)
	if err != nil {
		t.Fatalf("Probe: %v", err)
	}
	return r
}

func probeErr(t *testing.T, sc scalers.Scaler) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := probeOnce(ctx, sc)
	if err == nil {
		t.Fatalf("Probe = %+v, want an error", r)
	}
	if r != (scalers.Reading{}) {
		t.Errorf("Probe returned %+v along with its error", r)
	}
	return err
}

// probeAll probes every scaler at once, from a goroutine each, and returns
// the readings and errors in order.
func probeAll(scs []scalers.Scaler) ([]scalers.Reading, []error) {
	rs, errs := make([]scalers.Reading, len(scs)), make([]error, len(scs))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, sc := range scs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			<-start
			rs[i], errs[i] = probeOnce(ctx, sc)
		}()
	}
	close(start)
	wg.Wait()
	return rs, errs
}

func TestAProbeReadsWhatAReadReads(t *testing.T) {
	c := startCluster(t, clusterOpts{brokers: 2})
	a, b := c.topic(3), c.topic(2)
	c.produce(a, 20, 30, 40)
	c.produce(b, 5, 6)
	committed, partly, never := unique("committed"), unique("partly"), unique("never")
	c.commit(committed, a, map[int32]int64{0: 0, 1: 10, 2: 38})
	c.commit(committed, b, map[int32]int64{0: 1, 1: 6})
	c.commit(partly, a, map[int32]int64{0: 15})
	typ := kafka.NewType()

	cases := []struct {
		name  string
		kv    []string
		value v1alpha1.MetricType
	}{
		{name: "by default the value is capped at partitions × lagThreshold", kv: []string{"consumerGroup", committed, "topic", a}},
		{name: "allowIdleConsumers lifts the cap", kv: []string{"consumerGroup", committed, "topic", a, "allowIdleConsumers", "true"}},
		{name: "a Value metric is never capped", kv: []string{"consumerGroup", committed, "topic", a}, value: v1alpha1.MetricTypeValue},
		{name: "limitToPartitionsWithLag caps at the partitions that lag", kv: []string{"consumerGroup", committed, "topic", a, "limitToPartitionsWithLag", "true", "lagThreshold", "4"}},
		{name: "partitionLimitation measures only the listed partitions", kv: []string{"consumerGroup", committed, "topic", a, "partitionLimitation", "1-2", "lagThreshold", "100"}},
		{name: "an activationLagThreshold above the total lag is inactive", kv: []string{"consumerGroup", committed, "topic", a, "activationLagThreshold", "1000"}},
		{name: "excludePersistentLag leaves out lag whose offset did not move", kv: []string{"consumerGroup", committed, "topic", a, "excludePersistentLag", "true", "lagThreshold", "100"}},
		{name: "earliest counts the log of partitions with no committed offset", kv: []string{"consumerGroup", partly, "topic", a, "offsetResetPolicy", "earliest", "lagThreshold", "100"}},
		{name: "latest counts a partition with no committed offset as 1", kv: []string{"consumerGroup", partly, "topic", a, "lagThreshold", "100"}},
		{name: "scaleToZeroOnInvalidOffset counts it as 0", kv: []string{"consumerGroup", never, "topic", a, "scaleToZeroOnInvalidOffset", "true"}},
		{name: "a group that never committed reads the whole log under earliest", kv: []string{"consumerGroup", never, "topic", b, "offsetResetPolicy", "earliest", "lagThreshold", "100"}},
		{name: "without topic every topic the group committed on is measured", kv: []string{"consumerGroup", committed, "lagThreshold", "100"}},
		{name: "without topic a group that never committed is an error", kv: []string{"consumerGroup", never}},
		{name: "without topic a group is measured on the topics it committed on only", kv: []string{"consumerGroup", partly, "lagThreshold", "100"}},
		{name: "a topic the group never committed on is measured beside a trigger on all its topics", kv: []string{"consumerGroup", partly, "topic", b, "offsetResetPolicy", "earliest"}},
		{name: "an unknown topic is an error", kv: []string{"consumerGroup", partly, "topic", "no-such-topic"}},
	}
	readers, probers := make([]scalers.Scaler, len(cases)), make([]scalers.Scaler, len(cases))
	for i, tc := range cases {
		tr := trigger(md(append([]string{"bootstrapServers", c.addr}, tc.kv...)...), nil)
		if tc.value != "" {
			tr.MetricType = tc.value
		}
		readers[i], probers[i] = scalertest.NewScaler(t, typ, tr), scalertest.NewScaler(t, typ, tr)
	}
	// Twice, so that excludePersistentLag has a previous read; every probe
	// of a round at once, so that they share batches.
	for round := 1; round <= 2; round++ {
		got, errs := probeAll(probers)
		for i, tc := range cases {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			want, wantErr := readers[i].Read(ctx)
			cancel()
			switch {
			case wantErr != nil && errs[i] == nil:
				t.Errorf("round %d: %s: Probe = %+v, Read = %v", round, tc.name, got[i], wantErr)
			case wantErr == nil && errs[i] != nil:
				t.Errorf("round %d: %s: Probe = %v, Read = %+v", round, tc.name, errs[i], want)
			case wantErr != nil && errs[i].Error() != wantErr.Error():
				t.Errorf("round %d: %s: Probe's error %q, Read's %q", round, tc.name, errs[i], wantErr)
			case wantErr == nil && got[i] != want:
				t.Errorf("round %d: %s: Probe = %+v, Read = %+v", round, tc.name, got[i], want)
			}
		}
	}
}

func TestIdleTriggersProbedTogetherCostOneBatchedReadNotOneReadEach(t *testing.T) {
	const triggers = 200
	c := startCluster(t, clusterOpts{brokers: 3})
	topic := c.topic(6)
	c.produce(topic, 1, 2, 3, 4, 5, 6)
	groups := make([]string, triggers)
	for i := range groups {
		groups[i] = unique(fmt.Sprintf("idle-%d", i))
		if i%2 == 0 {
			c.commit(groups[i], topic, map[int32]int64{0: 1, 1: 2, 2: 3, 3: 4, 4: 5, 5: 6})
		}
	}
	c.cl.Close() // from here on, every request the cluster sees is the scalers'
	leaders := map[int32]bool{}
	for p := int32(0); p < 6; p++ {
		leaders[c.kfake.LeaderFor(topic, p)] = true
	}
	// One ListOffsets per leader for the log ends, one more for the log
	// starts of the groups that never committed.
	perBatch := 2 * len(leaders)

	typ := kafka.NewType()
	clock := newFakeClock(typ)
	scs := make([]scalers.Scaler, triggers)
	for i := range scs {
		scs[i] = scalertest.NewScaler(t, typ, trigger(md("bootstrapServers", c.addr, "consumerGroup", groups[i], "topic", topic, "offsetResetPolicy", "earliest", "lagThreshold", "100"), nil))
		read(t, scs[i]) // warm: connections open, coordinators and metadata cached
	}
	rc := countRequests(c)
	// counts are the requests since the last call; Metadata may be fetched
	// again as its cache expires, and nothing else may be sent.
	counts := func(what string) map[int16]int {
		t.Helper()
		got := rc.take()
		for k, n := range got {
			if k != int16(kmsg.OffsetFetch) && k != int16(kmsg.ListOffsets) && !(k == int16(kmsg.Metadata) && n <= 1) {
				t.Errorf("%s: %d unexpected %s requests", what, n, kmsg.NameForKey(k))
			}
		}
		return got
	}
	check := func(what string, rs []scalers.Reading, errs []error) {
		t.Helper()
		for i := range rs {
			want := scalers.Reading{Value: 21, Active: true} // nothing committed: the whole log
			if i%2 == 0 {
				want = scalers.Reading{}
			}
			if errs[i] != nil || rs[i] != want {
				t.Fatalf("%s: trigger %d read %+v, %v; want %+v", what, i, rs[i], errs[i], want)
			}
		}
	}

	// For comparison: 200 reads at once cost 200 reads.
	var wg sync.WaitGroup
	for _, sc := range scs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if _, err := sc.Read(ctx); err != nil {
				t.Errorf("Read: %v", err)
			}
		}()
	}
	wg.Wait()
	got := counts("200 reads")
	if got[int16(kmsg.OffsetFetch)] != triggers || got[int16(kmsg.ListOffsets)] < triggers {
		t.Errorf("200 reads: %d OffsetFetch and %d ListOffsets, want %d and at least %d", got[int16(kmsg.OffsetFetch)], got[int16(kmsg.ListOffsets)], triggers, triggers)
	}

	// The first two rounds of probes, a second apart: each group is read
	// once per round, in a few batches (the probes that arrive while one
	// runs wait for the next).
	for round := 1; round <= 2; round++ {
		what := fmt.Sprintf("round %d of 200 probes", round)
		before := kafka.ProbeBatches(typ)
		rs, errs := probeAll(scs)
		check(what, rs, errs)
		batches := int(kafka.ProbeBatches(typ) - before)
		got := counts(what)
		t.Logf("%s: %d batches, %d OffsetFetch, %d ListOffsets", what, batches, got[int16(kmsg.OffsetFetch)], got[int16(kmsg.ListOffsets)])
		if batches > 10 {
			t.Errorf("%s: %d batches, want a few", what, batches)
		}
		if n := got[int16(kmsg.OffsetFetch)]; n != triggers {
			t.Errorf("%s: %d OffsetFetch requests, want one per group (%d)", what, n, triggers)
		}
		if n := got[int16(kmsg.ListOffsets)]; n > batches*perBatch {
			t.Errorf("%s: %d ListOffsets requests in %d batches, want at most %d per batch", what, n, batches, perBatch)
		}
		clock.Advance(time.Second)
	}

	// From the third round on, the period of every group's probes is known:
	// the first probe's batch reads every group due, and the others join it
	// or take its result.
	before := kafka.ProbeBatches(typ)
	rs, errs := probeAll(scs)
	check("round 3", rs, errs)
	if batches := kafka.ProbeBatches(typ) - before; batches != 1 {
		t.Errorf("round 3 of 200 probes: %d batches, want 1", batches)
	}
	got = counts("round 3")
	if got[int16(kmsg.OffsetFetch)] != triggers || got[int16(kmsg.ListOffsets)] != perBatch {
		t.Errorf("round 3 of 200 probes: %d OffsetFetch and %d ListOffsets, want %d and %d", got[int16(kmsg.OffsetFetch)], got[int16(kmsg.ListOffsets)], triggers, perBatch)
	}

	// Within the result's max age, probes cost nothing.
	clock.Advance(kafka.ProbeMaxAge / 2)
	before = kafka.ProbeBatches(typ)
	rs, errs = probeAll(scs)
	check("probes within the max age", rs, errs)
	if batches := kafka.ProbeBatches(typ) - before; batches != 0 {
		t.Errorf("probes within the max age: %d batches, want 0", batches)
	}
	if got := counts("probes within the max age"); got[int16(kmsg.OffsetFetch)]+got[int16(kmsg.ListOffsets)] != 0 {
		t.Errorf("probes within the max age sent %v", got)
	}
}

func TestAGroupsOwnErrorReachesOnlyItsTriggers(t *testing.T) {
	c := startCluster(t, clusterOpts{})
	topic := c.topic(1)
	c.produce(topic, 5)
	ok, refused, shared, never := unique("ok"), unique("refused"), unique("shared"), unique("never")
	c.commit(ok, topic, map[int32]int64{0: 2})
	c.commit(refused, topic, map[int32]int64{0: 2})
	c.commit(shared, topic, map[int32]int64{0: 1})
	// The coordinator refuses the offsets of one group.
	c.kfake.ControlKey(int16(kmsg.OffsetFetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.kfake.KeepControl()
		r := req.(*kmsg.OffsetFetchRequest)
		if r.Group != refused {
			return nil, nil, false
		}
		res := r.ResponseKind().(*kmsg.OffsetFetchResponse)
		res.Version = r.Version
		res.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return res, nil, true
	})
	typ := kafka.NewType()
	clock := newFakeClock(typ)
	on := func(group, topic string) scalers.Scaler {
		return scalertest.NewScaler(t, typ, trigger(md("bootstrapServers", c.addr, "consumerGroup", group, "topic", topic, "lagThreshold", "100"), nil))
	}
	okSc, refusedSc, missingSc := on(ok, topic), on(refused, topic), on(never, "no-such-topic")
	// Two triggers of one group, one of them on a topic that does not exist.
	sharedSc, sharedMissingSc := on(shared, topic), on(shared, "no-such-topic")

	check := func(round int) {
		t.Helper()
		if r := probe(t, okSc); r.Value != 3 || !r.Active {
			t.Errorf("round %d: the group that reads well probed %+v, want 3, active", round, r)
		}
		if err := probeErr(t, refusedSc); !contains(err.Error(), refused, "Authorization") {
			t.Errorf("round %d: the refused group's error: %v", round, err)
		}
		if err := probeErr(t, missingSc); !contains(err.Error(), never, "no-such-topic") {
			t.Errorf("round %d: the error of the group on a missing topic: %v", round, err)
		}
		if r := probe(t, sharedSc); r.Value != 4 || !r.Active {
			t.Errorf("round %d: the trigger whose group's other topic is missing probed %+v, want 4, active", round, r)
		}
		if err := probeErr(t, sharedMissingSc); !contains(err.Error(), shared, "no-such-topic") {
			t.Errorf("round %d: the error of the trigger on the missing topic: %v", round, err)
		}
	}
	// Probed one after the other, the triggers first have batches of their
	// own; once their periods are known, one batch reads them all.
	for round := 1; round <= 2; round++ {
		check(round)
		clock.Advance(time.Second)
	}
	before := kafka.ProbeBatches(typ)
	check(3)
	if n := kafka.ProbeBatches(typ) - before; n != 1 {
		t.Errorf("round 3: %d batches, want 1 for all the triggers", n)
	}
}

// holdListOffsets makes the broker hold every ListOffsets request until the
// returned function is called.
func holdListOffsets(t *testing.T, c *cluster) (release func()) {
	ch := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(ch) }) }
	t.Cleanup(release)
	c.kfake.ControlKey(int16(kmsg.ListOffsets), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.kfake.KeepControl()
		select {
		case <-ch:
			c.kfake.DropControl()
			return nil, nil, false
		default:
		}
		c.kfake.SleepControl(func() { <-ch })
		return nil, nil, false
	})
	return release
}

func TestACallerThatGivesUpDoesNotFailTheOthersInItsBatch(t *testing.T) {
	c := startCluster(t, clusterOpts{})
	topic := c.topic(2)
	c.produce(topic, 4, 4)
	impatient, patient := unique("impatient"), unique("patient")
	c.commit(impatient, topic, map[int32]int64{0: 1, 1: 1})
	c.commit(patient, topic, map[int32]int64{0: 2, 1: 2})
	typ := kafka.NewType()
	clock := newFakeClock(typ)
	impatientSc := scalertest.NewScaler(t, typ, trigger(md("bootstrapServers", c.addr, "consumerGroup", impatient, "topic", topic, "lagThreshold", "100"), nil))
	patientSc := scalertest.NewScaler(t, typ, trigger(md("bootstrapServers", c.addr, "consumerGroup", patient, "topic", topic, "lagThreshold", "100"), nil))
	for round := 0; round < 2; round++ { // the periods become known
		probe(t, impatientSc)
		probe(t, patientSc)
		clock.Advance(time.Second)
	}

	release := holdListOffsets(t, c)
	before := kafka.ProbeBatches(typ)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if r, err := probeOnce(ctx, impatientSc); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the impatient probe = %+v, %v; want its deadline's error", r, err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the impatient probe returned %s after its 200ms deadline", took)
	}
	type answer struct {
		r   scalers.Reading
		err error
	}
	done := make(chan answer, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r, err := probeOnce(ctx, patientSc)
		done <- answer{r, err}
	}()
	time.Sleep(100 * time.Millisecond) // the patient probe waits on the batch
	release()
	a := <-done
	if a.err != nil || a.r.Value != 4 || !a.r.Active {
		t.Errorf("the patient probe in the same batch = %+v, %v; want 4, active", a.r, a.err)
	}
	// The batch the impatient probe started answered it too.
	if r := probe(t, impatientSc); r.Value != 6 || !r.Active {
		t.Errorf("the impatient trigger's next probe = %+v, want 6, active", r)
	}
	if n := kafka.ProbeBatches(typ) - before; n != 1 {
		t.Errorf("%d batches, want the one the impatient probe started", n)
	}
}

func TestProbesFailWhileTheBrokerIsGoneThenRecoverWhenItIsBack(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	opts := []kfake.Opt{kfake.Ports(port), kfake.DataDir(dir), kfake.SyncWrites()}
	first, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("starting kfake: %v", err)
	}
	c := &cluster{t: t, kfake: first, addr: first.ListenAddrs()[0]}
	c.cl = c.newClient(clusterOpts{})
	topic := unique("topic")
	if err := first.CreateTopic(topic, 3, nil); err != nil {
		t.Fatal(err)
	}
	group := unique("group")
	c.produce(topic, 13, 12, 12)
	c.commit(group, topic, map[int32]int64{0: 3})
	c.cl.Close()

	typ := kafka.NewType()
	sc := scalertest.NewScaler(t, typ, trigger(md("bootstrapServers", c.addr, "consumerGroup", group, "topic", topic, "offsetResetPolicy", "earliest", "lagThreshold", "100"), nil))
	if r := probe(t, sc); r.Value != 34 || !r.Active {
		t.Fatalf("Probe = %+v, want 34, active", r)
	}

	first.Close()
	time.Sleep(kafka.ProbeMaxAge) // the last result is too old to answer
	for i := 0; i < 3; i++ {
		probeErr(t, sc)
		time.Sleep(kafka.ProbeMaxAge / 2)
	}

	second, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("restarting kfake on port %d: %v", port, err)
	}
	t.Cleanup(second.Close)
	scalertest.Eventually(t, 15*time.Second, "probes recover once the broker is back", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		r, err := probeOnce(ctx, sc)
		if err != nil {
			return false, err.Error()
		}
		return r.Value == 34 && r.Active, fmt.Sprintf("%+v", r)
	})
	if got := typ.OpenConnections(); got != 1 {
		t.Errorf("%d clients after recovery, want 1", got)
	}
}

func TestInterestInAGroupNoLongerProbedExpires(t *testing.T) {
	c := startCluster(t, clusterOpts{})
	topic := c.topic(1)
	c.produce(topic, 3)
	typ := kafka.NewType()
	clock := newFakeClock(typ)
	stopped := scalertest.NewScaler(t, typ, trigger(md("bootstrapServers", c.addr, "consumerGroup", unique("stopped"), "topic", topic), nil))
	going := scalertest.NewScaler(t, typ, trigger(md("bootstrapServers", c.addr, "consumerGroup", unique("going"), "topic", topic), nil))
	probe(t, stopped)
	probe(t, going)
	if clusters, keys := kafka.ProbeState(typ); clusters != 1 || keys != 2 {
		t.Fatalf("after two probes: %d clusters and %d keys of interest, want 1 and 2", clusters, keys)
	}

	// One trigger keeps probing every second, the other stops.
	rc := countRequests(c)
	for elapsed := time.Duration(0); elapsed <= kafka.ProbeInterestTTL; elapsed += time.Second {
		clock.Advance(time.Second)
		probe(t, going)
	}
	if _, keys := kafka.ProbeState(typ); keys != 1 {
		t.Errorf("%s after its last probe, the stopped trigger's group is still of interest (%d keys)", kafka.ProbeInterestTTL, keys)
	}
	rc.take()
	clock.Advance(time.Second)
	probe(t, going)
	if n := rc.take()[int16(kmsg.OffsetFetch)]; n != 1 {
		t.Errorf("a batch for the one group still probed sent %d OffsetFetch requests, want 1", n)
	}

	for _, sc := range []scalers.Scaler{stopped, going} {
		if err := sc.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if clusters, keys := kafka.ProbeState(typ); clusters != 0 || keys != 0 {
		t.Errorf("after every trigger closed: %d clusters and %d keys of interest, want none", clusters, keys)
	}
}

func TestAProbeOfAnUnreachableClusterIsAPromptErrorWithoutCredentials(t *testing.T) {
	const password = "probe-s3cret-pw"
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	sc := scalertest.NewScaler(t, kafka.NewType(), trigger(md("bootstrapServers", addr, "consumerGroup", "g", "topic", "t"),
		map[string]string{"sasl": "scram_sha256", "username": "u", "password": password}))
	start := time.Now()
	err := probeErr(t, sc)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Probe of a refused address took %s", took)
	}
	if contains(err.Error(), password) {
		t.Errorf("Probe's error shows the password: %v", err)
	}
	if !contains(err.Error(), `consumer group "g"`, `topic "t"`) {
		t.Errorf("Probe's error does not name the group and topic: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if r, err := probeOnce(ctx, sc); !errors.Is(err, context.Canceled) {
		t.Errorf("Probe with a cancelled context = %+v, %v; want its error", r, err)
	}
}

func TestAReadInPlaceOfAProbeKeepsTheProbesPeriod(t *testing.T) {
	c := startCluster(t, clusterOpts{})
	topic := c.topic(1)
	c.produce(topic, 3)
	typ := kafka.NewType()
	clock := newFakeClock(typ)
	a := scalertest.NewScaler(t, typ, trigger(md("bootstrapServers", c.addr, "consumerGroup", unique("a"), "topic", topic), nil))
	b := scalertest.NewScaler(t, typ, trigger(md("bootstrapServers", c.addr, "consumerGroup", unique("b"), "topic", topic), nil))
	// Probed every second, except that once per polling interval the scale
	// loop reads the triggers instead.
	for round := 0; round < 2; round++ {
		probe(t, a)
		probe(t, b)
		clock.Advance(time.Second)
	}
	read(t, a)
	read(t, b)
	clock.Advance(time.Second)
	before := kafka.ProbeBatches(typ)
	probe(t, a)
	probe(t, b)
	if n := kafka.ProbeBatches(typ) - before; n != 1 {
		t.Errorf("the probes after a read took %d batches, want 1: the read did not count as the triggers' call", n)
	}
}

func TestABatchSlowerThanTheMaxAgeStillAnswersTheProbesAfterIt(t *testing.T) {
	c := startCluster(t, clusterOpts{})
	topic := c.topic(1)
	c.produce(topic, 3)
	typ := kafka.NewType()
	clock := newFakeClock(typ)
	a := scalertest.NewScaler(t, typ, trigger(md("bootstrapServers", c.addr, "consumerGroup", unique("a"), "topic", topic), nil))
	b := scalertest.NewScaler(t, typ, trigger(md("bootstrapServers", c.addr, "consumerGroup", unique("b"), "topic", topic), nil))
	for round := 0; round < 2; round++ { // the periods become known
		probe(t, a)
		probe(t, b)
		clock.Advance(time.Second)
	}
	// The next batch takes a second, as one over thousands of groups may.
	c.kfake.ControlKey(int16(kmsg.ListOffsets), func(kmsg.Request) (kmsg.Response, error, bool) {
		clock.Advance(time.Second)
		return nil, nil, false
	})
	before := kafka.ProbeBatches(typ)
	probe(t, a)
	probe(t, b)
	if n := kafka.ProbeBatches(typ) - before; n != 1 {
		t.Errorf("%d batches, want 1: a result is as old as the answers, not as the batch", n)
	}
}
