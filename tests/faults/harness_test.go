// SPDX-License-Identifier: Apache-2.0

package faults_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/metrics/pkg/apis/external_metrics/v1beta1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/tests/faultproxy"
	"github.com/ebbscale/ebb/tests/operatorproc"
)

// leaseName is the operator's leader Lease in operatorproc.Namespace.
const leaseName = "ebb-operator.ebb.dev"

// scenario is one test's namespace and the operator processes it runs.
type scenario struct {
	t  *testing.T
	c  client.Client
	kc kubernetes.Interface
	ns string

	ops *operatorSet
}

// operatorSet is a scenario's operator processes, shared by its subtests.
type operatorSet struct {
	mu  sync.Mutex
	ops []*operator
}

// in is the scenario seen from a subtest: failures go to t.
func (s *scenario) in(t *testing.T) *scenario {
	c := *s
	c.t = t
	return &c
}

// operator is one ebb-operator process of a scenario.
type operator struct {
	*operatorproc.Process
	adapterPort, metricsPort int
}

func newScenario(t *testing.T) *scenario {
	t.Helper()
	setup(t)
	kc, err := kubernetes.NewForConfig(shared.cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	s := &scenario{t: t, c: shared.cp.Client, kc: kc, ns: "f-" + randSuffix(), ops: &operatorSet{}}
	if err := s.c.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: s.ns}}); err != nil {
		t.Fatal(err)
	}
	return s
}

func randSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// startOperator runs an operator process as the chart runs it (leader
// election on, the chart's ServiceAccount and RBAC) and puts its adapter
// behind the front, next to the scenario's other operators. It returns once
// the process listens; waitLeader and waitAdapter wait for more.
func (s *scenario) startOperator() *operator {
	t := s.t
	t.Helper()
	// Cleanups run last-registered first: this one runs after the
	// process is stopped, and deletes the Lease it held so that the next
	// scenario's operator leads at once instead of after the lease expires.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: operatorproc.Namespace, Name: leaseName}}
		if err := shared.cp.Client.Delete(ctx, l); err != nil && !apierrors.IsNotFound(err) {
			t.Logf("delete the leader Lease: %v", err)
		}
	})
	op := &operator{adapterPort: operatorproc.FreePort(t), metricsPort: operatorproc.FreePort(t)}
	op.Process = operatorproc.Start(t, shared.bin, operatorproc.Options{
		Kubeconfig:  shared.kubeconfig,
		AdapterPort: op.adapterPort,
		MetricsPort: op.metricsPort,
		Args:        []string{"--leader-elect=true", "--v=1"},
	})
	s.ops.mu.Lock()
	s.ops.ops = append(s.ops.ops, op)
	s.ops.mu.Unlock()
	s.frontToLiveOperators()
	return op
}

// frontToLiveOperators points the front at the adapters of the operators
// that have not exited.
func (s *scenario) frontToLiveOperators() {
	s.ops.mu.Lock()
	defer s.ops.mu.Unlock()
	var addrs []string
	for _, op := range s.ops.ops {
		if gone, _ := op.Exited(); !gone {
			addrs = append(addrs, "127.0.0.1:"+strconv.Itoa(op.adapterPort))
		}
	}
	shared.front.SetBackends(addrs...)
}

// ready waits until op leads and the HPA's path to the adapter works (the
// aggregator answers an unknown metric with 404).
func (s *scenario) ready(op *operator) {
	s.t.Helper()
	s.waitLeader(op, 60*time.Second)
	s.waitAdapter(op, 90*time.Second)
}

func (s *scenario) waitLeader(op *operator, within time.Duration) {
	s.t.Helper()
	operatorproc.Eventually(s.t, op.Process, within, "the operator leads", func(ctx context.Context) (bool, string) {
		v, err := scrape(ctx, op.metricsPort, `leader_election_master_status{name="`+leaseName+`"}`)
		if err != nil {
			return false, err.Error()
		}
		return v == 1, fmt.Sprintf("leader_election_master_status %v", v)
	})
}

func (s *scenario) waitAdapter(op *operator, within time.Duration) {
	s.t.Helper()
	operatorproc.Eventually(s.t, op.Process, within, "the aggregator reaches the adapter", func(ctx context.Context) (bool, string) {
		_, err := s.readExternal(ctx, "f-nothing", "ebb.dev/scaledobject=nothing")
		return apierrors.IsNotFound(err), fmt.Sprintf("read of an unknown metric: %v", err)
	})
}

// readExternal reads an external metric through kube-apiserver, as the HPA
// does.
func (s *scenario) readExternal(ctx context.Context, metric, selector string) (*v1beta1.ExternalMetricValueList, error) {
	raw, err := s.kc.CoreV1().RESTClient().Get().AbsPath("/apis/external.metrics.k8s.io/v1beta1/namespaces", s.ns, metric).
		Param("labelSelector", selector).Timeout(10 * time.Second).DoRaw(ctx)
	if err != nil {
		return nil, err
	}
	var list v1beta1.ExternalMetricValueList
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", raw, err)
	}
	return &list, nil
}

// scrape reads one sample (the line that starts with series + " ") from an
// operator's metrics endpoint.
func scrape(ctx context.Context, port int, series string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/metrics", port), nil)
	if err != nil {
		return 0, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no %s in the operator's metrics", series)
}

// within polls cond every 100 ms until it holds and returns how long that
// took; it fails the test after timeout with cond's last word.
func (s *scenario) within(timeout time.Duration, what string, cond func(ctx context.Context) (bool, string)) time.Duration {
	s.t.Helper()
	return waitFor(s.t, timeout, what, cond)
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func(ctx context.Context) (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		var ok bool
		ok, last = cond(ctx)
		return ok, nil
	})
	if err != nil {
		t.Fatalf("%s: not within %s; last: %s", what, timeout, last)
	}
	return time.Since(start)
}

// pollList is waitFor at a pace fit for listing a thousand objects.
func pollList(t *testing.T, timeout time.Duration, what string, cond func(ctx context.Context) (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	err := wait.PollUntilContextTimeout(t.Context(), 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		var ok bool
		ok, last = cond(ctx)
		return ok, nil
	})
	if err != nil {
		t.Fatalf("%s: not within %s; last: %s", what, timeout, last)
	}
	return time.Since(start)
}

// figure logs a measured figure in one greppable line.
func figure(t *testing.T, name string, d time.Duration, bound time.Duration) {
	t.Helper()
	t.Logf("FIGURE %s: %.1f s (bound %s)", name, d.Seconds(), bound)
}

// deployment creates a Deployment with replicas; its pods never run (there
// is no scheduler and no kubelet), which the HPA does not need for external
// metrics.
func (s *scenario) deployment(name string, replicas int32) {
	s.t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: podTemplate(labels),
		},
	}
	if err := s.c.Create(s.t.Context(), d); err != nil {
		s.t.Fatal(err)
	}
}

// podTemplate is a pod that never runs: there is no scheduler and no
// kubelet, and the HPA does not need pods for external metrics.
func podTemplate(labels map[string]string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "worker", Image: "registry.invalid/worker:1"}}},
	}
}

// scaledObject is a ScaledObject for target with short intervals: a 1 s
// poll, the given cooldown, at most 5 replicas, and an HPA that scales down
// without a stabilization window.
func (s *scenario) scaledObject(name, target string, cooldown int32, trig v1alpha1.Trigger) *v1alpha1.ScaledObject {
	return &v1alpha1.ScaledObject{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: name},
		Spec: v1alpha1.ScaledObjectSpec{
			ScaleTargetRef:  v1alpha1.ScaleTarget{APIVersion: "apps/v1", Kind: "Deployment", Name: target},
			PollingInterval: ptr.To[int32](1),
			CooldownPeriod:  ptr.To(cooldown),
			MaxReplicaCount: ptr.To[int32](5),
			Advanced: &v1alpha1.AdvancedConfig{HorizontalPodAutoscalerConfig: &v1alpha1.HorizontalPodAutoscalerConfig{
				Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
					ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To[int32](0)},
				},
			}},
			Triggers: []v1alpha1.Trigger{trig},
		},
	}
}

func (s *scenario) create(obj client.Object) {
	s.t.Helper()
	if err := s.c.Create(s.t.Context(), obj); err != nil {
		s.t.Fatal(err)
	}
}

func (s *scenario) replicas(ctx context.Context, name string) (int32, error) {
	var d appsv1.Deployment
	if err := s.c.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: name}, &d); err != nil {
		return 0, err
	}
	return ptr.Deref(d.Spec.Replicas, 0), nil
}

// waitReplicas waits until the target has want replicas and returns how
// long that took.
func (s *scenario) waitReplicas(name string, want int32, timeout time.Duration, why string) time.Duration {
	s.t.Helper()
	return s.within(timeout, why, func(ctx context.Context) (bool, string) {
		n, err := s.replicas(ctx, name)
		if err != nil {
			return false, err.Error()
		}
		return n == want, fmt.Sprintf("replicas %d, want %d", n, want)
	})
}

func (s *scenario) get(ctx context.Context, name string) (*v1alpha1.ScaledObject, error) {
	var so v1alpha1.ScaledObject
	err := s.c.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: name}, &so)
	return &so, err
}

// waitStatus waits until cond holds of the ScaledObject's status.
func (s *scenario) waitStatus(name string, timeout time.Duration, what string, cond func(so *v1alpha1.ScaledObject) (bool, string)) time.Duration {
	s.t.Helper()
	return s.within(timeout, what, func(ctx context.Context) (bool, string) {
		so, err := s.get(ctx, name)
		if err != nil {
			return false, err.Error()
		}
		return cond(so)
	})
}

// failures is the first trigger's consecutive failures in status.
func failures(so *v1alpha1.ScaledObject) int32 {
	if len(so.Status.Triggers) == 0 {
		return 0
	}
	return so.Status.Triggers[0].ConsecutiveFailures
}

// lastRead is the first trigger's last read time in status.
func lastRead(so *v1alpha1.ScaledObject) time.Time {
	if len(so.Status.Triggers) == 0 || so.Status.Triggers[0].LastReadTime == nil {
		return time.Time{}
	}
	return so.Status.Triggers[0].LastReadTime.Time
}

func condition(so *v1alpha1.ScaledObject, typ string) *metav1.Condition {
	return meta.FindStatusCondition(so.Status.Conditions, typ)
}

func conditionIs(so *v1alpha1.ScaledObject, typ string, status metav1.ConditionStatus) (bool, string) {
	c := condition(so, typ)
	if c == nil {
		return false, "no " + typ + " condition"
	}
	return c.Status == status, fmt.Sprintf("%s=%s (%s: %s)", typ, c.Status, c.Reason, c.Message)
}

// hpaCondition is the status of one condition of the ScaledObject's HPA.
func (s *scenario) hpaCondition(ctx context.Context, so string, typ autoscalingv2.HorizontalPodAutoscalerConditionType) (corev1.ConditionStatus, string, error) {
	var hpa autoscalingv2.HorizontalPodAutoscaler
	if err := s.c.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: v1alpha1.HPANamePrefix + so}, &hpa); err != nil {
		return "", "", err
	}
	for _, c := range hpa.Status.Conditions {
		if c.Type == typ {
			return c.Status, c.Reason + ": " + c.Message, nil
		}
	}
	return "", "no " + string(typ) + " condition", nil
}

// waitHPA waits until the HPA's condition typ has status.
func (s *scenario) waitHPA(so string, typ autoscalingv2.HorizontalPodAutoscalerConditionType, status corev1.ConditionStatus, timeout time.Duration, why string) time.Duration {
	s.t.Helper()
	return s.within(timeout, why, func(ctx context.Context) (bool, string) {
		got, msg, err := s.hpaCondition(ctx, so, typ)
		if err != nil {
			return false, err.Error()
		}
		return got == status, fmt.Sprintf("HPA %s=%s (%s)", typ, got, msg)
	})
}

// watcher samples a target's replicas every 100 ms for the whole scenario
// and fails the test if they are ever below the floor in force: 1 says "never
// zero", n > 1 says "the HPA holds n", 0 lifts the floor.
type watcher struct {
	t      *testing.T
	s      *scenario
	target string

	mu    sync.Mutex
	floor int32
	// floorEnds, when set, is when the floor lifts by itself.
	floorEnds time.Time
	samples   int
	gaps      int // samples the API server did not answer
	breaches  []string
	min, max  int32

	cancel context.CancelFunc
	done   chan struct{}
}

// watchReplicas starts a watcher on target with the floor given; it stops
// (and reports) when the test ends.
func (s *scenario) watchReplicas(target string, floor int32) *watcher {
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{t: s.t, s: s, target: target, floor: floor, min: -1, cancel: cancel, done: make(chan struct{})}
	go w.run(ctx)
	s.t.Cleanup(w.stop)
	return w
}

func (w *watcher) run(ctx context.Context) {
	defer close(w.done)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		n, err := w.s.replicas(rctx, w.target)
		cancel()
		// The count was n at some moment before now: a breach only if now
		// is still before the floor lifts.
		now := time.Now()
		w.mu.Lock()
		w.samples++
		switch {
		case err != nil:
			w.gaps++
		default:
			if n < w.floor && (w.floorEnds.IsZero() || now.Before(w.floorEnds)) {
				w.breaches = append(w.breaches, fmt.Sprintf("%s: %d replicas, floor %d", time.Now().Format("15:04:05.000"), n, w.floor))
			}
			if w.min < 0 || n < w.min {
				w.min = n
			}
			w.max = max(w.max, n)
		}
		w.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// hold sets the floor from now on.
func (w *watcher) hold(floor int32) {
	w.mu.Lock()
	w.floor = floor
	w.floorEnds = time.Time{}
	w.min, w.max = -1, 0
	w.mu.Unlock()
}

// holdUntil sets the floor from now until end, when it lifts by itself.
func (w *watcher) holdUntil(floor int32, end time.Time) {
	w.hold(floor)
	w.mu.Lock()
	w.floorEnds = end
	w.mu.Unlock()
}

// maxSinceHold is the highest count sampled since the last hold (or start).
func (w *watcher) maxSinceHold() int32 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.max
}

// check fails the test now if the floor was breached so far.
func (w *watcher) check() {
	w.t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.breaches) > 0 {
		w.t.Errorf("the replicas of %s fell below their floor %d times: %s", w.target, len(w.breaches), strings.Join(w.breaches[:min(len(w.breaches), 5)], "; "))
		w.breaches = nil
	}
}

func (w *watcher) stop() {
	w.cancel()
	<-w.done
	w.check()
	w.mu.Lock()
	w.t.Logf("replica watcher of %s: %d samples, %d unanswered", w.target, w.samples, w.gaps)
	w.mu.Unlock()
}

// noLeaks deletes the scenario's ScaledObjects and checks that nothing they
// held stays: their HPAs go (garbage collected with their owner), every
// proxy in front of a source they read counts no open connection, and the
// operator's goroutines come back to within slack of baseline.
func (s *scenario) noLeaks(op *operator, baseline float64, proxies ...*faultproxy.Proxy) {
	t := s.t
	t.Helper()
	ctx := t.Context()
	// One deletecollection of 1,000 objects can outlast the API server's
	// request timeout (the stream is then reset) while it goes on deleting:
	// asking again is safe, and what counts is that they are gone.
	var delErr error
	for range 5 {
		if delErr = s.c.DeleteAllOf(ctx, &v1alpha1.ScaledObject{}, client.InNamespace(s.ns)); delErr == nil {
			break
		}
		t.Logf("delete the ScaledObjects (asking again): %v", delErr)
	}
	if delErr != nil {
		t.Fatal(delErr)
	}
	pollList(t, 120*time.Second, "the ScaledObjects are gone", func(ctx context.Context) (bool, string) {
		var list v1alpha1.ScaledObjectList
		if err := s.c.List(ctx, &list, client.InNamespace(s.ns)); err != nil {
			return false, err.Error()
		}
		return len(list.Items) == 0, fmt.Sprintf("%d left", len(list.Items))
	})
	pollList(t, 120*time.Second, "no HPA is left", func(ctx context.Context) (bool, string) {
		var list autoscalingv2.HorizontalPodAutoscalerList
		if err := s.c.List(ctx, &list, client.InNamespace(s.ns)); err != nil {
			return false, err.Error()
		}
		return len(list.Items) == 0, fmt.Sprintf("%d HPAs left", len(list.Items))
	})
	for i, p := range proxies {
		s.within(30*time.Second, fmt.Sprintf("proxy %d holds no connection to its source", i), func(context.Context) (bool, string) {
			n := p.Conns()
			return n == 0, fmt.Sprintf("%d connections open", n)
		})
	}
	if op != nil {
		const slack = 15
		var last float64
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
			n, err := scrape(ctx, op.metricsPort, "go_goroutines")
			last = n
			return err == nil && n <= baseline+slack, nil
		})
		if err != nil {
			t.Fatalf("the operator's goroutines did not come back to their level before the scenario: %v, %v before (slack %d); what runs:\n%s",
				last, baseline, slack, goroutineDump(op))
		}
	}
}

// goroutineDump makes the operator print its goroutines (SIGQUIT: it exits)
// and returns how many run in each function where they were created.
func goroutineDump(op *operator) string {
	_ = syscall.Kill(op.Pid(), syscall.SIGQUIT)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if gone, _ := op.Exited(); gone {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	data, err := os.ReadFile(op.LogPath())
	if err != nil {
		return err.Error()
	}
	counts := map[string]int{}
	for _, line := range strings.Split(string(data), "\n") {
		if f, ok := strings.CutPrefix(line, "created by "); ok {
			f, _, _ = strings.Cut(f, " in goroutine")
			counts[f]++
		}
	}
	type kv struct {
		f string
		n int
	}
	var list []kv
	for f, n := range counts {
		list = append(list, kv{f, n})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].n > list[j].n })
	var b strings.Builder
	for _, e := range list[:min(len(list), 25)] {
		fmt.Fprintf(&b, "%5d %s\n", e.n, e.f)
	}
	return b.String()
}

// release deletes one ScaledObject and checks that what it held goes: its
// HPA (garbage collected) and its connections through p.
func (s *scenario) release(name string, p *faultproxy.Proxy) {
	t := s.t
	t.Helper()
	so := &v1alpha1.ScaledObject{ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: name}}
	if err := s.c.Delete(t.Context(), so); err != nil {
		t.Fatal(err)
	}
	s.within(60*time.Second, name+": the ScaledObject and its HPA are gone", func(ctx context.Context) (bool, string) {
		if err := s.c.Get(ctx, client.ObjectKeyFromObject(so), so); !apierrors.IsNotFound(err) {
			return false, fmt.Sprintf("ScaledObject: %v", err)
		}
		var hpa autoscalingv2.HorizontalPodAutoscaler
		err := s.c.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: v1alpha1.HPANamePrefix + name}, &hpa)
		return apierrors.IsNotFound(err), fmt.Sprintf("HPA: %v", err)
	})
	s.within(30*time.Second, name+": no connection to its source stays open", func(context.Context) (bool, string) {
		n := p.Conns()
		return n == 0, fmt.Sprintf("%d connections open through the proxy", n)
	})
}

// goroutines is the operator's goroutine count once it has settled: the
// highest of three samples in a row, 100 ms apart, within 2 of each other.
func (s *scenario) goroutines(op *operator) float64 {
	s.t.Helper()
	var window []float64
	var settled float64
	s.within(60*time.Second, "the operator's goroutine count settles", func(ctx context.Context) (bool, string) {
		n, err := scrape(ctx, op.metricsPort, "go_goroutines")
		if err != nil {
			return false, err.Error()
		}
		window = append(window, n)
		if len(window) > 3 {
			window = window[1:]
		}
		if len(window) < 3 {
			return false, "sampling"
		}
		lo, hi := slices.Min(window), slices.Max(window)
		settled = hi
		return hi-lo <= 2, fmt.Sprintf("samples %v", window)
	})
	return settled
}
