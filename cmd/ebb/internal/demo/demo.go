// SPDX-License-Identifier: Apache-2.0

package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/cmd/ebb/internal/demo/work"
	"github.com/ebbscale/ebb/internal/localcluster"
	"github.com/ebbscale/ebb/internal/ociimage"
)

// Namespace holds the demo's Deployment and ScaledObject.
const Namespace = "demo"

// The demo's Deployment and ScaledObject are both named worker.
const workerName = "worker"

var externalMetrics = schema.GroupVersion{Group: "external.metrics.k8s.io", Version: "v1beta1"}

// Options shape a run. DefaultOptions gives the values of `ebb demo`.
type Options struct {
	// Source is the event source: kafka (an in-process broker), or a
	// running rabbitmq, postgresql, redis or nats (at RabbitMQURL,
	// PostgreSQLURL, RedisAddress, NATSURL).
	Source        string
	RabbitMQURL   string
	PostgreSQLURL string
	RedisAddress  string
	NATSURL       string

	// Records is the burst of work produced at once: records, messages or
	// rows, as the source has it.
	Records int
	// Rate is the items each replica consumes per second.
	Rate float64
	// Target is the work one replica should have: the trigger's target.
	Target int
	// MaxReplicas is the ScaledObject's maxReplicaCount.
	MaxReplicas int32
	// PollingInterval and Cooldown are the ScaledObject's pollingInterval
	// and cooldownPeriod, in whole seconds.
	PollingInterval time.Duration
	Cooldown        time.Duration

	// Lead is how long the idle state shows before the burst.
	Lead time.Duration
	// SampleEvery is how often the demo reads the cluster and the source.
	SampleEvery time.Duration
	// ExitAfter stops the run this long after the burst is due, if it has
	// not come back to zero by then; 0: no limit.
	ExitAfter time.Duration
	// Plot, when set, is the path of a PNG chart written at the end.
	Plot string

	// Cluster runs the worker as real pods on a real node (containerd,
	// runc, the kubelet; root needed) instead of a simulated consumer: each
	// ready pod consumes Rate items per second. Sources: ClusterSources.
	Cluster bool

	// LibraryLog, when set, points the libraries' process-wide loggers
	// (klog, controller-runtime's root logger), which the caller owns, at
	// the run's log file while it runs.
	LibraryLog LogRedirector
}

// LogRedirector points a log at w and returns the writer it had; safe to
// call while others log.
type LogRedirector interface {
	Redirect(w io.Writer) (previous io.Writer)
}

// DefaultOptions are the values of `ebb demo`: a run of about a minute
// once the control plane is up.
func DefaultOptions() Options {
	return Options{
		Source:          "kafka",
		RabbitMQURL:     DefaultRabbitMQURL,
		PostgreSQLURL:   DefaultPostgreSQLURL,
		RedisAddress:    DefaultRedisAddress,
		NATSURL:         DefaultNATSURL,
		Records:         1000,
		Rate:            10,
		Target:          20,
		MaxReplicas:     8,
		PollingInterval: 2 * time.Second,
		Cooldown:        10 * time.Second,
		Lead:            3 * time.Second,
		SampleEvery:     250 * time.Millisecond,
	}
}

// Validate checks o before anything starts.
func (o Options) Validate() error {
	var errs []error
	if !validSource(o.Source) {
		errs = append(errs, fmt.Errorf("--source %q: want one of %s", o.Source, strings.Join(Sources, ", ")))
	}
	if o.Cluster && validSource(o.Source) && !slices.Contains(ClusterSources, o.Source) {
		errs = append(errs, fmt.Errorf("--source %s: not supported with --cluster yet (%s are)", o.Source, strings.Join(ClusterSources, ", ")))
	}
	if o.Records < 1 {
		errs = append(errs, fmt.Errorf("--records %d: want at least 1", o.Records))
	}
	if !(o.Rate > 0) || math.IsInf(o.Rate, 0) {
		errs = append(errs, fmt.Errorf("--rate %v: want a number of records per second above 0", o.Rate))
	}
	if o.Target < 1 {
		errs = append(errs, fmt.Errorf("--target %d: want at least 1", o.Target))
	}
	if o.MaxReplicas < 1 || o.MaxReplicas > 100 {
		errs = append(errs, fmt.Errorf("--max-replicas %d: want 1 to 100", o.MaxReplicas))
	}
	if o.PollingInterval < time.Second {
		errs = append(errs, fmt.Errorf("--polling-interval %s: want at least 1s", o.PollingInterval))
	}
	if o.Cooldown < 0 {
		errs = append(errs, fmt.Errorf("--cooldown %s: want 0 or more", o.Cooldown))
	}
	if o.ExitAfter < 0 {
		errs = append(errs, fmt.Errorf("--exit-after %s: want 0 (no limit) or more", o.ExitAfter))
	}
	if o.SampleEvery <= 0 || o.Lead < 0 {
		errs = append(errs, errors.New("the sampling period must be above 0 and the lead 0 or more"))
	}
	return errors.Join(errs...)
}

// Result is what a run saw.
type Result struct {
	// Samples are in time order.
	Samples []Sample
	Summary Summary
	// Finished says the run came back to zero by itself (not interrupted,
	// not stopped by ExitAfter).
	Finished bool
}

// Run starts the control plane, the operator and the source, runs the
// scenario while showing it on out, prints the summary, writes the plot,
// and stops everything it started before it returns — also when ctx ends
// (Ctrl-C), which is not an error: the result then holds what was seen.
func Run(ctx context.Context, out io.Writer, o Options) (_ *Result, retErr error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Plot != "" {
		// Found out now, not after the run.
		if fi, err := os.Stat(filepath.Dir(o.Plot)); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("--plot %s: its folder does not exist", o.Plot)
		}
	}
	// fail ends a run that did not get to its scenario: quietly when ctx
	// ended (Ctrl-C is not an error).
	fail := func(err error) (*Result, error) {
		if ctx.Err() != nil {
			fmt.Fprintln(out, "Interrupted.")
			return &Result{}, nil
		}
		return nil, err
	}

	if o.Cluster {
		if err := checkClusterHost(os.Geteuid(), exec.LookPath, os.Stat); err != nil {
			return nil, err
		}
	}
	if err := ensureControlPlane(ctx, out, o.Cluster); err != nil {
		return fail(err)
	}
	var (
		node      *localcluster.NodeOptions
		workerRef string
	)
	if o.Cluster {
		im, err := buildImages(ctx, out)
		if err != nil {
			return fail(err)
		}
		defer im.remove()
		node = &localcluster.NodeOptions{PauseImage: ociimage.PauseRef, PauseImageTar: im.pauseTar, Images: []string{im.workerTar}}
		workerRef = im.workerRef
	}
	fmt.Fprintf(out, "Starting the event source (%s)...\n", o.Source)
	src, err := newSource(ctx, o)
	if err != nil {
		return fail(err)
	}
	defer func() { retErr = errors.Join(retErr, src.Close()) }()

	if node == nil {
		fmt.Fprintln(out, "Starting a local control plane: etcd, kube-apiserver (with the aggregation layer), kube-controller-manager...")
	} else {
		fmt.Fprintln(out, "Starting a local control plane (etcd, kube-apiserver, kube-controller-manager) and a node:\n"+
			"containerd and runc, the CNI bridge "+localcluster.NodeBridge+", kubelet, kube-proxy, kube-scheduler, CoreDNS, metrics-server\n"+
			"(one node runs on a machine at a time: this waits for another one to stop)...")
	}
	cp, err := localcluster.New(ctx, localcluster.Options{ControllerManager: true, Aggregator: true, Node: node})
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(out, "Control plane: API server %s, files (kubeconfig, logs) in %s\n", cp.URL(), cp.Dir)
	logPath := filepath.Join(cp.Dir, "ebb-operator.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		_ = cp.Stop()
		return nil, fmt.Errorf("operator log: %w", err)
	}
	defer func() {
		if retErr != nil && ctx.Err() == nil {
			retErr = fmt.Errorf("%w\n%s==> ebb-operator.log (last 40 lines) <==\n%s", retErr, cp.Logs(40), tail(logPath, 40))
		}
		fmt.Fprintln(out, "Stopping the control plane...")
		err := cp.Stop() // removes cp.Dir, the log with it
		_ = logFile.Close()
		if err == nil {
			fmt.Fprintln(out, "Stopped: nothing left running.")
		}
		retErr = errors.Join(retErr, err)
	}()
	log := fileLogger(logFile)
	if o.LibraryLog != nil {
		// client-go and the adapter's API server library log through klog:
		// to the file, not over the display.
		prev := o.LibraryLog.Redirect(logFile)
		defer o.LibraryLog.Redirect(prev)
	}

	fmt.Fprintln(out, "Starting Ebb's operator in this process: reconciler, scale loop, metrics adapter...")
	op, err := startOperator(cp, cp.Scheme, log)
	if err != nil {
		return fail(err)
	}
	defer func() {
		fmt.Fprintln(out, "Stopping the operator...")
		retErr = errors.Join(retErr, op.stop())
	}()
	fmt.Fprintf(out, "Registering the metrics adapter (127.0.0.1:%d) as APIService %s...\n", op.adapter.Port, op.adapter.Name())
	if err := op.waitAvailable(ctx, cp, 2*time.Minute); err != nil {
		return fail(err)
	}

	pod, podObjs := simulatedPod(), []client.Object(nil)
	if o.Cluster {
		if pod, podObjs, err = workerPod(src, o, workerRef, cp.Node.Expose); err != nil {
			return fail(err)
		}
	}
	so, err := createObjects(ctx, cp.Client, src, o, pod, podObjs)
	if err != nil {
		return fail(err)
	}
	hpa, err := waitReady(ctx, cp.Client, so)
	if err != nil {
		return fail(err)
	}

	fmt.Fprintf(out, "\nkubeconfig:  %s\n", cp.Kubeconfig)
	if o.Cluster {
		fmt.Fprintf(out, "Watch it:    kubectl --kubeconfig %s get ebbso,hpa,deploy,pods -n %s\n", cp.Kubeconfig, Namespace)
	} else {
		fmt.Fprintf(out, "Watch it:    kubectl --kubeconfig %s get ebbso,hpa,deploy -n %s\n", cp.Kubeconfig, Namespace)
	}
	fmt.Fprintf(out, "Source:      %s\n", src.Describe())
	fmt.Fprintf(out, "Scaling:     Deployment %s/%s, ScaledObject %s (%s trigger, target %d per replica, max %d replicas,\n"+
		"             polling every %s, cooldown %s) and its HPA %s\n",
		Namespace, workerName, so.Name, so.Spec.Triggers[0].Type, o.Target, o.MaxReplicas,
		o.PollingInterval, o.Cooldown, hpa.Name)
	unit := src.Unit()
	if o.Cluster {
		fmt.Fprintf(out, "Work:        %s at once; each worker pod (image %s, on node %s) consumes %g %s/s\n", unit.Of(o.Records), workerRef, localcluster.NodeName, o.Rate, unit.Many)
	} else {
		fmt.Fprintf(out, "Work:        %s at once; each replica consumes %g %s/s (a stand-in for its pods)\n", unit.Of(o.Records), o.Rate, unit.Many)
	}
	fmt.Fprintf(out, "Operator log: %s (removed with the control plane at the end)\n\n", logPath)

	res := &Result{}
	sc := scale{records: o.Records, target: hpaTarget(hpa), maxReplicas: o.MaxReplicas, pods: o.Cluster}
	disp := newDisplay(out, sc)
	res.Finished, res.Samples = runScenario(ctx, cp.Client, src, o, hpa, disp)
	disp.close()
	res.Summary = Summarize(res.Samples)

	fmt.Fprintln(out)
	switch {
	case ctx.Err() != nil:
		fmt.Fprintln(out, "Interrupted.")
	case !res.Finished:
		fmt.Fprintf(out, "Stopped after %s (--exit-after).\n", o.ExitAfter)
	}
	res.Summary.Print(out, o.Records, unit)
	if o.Plot != "" {
		if err := WritePlot(o.Plot, res.Samples, PlotTitle{Source: o.Source, Unit: unit, Records: o.Records, Rate: o.Rate, Target: o.Target, MaxReplicas: o.MaxReplicas, Pods: o.Cluster}); err != nil {
			return res, err
		}
		fmt.Fprintf(out, "Chart:  %s\n", o.Plot)
	}
	fmt.Fprintln(out)
	return res, nil
}

// runScenario waits Lead, produces the burst, and samples until the run is
// back at zero, ExitAfter passes or ctx ends. It says whether the run came
// back to zero.
func runScenario(ctx context.Context, c client.Client, src source, o Options, hpa *autoscalingv2.HorizontalPodAutoscaler, disp display) (bool, []Sample) {
	w := &watcher{
		c:       c,
		src:     src,
		deploy:  types.NamespacedName{Namespace: Namespace, Name: workerName},
		hpa:     client.ObjectKeyFromObject(hpa),
		printed: map[types.UID]int32{},
		pods:    o.Cluster,
		ready:   map[string]bool{},
	}
	// Events of the setup (the HPA's creation, ...) are not the story.
	_, _ = w.newEvents(ctx)

	wctx, stopWork := context.WithCancel(ctx)
	defer stopWork()
	errs := make(chan error, 1)
	consumed := make(chan struct{})
	if o.Cluster {
		close(consumed) // the pods consume
	} else {
		cons := &consumer{c: c, deploy: w.deploy, src: src, rate: o.Rate, every: 200 * time.Millisecond}
		go func() {
			defer close(consumed)
			cons.run(wctx, errs)
		}()
	}
	defer func() {
		stopWork()
		<-consumed
	}()

	start := time.Now()
	first := start.Add(o.Lead) // when the burst is due; At counts from here
	var limit <-chan time.Time
	if o.ExitAfter > 0 {
		t := time.NewTimer(o.Lead + o.ExitAfter)
		defer t.Stop()
		limit = t.C
	}
	tick := time.NewTicker(o.SampleEvery)
	defer tick.Stop()

	var samples []Sample
	burst, drained := false, false
	var nextEvents, doneAt time.Time
	var prev Sample
	for {
		select {
		case <-ctx.Done():
			return false, samples
		case <-limit:
			return false, samples
		case err := <-errs:
			disp.event(time.Since(first), "consumer: "+err.Error())
			continue
		case <-tick.C:
		}
		now := time.Now()
		if !burst && !now.Before(first) {
			first = now
			if err := src.Produce(ctx, o.Records); err != nil {
				disp.event(0, "produce: "+err.Error())
				return false, samples
			}
			burst = true
			disp.event(0, fmt.Sprintf("produced %s (in %s)", src.Unit().Of(o.Records), time.Since(first).Round(time.Millisecond)))
		}
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		s := w.sample(sctx, now.Sub(first))
		cancel()
		if ctx.Err() != nil {
			return false, samples
		}
		samples = append(samples, s)
		if len(samples) > 1 && s.Replicas >= 0 && prev.Replicas >= 0 && s.Replicas != prev.Replicas {
			disp.event(s.At, fmt.Sprintf("replicas %d → %d", prev.Replicas, s.Replicas))
		}
		for _, l := range w.podLines {
			disp.event(s.At, l)
		}
		if now.After(nextEvents) {
			nextEvents = now.Add(time.Second)
			if lines, err := w.newEvents(ctx); err == nil {
				for _, l := range lines {
					disp.event(s.At, l)
				}
			}
		}
		sum := Summarize(samples)
		if sum.Drained.Seen && !drained {
			drained = true
			disp.event(s.At, "drained: lag 0")
		}
		disp.update(s)
		prev = s
		// With pods, done is also every pod gone.
		if burst && sum.Done() && s.Pods <= 0 {
			// A short tail: the chart ends flat at zero, and the Events of
			// the last step have time to arrive.
			if doneAt.IsZero() {
				doneAt = now
			}
			if now.Sub(doneAt) >= doneTail {
				if lines, err := w.newEvents(ctx); err == nil {
					for _, l := range lines {
						disp.event(s.At, l)
					}
				}
				return true, samples
			}
		}
	}
}

// doneTail is how long a run goes on sampling once back at zero.
const doneTail = 1500 * time.Millisecond

// consumer stands in for the worker's pods (none run: there is no
// kubelet): every tick it reads the Deployment's replica count and consumes
// rate records per second per replica.
type consumer struct {
	c      client.Client
	deploy types.NamespacedName
	src    source
	rate   float64
	every  time.Duration
}

func (cs *consumer) run(ctx context.Context, errs chan<- error) {
	work.Pace(ctx, cs.every,
		func(ctx context.Context) (float64, bool) {
			var d appsv1.Deployment
			if err := cs.c.Get(ctx, cs.deploy, &d); err != nil {
				return 0, false
			}
			return float64(ptr.Deref(d.Spec.Replicas, 1)) * cs.rate, true
		},
		cs.src.Consume,
		func(err error) {
			select {
			case errs <- err:
			default:
			}
		})
}

// createObjects makes namespace demo, Deployment worker at 0 replicas, the
// source's credentials and ScaledObject worker.
func createObjects(ctx context.Context, c client.Client, src source, o Options, pod corev1.PodSpec, podObjs []client.Object) (*v1alpha1.ScaledObject, error) {
	labels := map[string]string{"app": workerName}
	trig, auth := src.Trigger(Namespace, o.Target)
	so := &v1alpha1.ScaledObject{
		ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: workerName},
		Spec: v1alpha1.ScaledObjectSpec{
			ScaleTargetRef:  v1alpha1.ScaleTarget{APIVersion: "apps/v1", Kind: "Deployment", Name: workerName},
			PollingInterval: ptr.To(int32(o.PollingInterval / time.Second)),
			CooldownPeriod:  ptr.To(int32(o.Cooldown / time.Second)),
			MinReplicaCount: ptr.To[int32](0),
			MaxReplicaCount: ptr.To(o.MaxReplicas),
			Advanced: &v1alpha1.AdvancedConfig{HorizontalPodAutoscalerConfig: &v1alpha1.HorizontalPodAutoscalerConfig{
				Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
					// Down as soon as the lag falls, for a short demo.
					ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To[int32](0)},
				},
			}},
			Triggers: []v1alpha1.Trigger{trig},
		},
	}
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}},
		&appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: workerName},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](0),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec:       pod,
				},
			},
		},
	}
	objs = append(objs, podObjs...)
	objs = append(objs, auth...)
	objs = append(objs, so)
	for _, obj := range objs {
		if err := c.Create(ctx, obj); err != nil {
			return nil, fmt.Errorf("create %T %s: %w", obj, obj.GetName(), err)
		}
	}
	return so, nil
}

// simulatedPod is the worker's pod spec without --cluster: it never runs,
// there is no scheduler and no kubelet.
func simulatedPod() corev1.PodSpec {
	return corev1.PodSpec{Containers: []corev1.Container{{Name: workerName, Image: "registry.invalid/worker:1"}}}
}

// waitReady waits until the operator has made the ScaledObject's HPA and
// marked it Ready, and returns the HPA.
func waitReady(ctx context.Context, c client.Client, so *v1alpha1.ScaledObject) (*autoscalingv2.HorizontalPodAutoscaler, error) {
	hpa := &autoscalingv2.HorizontalPodAutoscaler{}
	err := poll(ctx, time.Minute, 250*time.Millisecond, "ScaledObject "+Namespace+"/"+so.Name+" to be Ready", func(ctx context.Context) (bool, string, error) {
		var cur v1alpha1.ScaledObject
		if err := c.Get(ctx, client.ObjectKeyFromObject(so), &cur); err != nil {
			return false, err.Error(), nil
		}
		ready := apimeta.FindStatusCondition(cur.Status.Conditions, "Ready")
		if ready == nil || ready.Status != metav1.ConditionTrue {
			if ready != nil {
				return false, ready.Reason + ": " + ready.Message, nil
			}
			return false, "no Ready condition yet", nil
		}
		if err := c.Get(ctx, client.ObjectKey{Namespace: so.Namespace, Name: cur.HPAName()}, hpa); err != nil {
			return false, err.Error(), nil
		}
		return true, "", nil
	})
	return hpa, err
}

// poll calls cond every interval until it holds, fails, ctx ends or timeout
// passes; the error then says what was awaited and cond's last word.
func poll(ctx context.Context, timeout, interval time.Duration, what string, cond func(ctx context.Context) (bool, string, error)) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	last := ""
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ok, why, err := cond(cctx)
		cancel()
		switch {
		case err != nil:
			return fmt.Errorf("waiting for %s: %w", what, err)
		case ok:
			return nil
		}
		last = why
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting for %s: not within %s (last: %s)", what, timeout, last)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-tick.C:
		}
	}
}

// fileLogger logs to w, one line per entry, up to V(1).
func fileLogger(w io.Writer) logr.Logger {
	return funcr.New(func(prefix, args string) {
		fmt.Fprintln(w, time.Now().Format(time.RFC3339Nano), prefix, args)
	}, funcr.Options{Verbosity: 1})
}

// tail is the last n lines of the file at path.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
