// SPDX-License-Identifier: Apache-2.0

package bench_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	amqp "github.com/rabbitmq/amqp091-go"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/custom-metrics-apiserver/pkg/provider"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/controller"
	"github.com/ebbscale/ebb/metricsadapter"
	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/rabbitmq"
	"github.com/ebbscale/ebb/tests/controlplane"
)

const (
	objects     = 1000
	concurrency = 8
	namespace   = "bench"
	rabbitURL   = "amqp://guest:guest@127.0.0.1:5672/"
	// benchUser is the identity the HPA's reads carry: not a member of
	// system:masters, so the adapter asks the API server
	// (SubjectAccessReview, cached 10 s) as it would for
	// kube-controller-manager.
	benchUser = "bench-hpa"
)

// counting counts the reads of a real scaler: the source queries the
// adapter causes.
type counting struct {
	scalers.Scaler
	reads *atomic.Int64
}

func (c counting) Read(ctx context.Context) (scalers.Reading, error) {
	c.reads.Add(1)
	return c.Scaler.Read(ctx)
}

// fixture is 1,000 ScaledObjects, each with a RabbitMQ trigger on its own
// queue of the machine's RabbitMQ, in a scale loop that is not started: the
// only reads of the sources are the ones the adapter causes.
type fixture struct {
	typ    *rabbitmq.Type
	queues []string
	reads  atomic.Int64
}

func newFixture(b *testing.B) *fixture {
	b.Helper()
	conn, err := amqp.Dial(rabbitURL)
	if err != nil {
		b.Fatalf("RabbitMQ at 127.0.0.1:5672 (see tests/services.sh): %v", err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		b.Fatal(err)
	}
	f := &fixture{typ: rabbitmq.NewType()}
	prefix := fmt.Sprintf("ebb-bench-%d", time.Now().UnixNano())
	for i := range objects {
		q := fmt.Sprintf("%s-%04d", prefix, i)
		if _, err := ch.QueueDeclare(q, false, true, false, false, nil); err != nil {
			b.Fatal(err)
		}
		for range i % 7 {
			if err := ch.Publish("", q, false, false, amqp.Publishing{Body: []byte("x")}); err != nil {
				b.Fatal(err)
			}
		}
		f.queues = append(f.queues, q)
	}
	b.Cleanup(func() {
		for _, q := range f.queues {
			_, _ = ch.QueueDelete(q, false, false, false)
		}
	})
	return f
}

// loop builds a scale loop serving every ScaledObject with a polling
// interval of interval seconds.
func (f *fixture) loop(b *testing.B, interval int32) (*controller.ScaleLoop, []controller.MetricRef) {
	b.Helper()
	return f.loopWithClock(b, interval, clock.RealClock{})
}

func (f *fixture) loopWithClock(b *testing.B, interval int32, clk clock.WithTicker) (*controller.ScaleLoop, []controller.MetricRef) {
	b.Helper()
	l := &controller.ScaleLoop{Log: logr.Discard(), Clock: clk}
	refs := make([]controller.MetricRef, 0, objects)
	for i, q := range f.queues {
		name := fmt.Sprintf("worker-%04d", i)
		tr := scalers.Trigger{Namespace: namespace, ScaledObject: name, Name: "queue", Type: "rabbitmq",
			Metadata: map[string]string{"host": rabbitURL, "queueName": q, "value": "10", "protocol": "amqp"}}
		sc, err := f.typ.New(tr)
		if err != nil {
			b.Fatal(err)
		}
		so := &v1alpha1.ScaledObject{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
			Spec:       v1alpha1.ScaledObjectSpec{PollingInterval: ptr.To(interval)},
		}
		l.Upsert(controller.ObjectState{Object: so, Current: 1,
			Triggers: []controller.LoopTrigger{{Name: "queue", Type: "rabbitmq", Scaler: counting{Scaler: sc, reads: &f.reads}}}})
		refs = append(refs, controller.MetricRef{Namespace: namespace, ScaledObject: name, Metric: sc.Metric().Name})
	}
	b.Cleanup(func() {
		for _, r := range refs {
			l.Remove(controllerKey(r))
		}
	})
	return l, refs
}

// sample is the outcome of a run of requests.
type sample struct {
	lat     []time.Duration
	elapsed time.Duration
	reads   int64
}

// measure calls get for request numbers 0..n-1 on concurrency workers.
func measure(b *testing.B, f *fixture, n, workers int, get func(ctx context.Context, i int) error) sample {
	b.Helper()
	s := sample{lat: make([]time.Duration, n)}
	var next, failed atomic.Int64
	var firstErr atomic.Value
	readsBefore := f.reads.Load()
	ctx := b.Context()
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t0 := time.Now()
				err := get(ctx, i)
				s.lat[i] = time.Since(t0)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		})
	}
	wg.Wait()
	s.elapsed = time.Since(start)
	s.reads = f.reads.Load() - readsBefore
	if failed.Load() > 0 {
		b.Fatalf("%d of %d requests failed; first: %v", failed.Load(), n, firstErr.Load())
	}
	return s
}

func (s *sample) add(o sample) {
	s.lat = append(s.lat, o.lat...)
	s.elapsed += o.elapsed
	s.reads += o.reads
}

// report reports the latency percentiles, the throughput and the source
// reads per request.
func report(b *testing.B, s sample) {
	b.Helper()
	n := len(s.lat)
	slices.Sort(s.lat)
	b.ReportMetric(float64(s.lat[n/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(s.lat[n*99/100].Nanoseconds())/1e3, "p99-µs")
	b.ReportMetric(float64(n)/s.elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(s.reads)/float64(n), "source-reads/req")
}

// run measures b.N requests from workers at once and reports them.
func run(b *testing.B, f *fixture, workers int, get func(ctx context.Context, i int) error) {
	b.Helper()
	b.ResetTimer()
	s := measure(b, f, b.N, workers, get)
	b.StopTimer()
	report(b, s)
}

// BenchmarkAdapter measures the metrics adapter at 1,000 ScaledObjects:
// "cached" (every value read once, pollingInterval one hour) and on misses
// (every read goes to RabbitMQ), in the provider alone, over HTTPS to the
// adapter as the aggregator calls it (front-proxy certificate, delegated
// authorization), and through kube-apiserver as the HPA calls it. The
// targets run (1 replica), so a stored value is served only for a sixteenth
// of the HPA sync period (controller.Servable): a "cached" row that takes
// longer than that to go round the 1,000 metrics reads through, and its
// source-reads/req says how often. Run it with
//
//	go test -run '^$' -bench Adapter -benchtime 20000x ./tests/bench/
//
// (each figure is over -benchtime requests, except the 8-readers row, 8,000,
// and the per-minute row, 4,000; misses are capped at 1,000 per fresh scale
// loop, so they run in rounds). Needs RabbitMQ on loopback and the control
// plane binaries (make tools).
func BenchmarkAdapter(b *testing.B) {
	klog.SetLogger(logr.Discard()) // the API server library's logs
	f := newFixture(b)
	cp := controlplane.Start(b, controlplane.WithAggregator())
	ctx := b.Context()

	// Fresh values: a long polling interval, every metric read once.
	cached, refs := f.loop(b, 3600)
	for _, r := range refs {
		if _, err := cached.ExternalMetric(ctx, r); err != nil {
			b.Fatalf("warming %v: %v", r, err)
		}
	}
	prov, err := metricsadapter.NewProvider(cached, nil, logr.Discard())
	if err != nil {
		b.Fatal(err)
	}
	getProvider := func(p *metricsadapter.Provider) func(ctx context.Context, i int) error {
		return func(ctx context.Context, i int) error {
			r := refs[i%objects]
			sel := labels.SelectorFromSet(labels.Set{v1alpha1.LabelScaledObject: r.ScaledObject})
			_, err := p.GetExternalMetric(ctx, r.Namespace, sel, provider.ExternalMetricInfo{Metric: r.Metric})
			return err
		}
	}

	b.Run("provider/cached", func(b *testing.B) { run(b, f, concurrency, getProvider(prov)) })

	b.Run("provider/miss", func(b *testing.B) {
		// Each round is a fresh loop: its first read of every metric is a
		// miss, read through the scaler from RabbitMQ.
		var all sample
		for len(all.lat) < b.N {
			b.StopTimer()
			l, _ := f.loop(b, 3600)
			p, err := metricsadapter.NewProvider(l, nil, logr.Discard())
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			all.add(measure(b, f, min(objects, b.N-len(all.lat)), concurrency, getProvider(p)))
		}
		b.StopTimer()
		report(b, all)
	})

	b.Run("provider/miss, 8 concurrent readers of each metric", func(b *testing.B) {
		// Single-flight: readers of the same stale metric at once share one
		// source read.
		b.StopTimer()
		l, _ := f.loop(b, 3600)
		p, err := metricsadapter.NewProvider(l, nil, logr.Discard())
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		get := getProvider(p)
		s := measure(b, f, objects*concurrency, concurrency, func(ctx context.Context, i int) error { return get(ctx, i/concurrency) })
		b.StopTimer()
		report(b, s)
	})

	b.Run("source queries per minute, HPA reads every 15 s, pollingInterval 30 s, adapter the only reader", func(b *testing.B) {
		// A minute of kube-controller-manager's reads (each metric every
		// 15 s, its default sync period) on a fake clock, with no scale
		// loop polls: every source read counted is the adapter's.
		b.StopTimer()
		clk := clocktesting.NewFakeClock(time.Now())
		l, _ := f.loopWithClock(b, 30, clk)
		p, err := metricsadapter.NewProvider(l, nil, logr.Discard())
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		var all sample
		for range 4 {
			all.add(measure(b, f, objects, concurrency, getProvider(p)))
			clk.Step(15 * time.Second)
		}
		b.StopTimer()
		report(b, all)
		b.ReportMetric(float64(all.reads), "source-reads/min")
	})

	// The adapter's HTTPS server, as the aggregator reaches it.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv, err := metricsadapter.NewServer(cp.Config, cached, metricsadapter.ServerOptions{
		Listener: lis, ServiceName: "ebb-metrics-adapter", ServiceNamespace: "ebb-system", Log: logr.Discard(),
	})
	if err != nil {
		b.Fatal(err)
	}
	srvCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(srvCtx) }()
	b.Cleanup(func() { stop(); <-done })
	grantExternalMetrics(b, cp)
	hc := frontProxyClient(b, cp, srv.CAPEM())
	base := fmt.Sprintf("https://localhost:%d/apis/external.metrics.k8s.io/v1beta1/namespaces/%s/", srv.Port(), namespace)
	getHTTP := func(ctx context.Context, i int) error {
		r := refs[i%objects]
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+r.Metric+"?labelSelector="+v1alpha1.LabelScaledObject+"%3D"+r.ScaledObject, nil)
		if err != nil {
			return err
		}
		req.Header.Set("X-Remote-User", benchUser)
		req.Header.Set("X-Remote-Group", "system:authenticated")
		res, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", res.Status, body)
		}
		return nil
	}
	waitReady(b, getHTTP)
	b.Run("https to the adapter/cached, one at a time", func(b *testing.B) { run(b, f, 1, getHTTP) })
	b.Run("https to the adapter/cached", func(b *testing.B) { run(b, f, concurrency, getHTTP) })

	// Through kube-apiserver's aggregator, as the HPA reads.
	registerAPIService(b, cp, srv.Port(), srv.CAPEM())
	kc, err := kubernetes.NewForConfig(cp.Config)
	if err != nil {
		b.Fatal(err)
	}
	getAPI := func(ctx context.Context, i int) error {
		r := refs[i%objects]
		_, err := kc.CoreV1().RESTClient().Get().AbsPath("/apis/external.metrics.k8s.io/v1beta1/namespaces", r.Namespace, r.Metric).
			Param("labelSelector", v1alpha1.LabelScaledObject+"="+r.ScaledObject).DoRaw(ctx)
		return err
	}
	waitReady(b, getAPI)
	b.Run("through kube-apiserver/cached, one at a time", func(b *testing.B) { run(b, f, 1, getAPI) })
	b.Run("through kube-apiserver/cached", func(b *testing.B) { run(b, f, concurrency, getAPI) })
}

func controllerKey(r controller.MetricRef) types.NamespacedName {
	return types.NamespacedName{Namespace: r.Namespace, Name: r.ScaledObject}
}

// frontProxyClient presents the aggregator's front-proxy client certificate
// and trusts the adapter's CA.
func frontProxyClient(b *testing.B, cp *controlplane.ControlPlane, ca []byte) *http.Client {
	b.Helper()
	cert, err := tls.LoadX509KeyPair(cp.FrontProxy.ClientCertFile, cp.FrontProxy.ClientKeyFile)
	if err != nil {
		b.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, ServerName: "localhost", MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: concurrency,
	}
	b.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// grantExternalMetrics lets benchUser read external metrics, as
// kube-controller-manager may.
func grantExternalMetrics(b *testing.B, cp *controlplane.ControlPlane) {
	b.Helper()
	ctx := b.Context()
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "bench-external-metrics-reader"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"external.metrics.k8s.io"}, Resources: []string{"*"}, Verbs: []string{"get", "list", "watch"}}},
	}
	if err := cp.Client.Create(ctx, role); err != nil {
		b.Fatal(err)
	}
	if err := cp.Client.Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: benchUser}},
	}); err != nil {
		b.Fatal(err)
	}
}

// registerAPIService points v1beta1.external.metrics.k8s.io at the adapter
// through a Service of type ExternalName localhost.
func registerAPIService(b *testing.B, cp *controlplane.ControlPlane, port int, ca []byte) {
	b.Helper()
	ctx := b.Context()
	ns := "ebb-system"
	if err := cp.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		b.Fatal(err)
	}
	if err := cp.Client.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ebb-metrics-adapter"},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "localhost", Ports: []corev1.ServicePort{{Port: int32(port)}}},
	}); err != nil {
		b.Fatal(err)
	}
	api := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1",
		"kind":       "APIService",
		"metadata":   map[string]any{"name": "v1beta1.external.metrics.k8s.io"},
		"spec": map[string]any{
			"group": "external.metrics.k8s.io", "version": "v1beta1",
			"groupPriorityMinimum": int64(100), "versionPriority": int64(100),
			"caBundle": base64.StdEncoding.EncodeToString(ca),
			"service":  map[string]any{"namespace": ns, "name": "ebb-metrics-adapter", "port": int64(port)},
		},
	}}
	if err := cp.Client.Create(ctx, api); err != nil {
		b.Fatal(err)
	}
}

// waitReady calls get until it succeeds for every metric (so that the
// authorization cache is as warm as in steady state), for at most a minute.
func waitReady(b *testing.B, get func(ctx context.Context, i int) error) {
	b.Helper()
	deadline := time.Now().Add(time.Minute)
	var err error
	for time.Now().Before(deadline) {
		if err = get(b.Context(), 0); err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		b.Fatalf("the adapter does not answer: %v", err)
	}
	for i := range objects {
		if err := get(b.Context(), i); err != nil {
			b.Fatal(err)
		}
	}
}
