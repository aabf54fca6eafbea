// SPDX-License-Identifier: Apache-2.0

package http

import (
	"context"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/http/interceptor"
)

// These tests run real interceptors (package interceptor's proxy and admin
// handler) as replicas whose admin endpoints listen on one port of
// different loopback addresses (127.0.0.2:P, 127.0.0.3:P, ...: all of
// 127/8 is loopback on Linux), as the pods behind a headless Service do.
// Only the name lookup is injected: the interceptorURL's host resolves to
// those addresses, as a headless Service's name does to its ready pods.

// replicaHost is the interceptorURL's host in these tests.
const replicaHost = "ebb-interceptor-admin.ebb.svc"

// fakeDNS answers lookups of replicaHost with the addresses set.
type fakeDNS struct {
	mu      sync.Mutex
	addrs   []string
	lookups int
}

func (d *fakeDNS) set(addrs ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.addrs = slices.Clone(addrs)
}

func (d *fakeDNS) lookup(_ context.Context, host string) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lookups++
	if host != replicaHost || len(d.addrs) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return slices.Clone(d.addrs), nil
}

// icReplica is one interceptor replica: its proxy (on 127.0.0.1) and its
// admin endpoint at ip:port.
type icReplica struct {
	ic    *interceptor.Interceptor
	ip    string
	proxy string
	admin *nethttp.Server
}

// addr is the replica's admin address, as the scaler's errors name it.
func (r *icReplica) addr(port int) string { return net.JoinHostPort(r.ip, fmt.Sprint(port)) }

// replicaSet is interceptor replicas whose admin endpoints share a port.
type replicaSet struct {
	port int
	reps []*icReplica
	dns  *fakeDNS
}

// url is the interceptorURL naming every replica.
func (s *replicaSet) url() string { return fmt.Sprintf("http://%s:%d", replicaHost, s.port) }

// startReplicas starts n interceptors with cfg, their admin endpoints on
// 127.0.0.2:P, 127.0.0.3:P, ... The DNS resolves replicaHost to all of them.
func startReplicas(t *testing.T, n int, cfg interceptor.Config) *replicaSet {
	t.Helper()
	cfgs := make([]interceptor.Config, n)
	for i := range cfgs {
		cfgs[i] = cfg
	}
	return startReplicasEach(t, cfgs...)
}

// startReplicasEach starts one interceptor per cfg, as startReplicas.
func startReplicasEach(t *testing.T, cfgs ...interceptor.Config) *replicaSet {
	t.Helper()
	n := len(cfgs)
	var lns []net.Listener
	var port int
	for try := 0; try < 20 && len(lns) < n; try++ {
		for _, ln := range lns {
			ln.Close()
		}
		lns = nil
		ln, err := net.Listen("tcp", "127.0.0.2:0")
		if err != nil {
			t.Fatalf("listen on 127.0.0.2: %v", err)
		}
		lns = append(lns, ln)
		port = ln.Addr().(*net.TCPAddr).Port
		for i := 1; i < n; i++ {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:%d", 2+i, port))
			if err != nil {
				break // the port is taken there: try another
			}
			lns = append(lns, ln)
		}
	}
	if len(lns) < n {
		t.Fatalf("found no port free on %d loopback addresses", n)
	}
	set := &replicaSet{port: port, dns: &fakeDNS{}}
	for i, ln := range lns {
		set.reps = append(set.reps, startReplica(t, cfgs[i], fmt.Sprintf("127.0.0.%d", 2+i), ln))
	}
	set.dns.set(set.ips()...)
	return set
}

// add starts one more replica on the next loopback address and the same
// port; the DNS does not know it yet.
func (s *replicaSet) add(t *testing.T, cfg interceptor.Config) *icReplica {
	t.Helper()
	ip := fmt.Sprintf("127.0.0.%d", 2+len(s.reps))
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, fmt.Sprint(s.port)))
	if err != nil {
		t.Skipf("port %d is taken on %s: %v", s.port, ip, err)
	}
	r := startReplica(t, cfg, ip, ln)
	s.reps = append(s.reps, r)
	return r
}

func (s *replicaSet) ips() []string {
	var ips []string
	for _, r := range s.reps {
		ips = append(ips, r.ip)
	}
	return ips
}

func startReplica(t *testing.T, cfg interceptor.Config, ip string, admin net.Listener) *icReplica {
	t.Helper()
	ic, err := interceptor.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httptest.NewServer(ic)
	t.Cleanup(func() { proxy.Close(); ic.CloseIdleConnections() })
	srv := &nethttp.Server{Handler: ic.AdminHandler(icToken)}
	go func() { _ = srv.Serve(admin) }()
	t.Cleanup(func() { _ = srv.Close() })
	return &icReplica{ic: ic, ip: ip, proxy: proxy.URL, admin: srv}
}

// newReplicaType is a Type whose lookups go to dns.
func newReplicaType(dns *fakeDNS) *Type {
	typ := NewType()
	typ.resolver.lookup = dns.lookup
	return typ
}

// newTriggerScaler builds tr's Scaler, closed at the end of the test.
func newTriggerScaler(t *testing.T, typ *Type, tr scalers.Trigger) scalers.Scaler {
	t.Helper()
	sc, err := typ.New(tr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sc.Close() })
	return sc
}

// send sends one GET through the replica's proxy in the background; the
// returned channel closes when it is answered.
func send(ctx context.Context, r *icReplica, host string) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := nethttp.NewRequestWithContext(ctx, nethttp.MethodGet, r.proxy+"/", nil)
		req.Host = host
		if resp, err := nethttp.DefaultClient.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	return done
}

func sumRates(reps []*icReplica) float64 {
	var sum float64
	for _, r := range reps {
		sum += r.ic.Stats(0, "shop/web")[0].RequestRate
	}
	return sum
}

// The request rate read is the sum of the replicas' rates, and the
// requests in flight are summed too.
func TestInterceptorReplicasAreSummed(t *testing.T) {
	release := make(chan struct{})
	var releaseOnce sync.Once
	free := func() { releaseOnce.Do(func() { close(release) }) }
	defer free()
	backend := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer backend.Close()
	set := startReplicas(t, 3, interceptor.Config{Window: time.Minute, Routes: []interceptor.Route{
		{Name: "shop/web", Host: "*", Backend: backend.URL},
	}})
	typ := newReplicaType(set.dns)
	rate := newTriggerScaler(t, typ, interceptorTrigger(set.url(), "window", "1m"))

	// 30, 10 and 5 requests through the three replicas.
	for i, n := range []int{30, 10, 5} {
		for j := 0; j < n; j++ {
			resp, err := nethttp.Get(set.reps[i].proxy + "/")
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	for i, n := range []int64{30, 10, 5} {
		if got := set.reps[i].ic.Stats(0, "shop/web")[0].RequestsTotal; got != n {
			t.Fatalf("replica %d counted %d requests, want %d", i, got, n)
		}
	}
	// No request arrives any more, so each replica's rate only falls (its
	// count stays, the time it is divided by grows while the window is
	// younger than its minute): the sum read lies between the sums taken
	// just after and just before.
	before := sumRates(set.reps)
	r, err := read(t, rate)
	after := sumRates(set.reps)
	if err != nil {
		t.Fatal(err)
	}
	if r.Value > before || r.Value < after || !r.Active {
		t.Fatalf("read %+v; want the sum of the 3 replicas' rates, between %.3f and %.3f, and active", r, after, before)
	}
	if single := set.reps[0].ic.Stats(0, "shop/web")[0].RequestRate; r.Value < 1.3*single {
		t.Errorf("read %.3f, hardly more than the first replica's %.3f alone", r.Value, single)
	}

	// 2, 1 and 3 requests in flight.
	conc := newTriggerScaler(t, typ, interceptorTrigger(set.url(), "targetRequestRate", "<unset>", "targetConcurrency", "5"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var answered []<-chan struct{}
	for i, n := range []int{2, 1, 3} {
		for j := 0; j < n; j++ {
			answered = append(answered, sendPath(ctx, set.reps[i], "/slow"))
		}
	}
	for i, n := range []int64{2, 1, 3} {
		eventually(t, 10*time.Second, fmt.Sprintf("%d requests in flight on replica %d", n, i), func() bool {
			return set.reps[i].ic.Stats(0, "shop/web")[0].InFlight == n
		})
	}
	if r, err := read(t, conc); err != nil || r.Value != 6 || !r.Active {
		t.Fatalf("6 requests in flight on 3 replicas: %+v, %v; want 6, active", r, err)
	}
	// The probe (one GET of every route per replica, shared) reads the same.
	p, err := conc.(scalers.Prober).Probe(context.Background())
	if err != nil || p.Value != 6 {
		t.Fatalf("probe: %+v, %v; want 6", p, err)
	}
	free()
	for _, ch := range answered {
		<-ch
	}
}

func sendPath(ctx context.Context, r *icReplica, path string) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := nethttp.NewRequestWithContext(ctx, nethttp.MethodGet, r.proxy+path, nil)
		if resp, err := nethttp.DefaultClient.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	return done
}

// gatedConfig has one route whose Service has no ready endpoint: its
// requests are held.
func gatedConfig() interceptor.Config {
	return interceptor.Config{HoldTimeout: time.Minute, Routes: []interceptor.Route{
		{Name: "shop/web", Host: "web.example", Backend: "http://127.0.0.1:1", Namespace: "shop", Service: "web"},
	}}
}

// watcherOf returns the Type's activation watcher of the replica set.
func watcherOf(typ *Type, set *replicaSet) *watcher {
	typ.watchMu.Lock()
	defer typ.watchMu.Unlock()
	return typ.watchers[watchKey{base: set.url(), clientKey: clientKey{origin: set.url(), bearerToken: icToken}}]
}

// answeredBy waits until the watcher's long poll of each address has been
// answered at least once (the snapshot), so the next one is waiting.
func answeredBy(t *testing.T, w *watcher, addrs ...string) {
	t.Helper()
	eventually(t, 10*time.Second, fmt.Sprintf("a long poll answered by each of %v", addrs), func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, a := range addrs {
			if w.polled[a] < 1 {
				return false
			}
		}
		return true
	})
}

// A request held by the second replica wakes the route's triggers through
// the push (a long poll per replica), and the read counts it.
func TestInterceptorReplicasHeldRequestOnAnyReplicaWakesTheTarget(t *testing.T) {
	set := startReplicas(t, 2, gatedConfig())
	typ := newReplicaType(set.dns)
	sc := newTriggerScaler(t, typ, interceptorTrigger(set.url(), "targetRequestRate", "<unset>", "targetConcurrency", "5", "activationConcurrency", "100"))
	var wakes sync.WaitGroup
	wakes.Add(1)
	var once sync.Once
	stop := sc.(scalers.Notifier).Notify(func() { once.Do(wakes.Done) })
	defer stop()
	w := watcherOf(typ, set)
	if w == nil {
		t.Fatal("no activation watcher for the replicas' URL")
	}
	if n := typ.activationWatchers(); n != 1 {
		t.Fatalf("%d watchers, want 1 for one interceptorURL", n)
	}
	answeredBy(t, w, set.reps[0].addr(set.port), set.reps[1].addr(set.port))
	w.mu.Lock()
	polling := slices.Clone(w.polling)
	w.mu.Unlock()
	if want := []string{set.reps[0].addr(set.port), set.reps[1].addr(set.port)}; !slices.Equal(polling, want) {
		t.Fatalf("long polls of %v, want %v", polling, want)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	held := send(ctx, set.reps[1], "web.example")
	woken := make(chan struct{})
	go func() { wakes.Wait(); close(woken) }()
	select {
	case <-woken:
	case <-time.After(20 * time.Second):
		t.Fatal("a request held by the second replica did not wake the trigger")
	}
	if r, err := read(t, sc); err != nil || r.Value != 1 || !r.Active {
		t.Fatalf("one request held on the second replica: %+v, %v; want 1, active", r, err)
	}
	set.reps[1].ic.SetReadyEndpoints("shop", "web", 1)
	<-held
}

// A replica that cannot be read fails the read, naming its address and not
// the token; never a sum of the others.
func TestInterceptorReplicasOneDownIsAnError(t *testing.T) {
	set := startReplicas(t, 2, interceptor.Config{Routes: []interceptor.Route{{Name: "shop/web", Host: "*", Backend: "http://127.0.0.1:1"}}})
	typ := newReplicaType(set.dns)
	sc := newTriggerScaler(t, typ, interceptorTrigger(set.url(), "targetRequestRate", "<unset>", "targetConcurrency", "5"))
	if r, err := read(t, sc); err != nil || r.Value != 0 {
		t.Fatalf("two idle replicas: %+v, %v; want 0", r, err)
	}
	_ = set.reps[1].admin.Close()
	down := set.reps[1].addr(set.port)
	for name, get := range map[string]func() (scalers.Reading, error){
		"read":  func() (scalers.Reading, error) { return read(t, sc) },
		"probe": func() (scalers.Reading, error) { return sc.(scalers.Prober).Probe(context.Background()) },
	} {
		r, err := get()
		if err == nil {
			t.Fatalf("%s with a replica down: %+v, want an error", name, r)
		}
		msg := err.Error()
		t.Logf("%s: %s", name, msg)
		if !strings.Contains(msg, "interceptor replica "+down) || strings.Contains(msg, icToken) {
			t.Errorf("%s: %q; want it to name %s and not the token", name, msg, down)
		}
		if strings.Contains(msg, "replica "+set.reps[0].addr(set.port)) {
			t.Errorf("%s: %q names the replica that answered", name, msg)
		}
	}

	// A name that no longer resolves is an error (the failure above made
	// the next read look the name up again).
	set.dns.set()
	if _, err := read(t, sc); err == nil || !strings.Contains(err.Error(), "no such host") {
		t.Errorf("a name that does not resolve: %v; want the lookup's error", err)
	}
	// A replica without the route is an error too.
	route := func(name string) interceptor.Config {
		return interceptor.Config{Routes: []interceptor.Route{{Name: name, Host: "*", Backend: "http://127.0.0.1:1"}}}
	}
	other := startReplicasEach(t, route("shop/web"), route("shop/other"))
	sc2 := newTriggerScaler(t, newReplicaType(other.dns), interceptorTrigger(other.url(), "targetRequestRate", "<unset>", "targetConcurrency", "5"))
	_, err := read(t, sc2)
	if err == nil || !strings.Contains(err.Error(), "interceptor replica "+other.reps[1].addr(other.port)) || !strings.Contains(err.Error(), `no route "shop/web"`) {
		t.Errorf("a replica without the route: %v; want its address and the missing route", err)
	}
}

// A replica that appears later (a new ready pod) is long-polled and read;
// one that goes away is no longer polled.
func TestInterceptorReplicasThatComeAndGoArePolled(t *testing.T) {
	set := startReplicas(t, 1, gatedConfig())
	typ := newReplicaType(set.dns)
	typ.resolver.ttl = 50 * time.Millisecond
	typ.reresolve = 50 * time.Millisecond
	sc := newTriggerScaler(t, typ, interceptorTrigger(set.url(), "targetRequestRate", "<unset>", "targetConcurrency", "5"))
	var mu sync.Mutex
	wakes := 0
	stop := sc.(scalers.Notifier).Notify(func() { mu.Lock(); wakes++; mu.Unlock() })
	defer stop()
	w := watcherOf(typ, set)
	first := set.reps[0].addr(set.port)
	answeredBy(t, w, first)

	late := set.add(t, gatedConfig())
	set.dns.set(set.ips()...)
	answeredBy(t, w, late.addr(set.port))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mu.Lock()
	before := wakes
	mu.Unlock()
	held := send(ctx, late, "web.example")
	eventually(t, 20*time.Second, "a wake from the replica that came later", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return wakes > before
	})
	eventually(t, 10*time.Second, "the read to count both replicas", func() bool {
		r, err := read(t, sc)
		return err == nil && r.Value == 1 && r.Active
	})

	// The first replica goes away: its poll stops, reads go to the other.
	set.dns.set(late.ip)
	eventually(t, 10*time.Second, "only the late replica polled", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return slices.Equal(w.polling, []string{late.addr(set.port)})
	})
	_ = set.reps[0].admin.Close()
	eventually(t, 10*time.Second, "a read of the late replica alone", func() bool {
		r, err := read(t, sc)
		return err == nil && r.Value == 1
	})
	late.ic.SetReadyEndpoints("shop", "web", 1)
	<-held
}

// An IP address or localhost in the interceptorURL is not looked up.
func TestInterceptorReplicasAddressesAreNotLookedUp(t *testing.T) {
	dns := &fakeDNS{}
	res := newResolver(dns.lookup)
	for _, host := range []string{"127.0.0.1", "::1", "localhost", "web.localhost"} {
		addrs, err := res.addrs(context.Background(), host)
		if err != nil || addrs != nil {
			t.Errorf("%s: %v, %v; want no lookup", host, addrs, err)
		}
	}
	if dns.lookups != 0 {
		t.Errorf("%d lookups", dns.lookups)
	}
	dns.set("10.0.0.2", "10.0.0.1", "10.0.0.2")
	reps, err := res.replicas(context.Background(), "https://"+replicaHost+"/prefix/v1/routes?window=1m0s")
	if err != nil {
		t.Fatal(err)
	}
	want := []replica{
		{addr: "10.0.0.1:443", url: "https://10.0.0.1:443/prefix/v1/routes?window=1m0s", host: replicaHost},
		{addr: "10.0.0.2:443", url: "https://10.0.0.2:443/prefix/v1/routes?window=1m0s", host: replicaHost},
	}
	if !slices.Equal(reps, want) {
		t.Errorf("replicas %+v, want %+v", reps, want)
	}
	// The answer is kept for the TTL; forgetting it looks the host up again.
	if _, err := res.replicas(context.Background(), "http://"+replicaHost+":9090"); err != nil || dns.lookups != 1 {
		t.Errorf("a second read within the TTL: %v, %d lookups; want 1", err, dns.lookups)
	}
	res.forget(replicaHost)
	if _, err := res.replicas(context.Background(), "http://"+replicaHost+":9090"); err != nil || dns.lookups != 2 {
		t.Errorf("a read after forget: %v, %d lookups; want 2", err, dns.lookups)
	}
}

// The hosts come from tenants, so the cache of their addresses is bounded:
// past its size, expired entries go first, then the oldest.
func TestResolverCacheIsBounded(t *testing.T) {
	now := time.Unix(0, 0)
	res := newResolver(func(_ context.Context, host string) ([]string, error) { return []string{"10.0.0.1"}, nil })
	res.max, res.now = 3, func() time.Time { return now }
	for i := range 10 {
		now = now.Add(time.Second)
		if _, err := res.addrs(context.Background(), fmt.Sprintf("h%d.example", i)); err != nil {
			t.Fatal(err)
		}
		if n := len(res.cache); n > res.max {
			t.Fatalf("after %d hosts the cache holds %d entries, want at most %d", i+1, n, res.max)
		}
	}
	if _, ok := res.cache["h9.example"]; !ok {
		t.Error("the newest host is not cached")
	}
	if _, ok := res.cache["h6.example"]; ok {
		t.Error("the oldest host was kept over newer ones")
	}
}
