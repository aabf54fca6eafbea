// SPDX-License-Identifier: Apache-2.0

package rabbitmq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/scalertest"
	"github.com/ebbscale/ebb/tests/faultproxy"
)

// mgmtProxy is an HTTP reverse proxy in front of the management API: it
// records every request that reaches the broker through it and can hold each
// one back for a while (a slow broker).
type mgmtProxy struct {
	addr  string
	delay atomic.Int64 // nanoseconds to hold each request before passing it on

	mu   sync.Mutex
	seen []string // request URIs, in arrival order
}

func newMgmtProxy(t testing.TB) *mgmtProxy {
	t.Helper()
	requireManagement(t)
	p := &mgmtProxy{}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: mgmtAddr})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.seen = append(p.seen, r.URL.RequestURI())
		p.mu.Unlock()
		if d := time.Duration(p.delay.Load()); d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.addr = srv.Listener.Addr().String()
	return p
}

// host is a management URL for the default vhost through the proxy.
func (p *mgmtProxy) host() string { return "http://guest:guest@" + p.addr + "/" }

// requests is the number of requests the proxy has passed on so far.
func (p *mgmtProxy) requests() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.seen)
}

// since returns the request URIs after the first n.
func (p *mgmtProxy) since(n int) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.seen[n:]...)
}

// testClock is the batcher's clock in tests that age results and interest.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

// fakeClock makes typ's probes see a clock that moves only when the test
// steps it. Call it before the first probe.
func fakeClock(typ *Type) *testClock {
	c := &testClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	typ.probes.now = c.Now
	return c
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func probe(sc scalers.Scaler) (scalers.Reading, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return sc.(scalers.Prober).Probe(ctx)
}

type outcome struct {
	r   scalers.Reading
	err error
}

// probeAll probes every scaler at once and returns their outcomes in order.
func probeAll(scs []scalers.Scaler) []outcome {
	out := make([]outcome, len(scs))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, sc := range scs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i].r, out[i].err = probe(sc)
		}()
	}
	close(start)
	wg.Wait()
	return out
}

// queues declares n fresh queues, all deleted when the test ends, and
// publishes counts[i] messages to the i-th (counts may be shorter than n).
func (a *admin) queues(prefix string, n int, counts ...int) []string {
	a.t.Helper()
	base := uniqueName(prefix)
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%03d", base, i)
		if _, err := a.ch.QueueDeclare(names[i], false, false, false, false, nil); err != nil {
			a.t.Fatalf("declaring queue %s: %v", names[i], err)
		}
	}
	a.t.Cleanup(func() { deleteQueues(names) })
	for i, c := range counts {
		if c > 0 {
			a.publish(names[i], c)
		}
	}
	return names
}

func deleteQueues(names []string) {
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		return
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return
	}
	for _, q := range names {
		_, _ = ch.QueueDelete(q, false, false, false)
	}
}

// waitForCounts waits until the management API reports want[q] messages for
// every queue q (it refreshes its statistics every few seconds).
func waitForCounts(t testing.TB, want map[string]float64) {
	t.Helper()
	scalertest.Eventually(t, 45*time.Second, "the management API to report the queues' counts", func() (bool, string) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+mgmtAddr+"/api/queues/%2F?columns=name,messages", nil)
		req.SetBasicAuth("guest", "guest")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		var qs []queueStats
		if err := json.NewDecoder(resp.Body).Decode(&qs); err != nil {
			return false, err.Error()
		}
		got := map[string]*float64{}
		for _, q := range qs {
			got[q.Name] = q.Messages
		}
		for q, n := range want {
			if got[q] == nil || *got[q] != n {
				return false, "queue " + q + " not reported with " + ftoa(n)
			}
		}
		return true, ""
	})
}

func TestAProbeReadsWhatAReadReads(t *testing.T) {
	requireManagement(t)
	a := newAdmin(t)
	q := a.queue("probe-read")
	a.publish(q, 10)
	a.holdUnacked(q, 4)
	typ := NewType()
	meta := map[string]string{"queueName": q, "value": "5"}
	cases := []struct {
		name    string
		meta    map[string]string
		batched bool
		want    float64
		active  bool
	}{
		{"over the management API a probe counts ready and unacknowledged messages", scalertest.With(meta, "host", mgmtURL), true, 10, true},
		{"with excludeUnacknowledged a probe counts only ready messages", scalertest.With(meta, "host", mgmtURL, "excludeUnacknowledged", "true"), true, 6, true},
		{"a probe above the activation value is active", scalertest.With(meta, "host", mgmtURL, "activationValue", "9"), true, 10, true},
		{"a probe at the activation value is not active", scalertest.With(meta, "host", mgmtURL, "activationValue", "10"), true, 10, false},
		{"over AMQP a probe is a read of the ready messages", scalertest.With(meta, "host", amqpURL), false, 6, true},
		{"with a regular expression a probe is a read", scalertest.With(meta, "host", mgmtURL, "useRegex", "true", "queueName", "^"+q+"$"), false, 10, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc := scalertest.NewScaler(t, typ, trigger(tc.meta, nil))
			if got := sc.(*scaler).batch != nil; got != tc.batched {
				t.Fatalf("batched = %v, want %v", got, tc.batched)
			}
			scalertest.Eventually(t, 30*time.Second, "a probe and a read to agree on "+ftoa(tc.want), func() (bool, string) {
				p, perr := probe(sc)
				r, rerr := scalertest.Read(sc)
				if perr != nil || rerr != nil {
					return false, fmt.Sprintf("probe error %v, read error %v", perr, rerr)
				}
				return p == r && p.Value == tc.want, fmt.Sprintf("probe %+v, read %+v", p, r)
			})
			if p, _ := probe(sc); p.Active != tc.active {
				t.Errorf("probe Active = %v, want %v", p.Active, tc.active)
			}
		})
	}
	t.Run("with MessageRate a probe is a read", func(t *testing.T) {
		sc := scalertest.NewScaler(t, typ, trigger(scalertest.With(meta, "host", mgmtURL, "mode", "MessageRate"), nil))
		if sc.(*scaler).batch != nil {
			t.Fatal("a MessageRate trigger is batched")
		}
		if _, err := probe(sc); err != nil {
			t.Fatal(err)
		}
	})
}

func TestTwoHundredIdleTriggersOnOneVhostCostOneRequestPerRound(t *testing.T) {
	const n = 200
	proxy := newMgmtProxy(t)
	a := newAdmin(t)
	counts := make([]int, n)
	want := map[string]float64{}
	for i := range counts {
		if i%10 == 0 {
			counts[i] = 1 + i/10%3
		}
	}
	qs := a.queues("idle", n, counts...)
	for i, q := range qs {
		want[q] = float64(counts[i])
	}
	waitForCounts(t, want)

	typ := NewType()
	clock := fakeClock(typ)
	scs := make([]scalers.Scaler, n)
	for i, q := range qs {
		tr := trigger(map[string]string{"host": proxy.host(), "queueName": q, "value": "1"}, nil)
		tr.ScaledObject = fmt.Sprintf("worker-%d", i)
		scs[i] = scalertest.NewScaler(t, typ, tr)
	}
	check := func(t *testing.T, outs []outcome) {
		t.Helper()
		for i, o := range outs {
			if o.err != nil {
				t.Fatalf("probe of %s: %v", qs[i], o.err)
			}
			if o.r.Value != want[qs[i]] || o.r.Active != (want[qs[i]] > 0) {
				t.Fatalf("probe of %s = %+v, want %v", qs[i], o.r, want[qs[i]])
			}
		}
	}

	t.Run("the first round costs at most two requests", func(t *testing.T) {
		before := proxy.requests()
		check(t, probeAll(scs))
		if got := proxy.requests() - before; got > 2 {
			t.Errorf("%d concurrent first probes made %d requests: %v", n, got, proxy.since(before))
		}
	})
	t.Run("every later round costs one request, listing the vhost", func(t *testing.T) {
		for round := 0; round < 3; round++ {
			clock.Step(defaultMaxAge)
			before := proxy.requests()
			check(t, probeAll(scs))
			reqs := proxy.since(before)
			if len(reqs) != 1 {
				t.Fatalf("round %d: %d probes made %d requests, want 1: %v", round, n, len(reqs), reqs)
			}
			if !strings.HasPrefix(reqs[0], "/api/queues/%2F?") || strings.Contains(reqs[0], "page=") {
				t.Errorf("round %d asked for %s, want the whole vhost", round, reqs[0])
			}
			if !strings.Contains(reqs[0], "columns=name,messages,messages_ready") {
				t.Errorf("round %d asked for %s, want only the columns it needs", round, reqs[0])
			}
		}
	})
	t.Run("where concurrent reads cost one request per trigger", func(t *testing.T) {
		before := proxy.requests()
		var wg sync.WaitGroup
		for _, sc := range scs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := scalertest.Read(sc); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if got := proxy.requests() - before; got != n {
			t.Errorf("%d reads made %d requests, want %d", n, got, n)
		}
	})
}

// The requests a batch makes, by how many queues of the vhost are probed.
func TestABatchAsksOnlyForWhatItNeeds(t *testing.T) {
	proxy := newMgmtProxy(t)
	a := newAdmin(t)
	qs := a.queues("ask", 3, 2, 3, 4)
	waitForCounts(t, map[string]float64{qs[0]: 2, qs[1]: 3, qs[2]: 4})
	cases := []struct {
		name        string
		queues      []string
		maxFiltered int
		want        func(uri string) bool
	}{
		{"one probed queue is read alone", qs[:1], defaultMaxFiltered, func(u string) bool {
			return strings.HasPrefix(u, "/api/queues/%2F/"+qs[0]+"?columns=name,messages,messages_ready")
		}},
		{"a few probed queues are listed by name", qs, defaultMaxFiltered, func(u string) bool {
			v, err := url.ParseQuery(strings.SplitN(u, "?", 2)[1])
			return err == nil && strings.HasPrefix(u, "/api/queues/%2F?") && v.Get("use_regex") == "true" && v.Get("page") == "1" &&
				v.Get("columns") == "name,messages,messages_ready" && strings.Count(v.Get("name"), "|") == 2
		}},
		{"more probed queues than a name filter takes list the whole vhost", qs, 2, func(u string) bool {
			return u == "/api/queues/%2F?columns=name,messages,messages_ready"
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			typ := NewType()
			typ.probes.maxFiltered = tc.maxFiltered
			clock := fakeClock(typ)
			var scs []scalers.Scaler
			for _, q := range tc.queues {
				scs = append(scs, scalertest.NewScaler(t, typ, trigger(map[string]string{"host": proxy.host(), "queueName": q, "value": "1"}, nil)))
			}
			probeAll(scs) // every queue is probed: the next batch asks for all
			clock.Step(defaultMaxAge)
			before := proxy.requests()
			for i, o := range probeAll(scs) {
				if o.err != nil || o.r.Value != float64(i+2) {
					t.Errorf("probe of %s = %+v, %v; want %d", tc.queues[i], o.r, o.err, i+2)
				}
			}
			reqs := proxy.since(before)
			if len(reqs) != 1 || !tc.want(reqs[0]) {
				t.Errorf("the batch asked %v", reqs)
			}
		})
	}
}

func TestANameFilterMatchesExactNamesOnly(t *testing.T) {
	proxy := newMgmtProxy(t)
	a := newAdmin(t)
	base := uniqueName("filter")
	exists := map[string]int{
		base + "-axc":                       2,
		base + "-Axc":                       3,
		base + `-(x)|[y]*+?^$\{z}#. spaced`: 4,
	}
	var names []string
	for q, n := range exists {
		if _, err := a.ch.QueueDeclare(q, false, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
		names = append(names, q)
		a.publish(q, n)
	}
	t.Cleanup(func() { deleteQueues(names) })
	want := map[string]float64{}
	for q, n := range exists {
		want[q] = float64(n)
	}
	waitForCounts(t, want)

	typ := NewType()
	clock := fakeClock(typ)
	probed := []string{
		base + "-axc",                       // 2
		base + `-(x)|[y]*+?^$\{z}#. spaced`, // 4
		base + "-a.c",                       // missing: "." is not a wildcard
		base + "-AXC",                       // missing: names are case-sensitive
		base + "-axc|" + base + "-Axc",      // missing: "|" is not an alternative
	}
	var scs []scalers.Scaler
	for _, q := range probed {
		scs = append(scs, scalertest.NewScaler(t, typ, trigger(map[string]string{"host": proxy.host(), "queueName": q, "value": "1"}, nil)))
	}
	probeAll(scs) // every queue is probed: the next batch asks for all
	clock.Step(defaultMaxAge)
	before := proxy.requests()
	outs := probeAll(scs)
	if reqs := proxy.since(before); len(reqs) != 1 || !strings.Contains(reqs[0], "use_regex=true") {
		t.Fatalf("five probed queues asked %v, want one filtered listing", reqs)
	}
	if got := typ.probes.lastFound(scs[0].(*scaler).batch.Vhost); len(got) != 2 {
		t.Errorf("the broker answered the filter with %q, want the two probed queues that exist", got)
	}
	for i, o := range outs {
		if n, ok := exists[probed[i]]; ok {
			if o.err != nil || o.r.Value != float64(n) {
				t.Errorf("probe of %q = %+v, %v; want %d", probed[i], o.r, o.err, n)
			}
		} else if !errors.Is(o.err, ErrQueueNotFound) || o.r != (scalers.Reading{}) {
			t.Errorf("probe of %q = %+v, %v; want ErrQueueNotFound", probed[i], o.r, o.err)
		}
	}
}

func TestNameFilters(t *testing.T) {
	long := strings.Repeat("q", 255)
	cases := []struct {
		name   string
		names  []string
		filter string
		ok     bool
	}{
		{"names are anchored, case-sensitive and sorted", []string{"b", "a"}, `^(?-i)(?:a|b)$`, true},
		{"metacharacters are escaped", []string{`a.b*c`, `(x)|[y]{z}`, `^$\?+#`}, `^(?-i)(?:\(x\)\|\[y\]\{z\}|\^\$\\\?\+\#|a\.b\*c)$`, true},
		{"dashes, spaces and slashes are plain", []string{"orders-eu/1 x"}, `^(?-i)(?:orders-eu/1 x)$`, true},
		{"a name outside printable ASCII lists the whole vhost", []string{"a", "commandes-reçues"}, "", false},
		{"a control character lists the whole vhost", []string{"a\tb"}, "", false},
		{"a filter too long for a URL lists the whole vhost", []string{long + "1", long + "2", long + "3", long + "4", long + "5", long + "6", long + "7", long + "8", long + "9", long + "10", long + "11", long + "12", long + "13", long + "14", long + "15", long + "16"}, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			filter, ok := nameFilter(tc.names)
			if ok != tc.ok || (ok && filter != tc.filter) {
				t.Errorf("nameFilter(%q) = %q, %v; want %q, %v", tc.names, filter, ok, tc.filter, tc.ok)
			}
		})
	}
}

func TestAMissingQueueFailsOnlyItsOwnProbe(t *testing.T) {
	proxy := newMgmtProxy(t)
	a := newAdmin(t)
	qs := a.queues("present", 2, 3, 5)
	waitForCounts(t, map[string]float64{qs[0]: 3, qs[1]: 5})
	missing := uniqueName("missing")
	cases := []struct {
		name        string
		queues      []string
		maxFiltered int
	}{
		{"probed alone", []string{missing}, defaultMaxFiltered},
		{"among a few probed queues (a name filter)", []string{qs[0], missing, qs[1]}, defaultMaxFiltered},
		{"among many probed queues (the whole vhost)", []string{qs[0], missing, qs[1]}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			typ := NewType()
			typ.probes.maxFiltered = tc.maxFiltered
			var scs []scalers.Scaler
			for _, q := range tc.queues {
				scs = append(scs, scalertest.NewScaler(t, typ, trigger(map[string]string{"host": proxy.host(), "queueName": q, "value": "1"}, nil)))
			}
			for round := 0; round < 2; round++ { // the second round's batch asks for every queue
				for i, o := range probeAll(scs) {
					switch q := tc.queues[i]; q {
					case missing:
						if !errors.Is(o.err, ErrQueueNotFound) || o.r != (scalers.Reading{}) {
							t.Errorf("round %d: probe of the missing queue = %+v, %v; want ErrQueueNotFound", round, o.r, o.err)
						}
					default:
						if wantV := map[string]float64{qs[0]: 3, qs[1]: 5}[q]; o.err != nil || o.r.Value != wantV {
							t.Errorf("round %d: probe of %s = %+v, %v; want %v", round, q, o.r, o.err, wantV)
						}
					}
				}
			}
		})
	}
	t.Run("a vhost that does not exist fails the probes of its triggers", func(t *testing.T) {
		typ := NewType()
		sc := scalertest.NewScaler(t, typ, trigger(map[string]string{"host": proxy.host(), "queueName": qs[0], "value": "1", "vhostName": uniqueName("no-vhost")}, nil))
		other := scalertest.NewScaler(t, typ, trigger(map[string]string{"host": proxy.host(), "queueName": qs[0], "value": "1"}, nil))
		outs := probeAll([]scalers.Scaler{sc, other})
		if !errors.Is(outs[0].err, ErrVhostNotFound) || outs[0].r != (scalers.Reading{}) {
			t.Errorf("probe in a missing vhost = %+v, %v; want ErrVhostNotFound", outs[0].r, outs[0].err)
		}
		if outs[1].err != nil || outs[1].r.Value != 3 {
			t.Errorf("probe in the default vhost = %+v, %v; want 3", outs[1].r, outs[1].err)
		}
	})
}

func TestACallerThatGivesUpDoesNotFailTheOthersOfItsBatch(t *testing.T) {
	proxy := newMgmtProxy(t)
	a := newAdmin(t)
	qs := a.queues("give-up", 2, 2, 3)
	waitForCounts(t, map[string]float64{qs[0]: 2, qs[1]: 3})
	cases := []struct {
		name    string
		quitter map[string]string
		giveUp  func(cancel context.CancelFunc)
		want    error
	}{
		{"a caller whose context is cancelled", nil, func(cancel context.CancelFunc) { cancel() }, context.Canceled},
		{"a trigger whose timeout passes", map[string]string{"timeout": "300ms"}, func(context.CancelFunc) {}, context.DeadlineExceeded},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			proxy.delay.Store(0)
			typ := NewType()
			clock := fakeClock(typ)
			meta := map[string]string{"host": proxy.host(), "value": "1"}
			quitter := scalertest.NewScaler(t, typ, trigger(scalertest.With(scalertest.With(meta, "queueName", qs[0]), flatten(tc.quitter)...), nil))
			stayer := scalertest.NewScaler(t, typ, trigger(scalertest.With(meta, "queueName", qs[1]), nil))
			probeAll([]scalers.Scaler{quitter, stayer}) // both queues are probed: the next batch asks for both
			clock.Step(defaultMaxAge)

			proxy.delay.Store(int64(time.Second)) // the broker now takes a second to answer
			before := proxy.requests()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			quit := make(chan outcome, 1)
			start := time.Now()
			go func() {
				r, err := quitter.(scalers.Prober).Probe(ctx)
				quit <- outcome{r, err}
			}()
			scalertest.Eventually(t, 10*time.Second, "the quitter's batch to reach the broker", func() (bool, string) {
				return proxy.requests() > before, "no request"
			})
			stay := make(chan outcome, 1)
			go func() {
				r, err := probe(stayer)
				stay <- outcome{r, err}
			}()
			tc.giveUp(cancel)
			q := <-quit
			if !errors.Is(q.err, tc.want) || q.r != (scalers.Reading{}) {
				t.Errorf("the quitter's probe = %+v, %v; want %v", q.r, q.err, tc.want)
			}
			if took := time.Since(start); took > 900*time.Millisecond {
				t.Errorf("the quitter's probe returned after %s, before the broker answered", took)
			}
			s := <-stay
			if s.err != nil || s.r.Value != 3 {
				t.Errorf("the probe that joined = %+v, %v; want 3", s.r, s.err)
			}
			if reqs := proxy.since(before); len(reqs) != 1 {
				t.Errorf("the two probes made %d requests, want 1: %v", len(reqs), reqs)
			}
		})
	}
}

// flatten turns a map into key/value pairs for with.
func flatten(m map[string]string) []string {
	var kv []string
	for k, v := range m {
		kv = append(kv, k, v)
	}
	return kv
}

func TestTheManagementAPIGoingAwayFailsProbesThenTheyRecover(t *testing.T) {
	requireManagement(t)
	a := newAdmin(t)
	qs := a.queues("api-outage", 2, 5)
	waitForCounts(t, map[string]float64{qs[0]: 5, qs[1]: 0})
	proxy := faultproxy.New(t, mgmtAddr, nil)
	password := "guest"
	typ := NewType()
	var scs []scalers.Scaler
	for _, q := range qs {
		scs = append(scs, scalertest.NewScaler(t, typ, trigger(map[string]string{"host": "http://" + proxy.Addr() + "/", "queueName": q, "value": "1", "timeout": "2s"},
			map[string]string{"username": "guest", "password": password})))
	}
	reads := func(want ...float64) func() (bool, string) {
		return func() (bool, string) {
			var saw []string
			ok := true
			for i, o := range probeAll(scs) {
				if o.err != nil {
					saw, ok = append(saw, o.err.Error()), false
					continue
				}
				saw, ok = append(saw, ftoa(o.r.Value)), ok && o.r.Value == want[i]
			}
			return ok, strings.Join(saw, ", ")
		}
	}
	scalertest.Eventually(t, 30*time.Second, "the probes to read 5 and 0", reads(5, 0))

	proxy.Stop()
	scalertest.Eventually(t, 20*time.Second, "every probe to fail while the API is away", func() (bool, string) {
		var saw []string
		for _, o := range probeAll(scs) {
			if o.err == nil {
				return false, "value " + ftoa(o.r.Value)
			}
			if o.r != (scalers.Reading{}) {
				t.Fatalf("a failed probe returned %+v", o.r)
			}
			if strings.Contains(o.err.Error(), password+"@") || strings.Contains(o.err.Error(), ":"+password) {
				t.Fatalf("a probe's error shows the credentials: %v", o.err)
			}
			saw = append(saw, o.err.Error())
		}
		return true, strings.Join(saw, "; ")
	})

	a.publish(qs[1], 2) // the source changed while the API was away
	proxy.Start(t)
	scalertest.Eventually(t, 30*time.Second, "the probes to read 5 and 2 once the API is back", reads(5, 2))
}

func TestAStalledManagementAPITimesAProbeOutWithinItsTimeout(t *testing.T) {
	requireManagement(t)
	proxy := faultproxy.New(t, mgmtAddr, nil)
	proxy.Stall(true)
	sc := scalertest.NewScaler(t, NewType(), trigger(map[string]string{"host": "http://guest:guest@" + proxy.Addr() + "/", "queueName": "q", "value": "1", "timeout": "300ms"}, nil))
	start := time.Now()
	r, err := probe(sc)
	if !errors.Is(err, context.DeadlineExceeded) || r != (scalers.Reading{}) {
		t.Fatalf("probe of a silent API = %+v, %v; want a deadline error", r, err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("probe took %s with a 300ms timeout", took)
	}
}

func TestAStalledBatchEndsByItsOwnTimeoutSoProbesSeeTheAPIComeBack(t *testing.T) {
	requireManagement(t)
	a := newAdmin(t)
	qs := a.queues("stalled-batch", 1, 3)
	waitForCounts(t, map[string]float64{qs[0]: 3})
	proxy := faultproxy.New(t, mgmtAddr, nil)
	typ := NewType()
	typ.probes.maxTimeout = time.Second
	sc := scalertest.NewScaler(t, typ, trigger(map[string]string{"host": "http://guest:guest@" + proxy.Addr() + "/", "queueName": qs[0], "value": "1", "timeout": "1h"}, nil))
	probeWithin := func(d time.Duration) (scalers.Reading, error) {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		return sc.(scalers.Prober).Probe(ctx)
	}

	proxy.Stall(true)
	if r, err := probeWithin(300 * time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("probe of a silent API = %+v, %v; want a deadline error", r, err)
	}
	proxy.Stall(false) // the API answers again; the batch in flight does not know
	start := time.Now()
	scalertest.Eventually(t, 10*time.Second, "a probe to read 3 once the API is back", func() (bool, string) {
		r, err := probeWithin(500 * time.Millisecond)
		if err != nil {
			return false, err.Error()
		}
		return r.Value == 3, "value " + ftoa(r.Value)
	})
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("probes read again after %s; the stalled batch should have ended after 1s", took)
	}
}

func TestAWrongPasswordFailsAProbeWithoutShowingIt(t *testing.T) {
	requireManagement(t)
	password := "Wr0ng-" + uniqueName("pw")
	sc := scalertest.NewScaler(t, NewType(), trigger(map[string]string{"host": mgmtURL, "queueName": "q", "value": "1"}, map[string]string{"password": password}))
	r, err := probe(sc)
	if err == nil || r != (scalers.Reading{}) {
		t.Fatalf("probe with a wrong password = %+v, %v; want an error", r, err)
	}
	if strings.Contains(err.Error(), password) || strings.Contains(err.Error(), "Wr0ng") {
		t.Errorf("error shows the password: %v", err)
	}
	if !strings.Contains(err.Error(), "credentials") {
		t.Errorf("error %q does not say the credentials were refused", err)
	}
}

func TestAProbeIsServedFromABatchYoungerThanTheMaxAge(t *testing.T) {
	proxy := newMgmtProxy(t)
	a := newAdmin(t)
	qs := a.queues("max-age", 1, 4)
	waitForCounts(t, map[string]float64{qs[0]: 4})
	typ := NewType()
	clock := fakeClock(typ)
	one := scalertest.NewScaler(t, typ, trigger(map[string]string{"host": proxy.host(), "queueName": qs[0], "value": "1"}, nil))
	other := scalertest.NewScaler(t, typ, trigger(map[string]string{"host": proxy.host(), "queueName": qs[0], "value": "2", "excludeUnacknowledged": "true"}, nil))
	steps := []struct {
		name     string
		step     time.Duration
		sc       scalers.Scaler
		requests int
	}{
		{"the first probe asks the broker", 0, one, 1},
		{"a probe at once is served from that batch", 0, one, 0},
		{"another trigger on the queue is served from it too", 0, other, 0},
		{"a probe just before the max age is served from it", defaultMaxAge - time.Millisecond, one, 0},
		{"a probe at the max age asks again", time.Millisecond, one, 1},
	}
	for _, s := range steps {
		clock.Step(s.step)
		before := proxy.requests()
		r, err := probe(s.sc)
		if err != nil || r.Value != 4 {
			t.Fatalf("%s: probe = %+v, %v; want 4", s.name, r, err)
		}
		if got := proxy.requests() - before; got != s.requests {
			t.Errorf("%s: %d requests, want %d", s.name, got, s.requests)
		}
	}
}

func TestInterestThatIsNotRenewedIsForgotten(t *testing.T) {
	proxy := newMgmtProxy(t)
	a := newAdmin(t)
	qs := a.queues("interest", 2, 1, 2)
	waitForCounts(t, map[string]float64{qs[0]: 1, qs[1]: 2})
	typ := NewType()
	clock := fakeClock(typ)
	kept := scalertest.NewScaler(t, typ, trigger(map[string]string{"host": proxy.host(), "queueName": qs[0], "value": "1"}, nil))
	dropped := scalertest.NewScaler(t, typ, trigger(map[string]string{"host": proxy.host(), "queueName": qs[1], "value": "1"}, nil))
	probeAll([]scalers.Scaler{kept, dropped})
	ttl := typ.probes.interestTTL

	asked := func(t *testing.T) string {
		t.Helper()
		before := proxy.requests()
		if r, err := probe(kept); err != nil || r.Value != 1 {
			t.Fatalf("probe = %+v, %v; want 1", r, err)
		}
		reqs := proxy.since(before)
		if len(reqs) != 1 {
			t.Fatalf("a probe after the max age made %d requests: %v", len(reqs), reqs)
		}
		return reqs[0]
	}
	t.Run("a queue probed within the interest TTL stays in the batch", func(t *testing.T) {
		clock.Step(ttl / 2)
		if got := asked(t); !strings.Contains(got, url.QueryEscape(qs[1])) {
			t.Errorf("the batch asked %s, without the queue probed %s ago", got, ttl/2)
		}
	})
	t.Run("a queue not probed for the interest TTL leaves it", func(t *testing.T) {
		clock.Step(ttl / 2)
		if got, want := asked(t), "/api/queues/%2F/"+qs[0]+"?"; !strings.HasPrefix(got, want) {
			t.Errorf("the batch asked %s, want the one queue still probed (%s...)", got, want)
		}
	})
	t.Run("a vhost not probed for the interest TTL is forgotten", func(t *testing.T) {
		elsewhere := scalertest.NewScaler(t, typ, trigger(map[string]string{"host": mgmtURL, "queueName": qs[0], "value": "1"}, nil))
		if _, err := probe(elsewhere); err != nil {
			t.Fatal(err)
		}
		if n := typ.probes.vhostsHeld(); n != 2 {
			t.Fatalf("the batcher holds %d vhosts, want 2", n)
		}
		clock.Step(ttl)
		if _, err := probe(elsewhere); err != nil {
			t.Fatal(err)
		}
		if n := typ.probes.vhostsHeld(); n != 1 {
			t.Errorf("after the interest TTL the batcher holds %d vhosts, want 1", n)
		}
	})
}

func TestAClosedScalerDoesNotProbe(t *testing.T) {
	requireManagement(t)
	sc := scalertest.NewScaler(t, NewType(), trigger(map[string]string{"host": mgmtURL, "queueName": "q", "value": "1"}, nil))
	_ = sc.Close()
	if r, err := probe(sc); err == nil || r != (scalers.Reading{}) {
		t.Errorf("probe of a closed scaler = %+v, %v; want an error", r, err)
	}
}

// vhostsHeld is the number of vhosts the batcher keeps state for.
func (b *batcher) vhostsHeld() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.vhosts)
}

// lastFound names the queues the vhost's latest batch found.
func (b *batcher) lastFound(v Vhost) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var names []string
	if vb := b.vhosts[v]; vb != nil && vb.last != nil {
		for q := range vb.last.depths {
			names = append(names, q)
		}
	}
	return names
}
