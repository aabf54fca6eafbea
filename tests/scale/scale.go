// SPDX-License-Identifier: Apache-2.0

package scale

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	amqp "github.com/rabbitmq/amqp091-go"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/controller"
	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/rabbitmq"
)

// Options describe one run.
type Options struct {
	// N is the number of ScaledObjects, each with its own Deployment.
	N int
	// Config reaches the API server as an administrator (the bench's own
	// client); the operator gets a copy with its own QPS, burst and request
	// counter. Scheme holds client-go's types and Ebb's.
	Config *rest.Config
	Scheme *runtime.Scheme
	// OperatorConfig, when set, gives the operator's identity for a run in
	// namespace (chartrbac.OperatorConfig: the chart's ServiceAccount and
	// RBAC); nil: the operator acts with Config.
	OperatorConfig func(ctx context.Context, namespace string) (*rest.Config, error)
	// ProcessPIDs, when set, are the control plane's processes (etcd,
	// kube-apiserver), whose CPU time the Result reports.
	ProcessPIDs []int

	// RabbitURL is the broker the triggers read; empty:
	// amqp://guest:guest@127.0.0.1:5672/.
	RabbitURL string
	// Queues is how many queues the triggers share, round robin; 0: 1.
	Queues int
	// Messages are published into every queue before the ScaledObjects are
	// created: above the trigger's value (5) the triggers are active.
	Messages int
	// Replicas of every Deployment when created.
	Replicas int32

	// The operator's settings; zero: cmd/ebb-operator's defaults (QPS 200,
	// burst 400, 32 concurrent reconciles, 64 poll workers).
	QPS                     float32
	Burst                   int
	MaxConcurrentReconciles int
	PollWorkers             int
	// StripManagedFields drops managedFields from the objects in the
	// operator's informer cache (cache.TransformStripManagedFields), to
	// measure what that saves; cmd/ebb-operator's settings when false.
	StripManagedFields bool

	// Warmup ScaledObjects are created and made Ready before the
	// measurement, so that one-time costs are not counted per ScaledObject;
	// 0: 10, negative: none.
	Warmup int
	// CreateWorkers create the ScaledObjects in parallel; 0: 32.
	CreateWorkers int
	// Timeout bounds the wait for every ScaledObject to become Ready; 0: 15 min.
	Timeout time.Duration
	// Settle is how long requests are still counted after every ScaledObject
	// is Ready, to catch late reconcile passes; 0: 3 s.
	Settle time.Duration
	// Steady, when set, measures the steady state (requests per second, CPU)
	// over this window after Settle.
	Steady time.Duration

	// OnStart, when set, is called right before the first ScaledObject is
	// created (to start a profile, say).
	OnStart func()
	// OnMeasured, when set, is called right after MemAfter is read, with the
	// operator still running (to write a heap profile, say).
	OnMeasured func()

	// Logger is the operator's logger; the zero value discards.
	Logger logr.Logger
	// Progress, when set, receives progress lines.
	Progress func(format string, args ...any)
}

func (o *Options) defaults() {
	if o.RabbitURL == "" {
		o.RabbitURL = "amqp://guest:guest@127.0.0.1:5672/"
	}
	if o.Queues <= 0 {
		o.Queues = 1
	}
	if o.QPS == 0 {
		o.QPS = 200
	}
	if o.Burst == 0 {
		o.Burst = 400
	}
	if o.MaxConcurrentReconciles == 0 {
		o.MaxConcurrentReconciles = 32
	}
	if o.PollWorkers == 0 {
		o.PollWorkers = 64
	}
	if o.Warmup == 0 {
		o.Warmup = 10
	}
	if o.CreateWorkers <= 0 {
		o.CreateWorkers = 32
	}
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Minute
	}
	if o.Settle <= 0 {
		o.Settle = 3 * time.Second
	}
	if o.Logger.GetSink() == nil {
		o.Logger = logr.Discard()
	}
	if o.Progress == nil {
		o.Progress = func(string, ...any) {}
	}
}

// Result is what one run measured.
type Result struct {
	N int
	// Created is how long the bench took to create the N ScaledObjects.
	Created time.Duration
	// HPAs is the time from the first create until every HPA existed; Ready
	// until, in addition, every ScaledObject had Ready=True for its current
	// generation.
	HPAs, Ready time.Duration
	// Startup are the operator's requests from its start until its caches
	// were synced (discovery, the informers' LIST and WATCH).
	Startup Counts
	// Requests are the operator's requests from the first create until
	// Settle after every ScaledObject was Ready.
	Requests Counts
	// Latency is the operator's mean request latency by kind over the run.
	Latency map[string]time.Duration
	// Reconciles are the reconcile passes in the same window, by result
	// (controller_runtime_reconcile_total of controller "scaledobject").
	Reconciles map[string]int
	// PoolConnections is what the rabbitmq Type holds open at the end (AMQP
	// connections and management API clients); BrokerSockets counts the
	// process's established TCP connections to the broker's AMQP port.
	PoolConnections int
	BrokerSockets   int
	// MemBefore is read with the operator running and the Deployments
	// created, before the first ScaledObject; MemAfter after Settle.
	MemBefore, MemAfter Memory
	// CPU is this process's CPU time (operator and the bench's client) and
	// ControlPlaneCPU that of ProcessPIDs, from the first create until every
	// ScaledObject was Ready.
	CPU, ControlPlaneCPU time.Duration
	// Steady* are the steady state after Settle: requests, the window and
	// the CPU time of the process and the control plane.
	SteadyRequests                   Counts
	SteadyWindow                     time.Duration
	SteadyCPU, SteadyControlPlaneCPU time.Duration
}

// RequestsPerObject is the operator's work requests (not LIST, WATCH or
// discovery) per ScaledObject.
func (r Result) RequestsPerObject() float64 { return float64(r.Requests.Work()) / float64(r.N) }

// ReconcilesPerObject is the reconcile passes per ScaledObject.
func (r Result) ReconcilesPerObject() float64 {
	n := 0
	for _, v := range r.Reconciles {
		n += v
	}
	return float64(n) / float64(r.N)
}

// RSSPerObject is the anonymous RSS growth per ScaledObject, in bytes.
func (r Result) RSSPerObject() float64 {
	return float64(r.MemAfter.RssAnon-r.MemBefore.RssAnon) / float64(r.N)
}

// HeapPerObject is the Go heap growth per ScaledObject, in bytes.
func (r Result) HeapPerObject() float64 {
	return (float64(r.MemAfter.HeapInuse) - float64(r.MemBefore.HeapInuse)) / float64(r.N)
}

// SteadyRequestsPerSecond is the operator's work requests per second in the
// steady state.
func (r Result) SteadyRequestsPerSecond() float64 {
	if r.SteadyWindow <= 0 {
		return 0
	}
	return float64(r.SteadyRequests.Work()) / r.SteadyWindow.Seconds()
}

// Run creates N Deployments, starts Ebb's operator in this process, creates N
// ScaledObjects whose triggers read real RabbitMQ queues, and measures how
// long it takes until every HPA exists and every ScaledObject is Ready, and
// what it cost. It deletes what it created (namespace, queues) before it
// returns.
func Run(ctx context.Context, o Options) (res Result, retErr error) {
	o.defaults()
	res.N = o.N
	if o.N <= 0 {
		return res, errors.New("N must be positive")
	}
	bench, err := client.NewWithWatch(o.Config, client.Options{Scheme: o.Scheme})
	if err != nil {
		return res, err
	}
	suffix := randSuffix()
	ns := "scale-" + suffix

	// The queues, and the messages that make the triggers active.
	queues := make([]string, o.Queues)
	for i := range queues {
		queues[i] = fmt.Sprintf("ebb-scale-%s-%d", suffix, i)
	}
	if err := withChannel(o.RabbitURL, func(ch *amqp.Channel) error {
		for _, q := range queues {
			if _, err := ch.QueueDeclare(q, false, false, false, false, nil); err != nil {
				return fmt.Errorf("declare queue %s: %w", q, err)
			}
			for i := 0; i < o.Messages; i++ {
				if err := ch.PublishWithContext(ctx, "", q, false, false, amqp.Publishing{Body: []byte("work")}); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		return res, fmt.Errorf("RabbitMQ at %s: %w", redactURL(o.RabbitURL), err)
	}
	defer func() {
		_ = withChannel(o.RabbitURL, func(ch *amqp.Channel) error {
			for _, q := range queues {
				_, _ = ch.QueueDelete(q, false, false, false)
			}
			return nil
		})
	}()

	if err := bench.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return res, err
	}
	defer func() {
		// The namespace goes with everything in it; without
		// kube-controller-manager nothing garbage-collects it, so the
		// control plane is normally thrown away after a run.
		_ = bench.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}()

	o.Progress("creating %d Deployments in %s", o.N, ns)
	if err := parallel(ctx, o.N, o.CreateWorkers, func(i int) error {
		return bench.Create(ctx, deployment(ns, i, o.Replicas))
	}); err != nil {
		return res, fmt.Errorf("create Deployments: %w", err)
	}

	// The operator, as cmd/ebb-operator runs it, with a request counter.
	counter := NewCounter()
	cfg := rest.CopyConfig(o.Config)
	if o.OperatorConfig != nil {
		id, err := o.OperatorConfig(ctx, ns)
		if err != nil {
			return res, fmt.Errorf("the operator's identity: %w", err)
		}
		cfg = rest.CopyConfig(id)
	}
	cfg.QPS, cfg.Burst = o.QPS, o.Burst
	cfg.UserAgent = "ebb-operator"
	cfg.Wrap(counter.Wrap)
	mo := ctrl.Options{
		Scheme:                 o.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
		Logger:                 o.Logger,
	}
	if o.StripManagedFields {
		mo.Cache.DefaultTransform = cache.TransformStripManagedFields()
	}
	mgr, err := ctrl.NewManager(cfg, mo)
	if err != nil {
		return res, err
	}
	typ := rabbitmq.NewType()
	reg, err := scalers.NewRegistry(typ)
	if err != nil {
		return res, err
	}
	if _, err := controller.Setup(mgr, controller.Options{
		Registry: reg, OperatorNamespace: ns,
		MaxConcurrentReconciles: o.MaxConcurrentReconciles, PollWorkers: o.PollWorkers,
		// As the chart's default (scaledJobs.enabled=false), whose RBAC
		// OperatorConfig gives.
		DisableScaledJobs: true,
	}); err != nil {
		return res, err
	}
	opCtx, stopOperator := context.WithCancel(context.Background())
	opDone := make(chan error, 1)
	go func() { opDone <- mgr.Start(opCtx) }()
	operatorStopped := false
	stop := func() error {
		if operatorStopped {
			return nil
		}
		operatorStopped = true
		stopOperator()
		select {
		case err := <-opDone:
			return err
		case <-time.After(time.Minute):
			return errors.New("the operator did not stop within a minute")
		}
	}
	defer func() {
		if err := stop(); err != nil && retErr == nil {
			retErr = fmt.Errorf("operator: %w", err)
		}
	}()
	if err := waitSynced(ctx, mgr, counter, opDone); err != nil {
		return res, err
	}
	res.Startup = counter.Snapshot()

	// A few ScaledObjects first, outside the measurement, so that one-time
	// costs (the operator's discovery of apps/v1, the broker connection, the
	// bench client's own discovery) do not count per ScaledObject.
	if o.Warmup > 0 {
		o.Progress("warming up with %d ScaledObjects", o.Warmup)
		if err := warmUp(ctx, bench, ns, o.Warmup, queues[0], o); err != nil {
			return res, fmt.Errorf("warm-up: %w", err)
		}
	}
	if res.MemBefore, err = ReadMemory(); err != nil {
		return res, err
	}

	// Watch the ScaledObjects' Ready conditions and the HPAs.
	w := newWatcher(o.N)
	wctx, stopWatch := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); w.watchScaledObjects(wctx, bench, ns) }()
	go func() { defer wg.Done(); w.watchHPAs(wctx, bench, ns) }()
	defer func() { stopWatch(); wg.Wait() }()

	reconcilesBefore, err := reconcileCounts()
	if err != nil {
		return res, err
	}
	before := counter.Snapshot()
	cpuBefore, cpBefore := cpuTime(), ProcessCPU(o.ProcessPIDs)
	o.Progress("creating %d ScaledObjects", o.N)
	if o.OnStart != nil {
		o.OnStart()
	}
	start := time.Now()
	w.start(start)
	if err := parallel(ctx, o.N, o.CreateWorkers, func(i int) error {
		return bench.Create(ctx, scaledObject(ns, i, queues[i%len(queues)], o.RabbitURL))
	}); err != nil {
		return res, fmt.Errorf("create ScaledObjects: %w", err)
	}
	res.Created = time.Since(start)
	o.Progress("created %d ScaledObjects in %s; waiting for every HPA and Ready", o.N, res.Created.Round(time.Millisecond))

	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	timeout := time.After(o.Timeout)
wait:
	for {
		select {
		case <-w.done:
			break wait
		case <-tick.C:
			hpas, ready := w.progress()
			o.Progress("after %s: %d HPAs, %d Ready", time.Since(start).Round(time.Second), hpas, ready)
		case err := <-opDone:
			operatorStopped = true
			return res, fmt.Errorf("the operator stopped: %v", err)
		case <-timeout:
			hpas, ready := w.progress()
			return res, fmt.Errorf("after %s only %d of %d HPAs exist and %d of %d ScaledObjects are Ready", o.Timeout, hpas, o.N, ready, o.N)
		case <-ctx.Done():
			return res, ctx.Err()
		}
	}
	res.HPAs, res.Ready = w.hpasAt.Sub(start), w.readyAt.Sub(start)
	res.CPU, res.ControlPlaneCPU = cpuTime()-cpuBefore, ProcessCPU(o.ProcessPIDs)-cpBefore
	o.Progress("every HPA after %s, every ScaledObject Ready after %s", res.HPAs.Round(time.Millisecond), res.Ready.Round(time.Millisecond))

	select {
	case <-time.After(o.Settle):
	case <-ctx.Done():
		return res, ctx.Err()
	}
	res.Requests = counter.Snapshot().Sub(before)
	res.Latency = counter.Latency()
	reconcilesAfter, err := reconcileCounts()
	if err != nil {
		return res, err
	}
	res.Reconciles = map[string]int{}
	for k, v := range reconcilesAfter {
		if d := v - reconcilesBefore[k]; d != 0 {
			res.Reconciles[k] = d
		}
	}
	res.PoolConnections = typ.OpenConnections()
	res.BrokerSockets = brokerSockets(o.RabbitURL)
	stopWatch()
	wg.Wait()
	w = nil
	if res.MemAfter, err = ReadMemory(); err != nil {
		return res, err
	}
	if o.OnMeasured != nil {
		o.OnMeasured()
	}

	if o.Steady > 0 {
		o.Progress("measuring the steady state for %s", o.Steady)
		sb := counter.Snapshot()
		cpu0, cp0 := cpuTime(), ProcessCPU(o.ProcessPIDs)
		t0 := time.Now()
		select {
		case <-time.After(o.Steady):
		case <-ctx.Done():
			return res, ctx.Err()
		}
		res.SteadyWindow = time.Since(t0)
		res.SteadyRequests = counter.Snapshot().Sub(sb)
		res.SteadyCPU, res.SteadyControlPlaneCPU = cpuTime()-cpu0, ProcessCPU(o.ProcessPIDs)-cp0
	}
	return res, nil
}

// warmUp creates n Deployments and ScaledObjects named warm-* and waits
// until they are Ready.
func warmUp(ctx context.Context, c client.Client, ns string, n int, queue string, o Options) error {
	for i := 0; i < n; i++ {
		d := deployment(ns, i, o.Replicas)
		d.Name = fmt.Sprintf("warm-%03d", i)
		so := scaledObject(ns, i, queue, o.RabbitURL)
		so.Name, so.Spec.ScaleTargetRef.Name = d.Name, d.Name
		if err := c.Create(ctx, d); err != nil {
			return err
		}
		if err := c.Create(ctx, so); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for i := 0; i < n; {
		var so v1alpha1.ScaledObject
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: fmt.Sprintf("warm-%03d", i)}, &so); err != nil {
			return err
		}
		if cond := meta.FindStatusCondition(so.Status.Conditions, v1alpha1.ConditionReady); cond != nil && cond.Status == metav1.ConditionTrue {
			i++
			continue
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ScaledObject %s not Ready after 2 minutes", so.Name)
		}
		sleep(ctx, 100*time.Millisecond)
	}
	return ctx.Err()
}

// waitSynced waits until the operator's controller watches ScaledObjects and
// HPAs and its caches are synced.
func waitSynced(ctx context.Context, mgr ctrl.Manager, c *Counter, done <-chan error) error {
	deadline := time.Now().Add(time.Minute)
	for {
		s := c.Snapshot()
		if s["WATCH scaledobjects"] > 0 && s["WATCH horizontalpodautoscalers"] > 0 {
			break
		}
		select {
		case err := <-done:
			return fmt.Errorf("the operator stopped: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("the operator's informers did not start within a minute")
		}
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if !mgr.GetCache().WaitForCacheSync(sctx) {
		return errors.New("the operator's caches did not sync within a minute")
	}
	time.Sleep(time.Second) // let start-up requests finish
	return nil
}

// reconcileCounts reads controller_runtime_reconcile_total of the
// ScaledObject controller, by result.
func reconcileCounts() (map[string]int, error) {
	mfs, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, mf := range mfs {
		if mf.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var ctl, result string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "controller":
					ctl = l.GetValue()
				case "result":
					result = l.GetValue()
				}
			}
			if ctl == "scaledobject" {
				out[result] += int(m.GetCounter().GetValue())
			}
		}
	}
	return out, nil
}

// watcher follows the ScaledObjects' Ready conditions and the HPAs by name.
type watcher struct {
	n int

	mu      sync.Mutex
	t0      time.Time
	ready   map[string]bool
	hpas    map[string]bool
	hpasAt  time.Time
	readyAt time.Time
	done    chan struct{}
	closed  bool
}

func newWatcher(n int) *watcher {
	return &watcher{n: n, ready: map[string]bool{}, hpas: map[string]bool{}, done: make(chan struct{})}
}

func (w *watcher) start(t time.Time) {
	w.mu.Lock()
	w.t0 = t
	w.mu.Unlock()
}

func (w *watcher) progress() (hpas, ready int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.hpas), len(w.ready)
}

// update records a change; the caller holds no lock.
func (w *watcher) update(f func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f()
	now := time.Now()
	if w.hpasAt.IsZero() && len(w.hpas) == w.n {
		w.hpasAt = now
	}
	if !w.closed && len(w.hpas) == w.n && len(w.ready) == w.n {
		w.readyAt = now
		w.closed = true
		close(w.done)
	}
}

func (w *watcher) watchScaledObjects(ctx context.Context, c client.WithWatch, ns string) {
	watchLoop(ctx, c, ns, &v1alpha1.ScaledObjectList{}, func(l client.ObjectList) []client.Object {
		items := l.(*v1alpha1.ScaledObjectList).Items
		out := make([]client.Object, len(items))
		for i := range items {
			out[i] = &items[i]
		}
		return out
	}, func(typ watch.EventType, obj client.Object) {
		so, ok := obj.(*v1alpha1.ScaledObject)
		if !ok || !strings.HasPrefix(so.Name, "so-") {
			return
		}
		c := meta.FindStatusCondition(so.Status.Conditions, v1alpha1.ConditionReady)
		ready := typ != watch.Deleted && c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == so.Generation
		w.update(func() {
			if ready {
				w.ready[so.Name] = true
			} else {
				delete(w.ready, so.Name)
			}
		})
	})
}

func (w *watcher) watchHPAs(ctx context.Context, c client.WithWatch, ns string) {
	watchLoop(ctx, c, ns, &autoscalingv2.HorizontalPodAutoscalerList{}, func(l client.ObjectList) []client.Object {
		items := l.(*autoscalingv2.HorizontalPodAutoscalerList).Items
		out := make([]client.Object, len(items))
		for i := range items {
			out[i] = &items[i]
		}
		return out
	}, func(typ watch.EventType, obj client.Object) {
		if !strings.HasPrefix(obj.GetName(), "ebb-so-") {
			return
		}
		w.update(func() {
			if typ == watch.Deleted {
				delete(w.hpas, obj.GetName())
			} else {
				w.hpas[obj.GetName()] = true
			}
		})
	})
}

// watchLoop lists and then watches a namespace's objects of one kind until
// ctx ends, re-listing when the watch breaks, and hands every object seen to
// handle. It keeps no copy of the objects.
func watchLoop(ctx context.Context, c client.WithWatch, ns string, list client.ObjectList, items func(client.ObjectList) []client.Object, handle func(watch.EventType, client.Object)) {
	for ctx.Err() == nil {
		l := list.DeepCopyObject().(client.ObjectList)
		if err := c.List(ctx, l, client.InNamespace(ns)); err != nil {
			sleep(ctx, 200*time.Millisecond)
			continue
		}
		for _, obj := range items(l) {
			handle(watch.Modified, obj)
		}
		rv := l.GetResourceVersion()
		for ctx.Err() == nil {
			wi, err := c.Watch(ctx, list.DeepCopyObject().(client.ObjectList), client.InNamespace(ns), &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true}})
			if err != nil {
				break
			}
			gone := false
			for ev := range wi.ResultChan() {
				if ev.Type == watch.Error {
					gone = true
					break
				}
				obj, ok := ev.Object.(client.Object)
				if !ok {
					continue
				}
				rv = obj.GetResourceVersion()
				if ev.Type != watch.Bookmark {
					handle(ev.Type, obj)
				}
			}
			wi.Stop()
			if gone {
				break
			}
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// parallel runs f(0..n-1) on workers goroutines and returns the first error.
func parallel(ctx context.Context, n, workers int, f func(i int) error) error {
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { firstErr = err })
					next.Store(int64(n))
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return firstErr
}

func deployment(ns string, i int, replicas int32) *appsv1.Deployment {
	name := fmt.Sprintf("w-%05d", i)
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "worker", Image: "example.invalid/worker:1"}}},
			},
		},
	}
}

// scaledObject is what a user would apply: a target and one rabbitmq trigger
// on a queue, everything else defaulted (pollingInterval 30 s).
func scaledObject(ns string, i int, queue, rabbitURL string) *v1alpha1.ScaledObject {
	return &v1alpha1.ScaledObject{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("so-%05d", i), Namespace: ns},
		Spec: v1alpha1.ScaledObjectSpec{
			ScaleTargetRef: v1alpha1.ScaleTarget{Name: fmt.Sprintf("w-%05d", i)},
			Triggers: []v1alpha1.Trigger{{Type: "rabbitmq", Name: "queue", Metadata: map[string]string{
				"host": rabbitURL, "queueName": queue, "mode": "QueueLength", "value": "5",
			}}},
		},
	}
}

func withChannel(url string, f func(*amqp.Channel) error) error {
	conn, err := amqp.Dial(url)
	if err != nil {
		return err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	defer ch.Close()
	return f(ch)
}

func redactURL(u string) string {
	if at := strings.LastIndex(u, "@"); at >= 0 {
		if i := strings.Index(u, "://"); i >= 0 && i < at {
			return u[:i+3] + "…" + u[at:]
		}
	}
	return u
}

func randSuffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}

// brokerSockets counts this process's established TCP connections to the
// broker's port (from /proc/self/fd and /proc/net/tcp{,6}).
func brokerSockets(rabbitURL string) int {
	port := 5672
	if i := strings.LastIndex(rabbitURL, ":"); i >= 0 {
		if p, err := strconv.Atoi(strings.Trim(rabbitURL[i+1:], "/")); err == nil {
			port = p
		}
	}
	inodes := map[string]bool{}
	fds, _ := os.ReadDir("/proc/self/fd")
	for _, fd := range fds {
		l, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	n := 0
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) < 10 || fs[3] != "01" { // 01: ESTABLISHED
				continue
			}
			_, rport, _ := strings.Cut(fs[2], ":")
			p, err := strconv.ParseInt(rport, 16, 32)
			if err == nil && int(p) == port && inodes[fs[9]] {
				n++
			}
		}
	}
	return n
}

// ProcessCPU sums the CPU time (user + system) of the given processes.
func ProcessCPU(pids []int) time.Duration {
	var total time.Duration
	for _, pid := range pids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(data)
		// Fields after the command name, which is in parentheses.
		i := strings.LastIndex(s, ")")
		if i < 0 {
			continue
		}
		fs := strings.Fields(s[i+1:])
		if len(fs) < 13 {
			continue
		}
		ut, _ := strconv.ParseInt(fs[11], 10, 64)
		st, _ := strconv.ParseInt(fs[12], 10, 64)
		total += time.Duration(ut+st) * time.Second / 100 // USER_HZ
	}
	return total
}

// Median returns the run with the median Ready time.
func Median(rs []Result) Result {
	s := append([]Result(nil), rs...)
	sort.Slice(s, func(i, j int) bool { return s[i].Ready < s[j].Ready })
	return s[len(s)/2]
}
