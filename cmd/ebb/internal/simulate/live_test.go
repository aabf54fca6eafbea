// SPDX-License-Identifier: Apache-2.0

package simulate

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/cmd/ebb/internal/demo"
	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/tests/controlplane"
)

// seriesType is a trigger type for tests: its scalers read a Series at the
// time elapsed since the first read of any of them, so that the live run
// and the simulation see the same metric from Ebb's first poll on.
type seriesType struct {
	series *Series

	mu    sync.Mutex
	start time.Time
}

type seriesConfig struct {
	Target     float64 `meta:"target"`
	Activation float64 `meta:"activationTarget,default=0"`
}

var _ scalers.Type = (*seriesType)(nil)

func (st *seriesType) Name() string { return "series" }
func (st *seriesType) Config() any  { return &seriesConfig{} }

func (st *seriesType) Validate(t scalers.Trigger) error {
	return scalers.ParseMetadata(t, &seriesConfig{})
}

func (st *seriesType) New(t scalers.Trigger) (scalers.Scaler, error) {
	var c seriesConfig
	if err := scalers.ParseMetadata(t, &c); err != nil {
		return nil, err
	}
	return &seriesScaler{typ: st, spec: scalers.MetricSpec{
		Name: scalers.MetricName(t, ""), Target: c.Target, ActivationTarget: c.Activation, Type: t.MetricTypeOrDefault(),
	}}, nil
}

// Start is the time of the first read; zero before it.
func (st *seriesType) Start() time.Time {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.start
}

type seriesScaler struct {
	typ  *seriesType
	spec scalers.MetricSpec
}

func (s *seriesScaler) Metric() scalers.MetricSpec { return s.spec }
func (s *seriesScaler) Close() error               { return nil }

func (s *seriesScaler) Read(context.Context) (scalers.Reading, error) {
	now := time.Now()
	s.typ.mu.Lock()
	if s.typ.start.IsZero() {
		s.typ.start = now
	}
	at := now.Sub(s.typ.start)
	s.typ.mu.Unlock()
	pts := s.typ.series.Points
	i := sort.Search(len(pts), func(i int) bool { return pts[i].At > at }) - 1
	if i < 0 || !pts[i].OK {
		return scalers.Reading{}, fmt.Errorf("no value at %s", at)
	}
	v := pts[i].Value
	return scalers.Reading{Value: v, Active: scalers.IsActive(v, s.spec.ActivationTarget)}, nil
}

func steps(pairs ...float64) *Series {
	s := &Series{Name: "live"}
	for i := 0; i+1 < len(pairs); i += 2 {
		s.Points = append(s.Points, Point{At: time.Duration(pairs[i] * float64(time.Second)), Value: pairs[i+1], OK: true})
	}
	return s
}

// TestSimulationAgreesWithTheRealHPA runs one ScaledObject live — a real
// kube-apiserver and kube-controller-manager (the real HPA, syncing every
// second), Ebb's operator in this process with its metrics adapter behind
// the real aggregator, and a trigger that reads a series at the time since
// Ebb's first poll — and replays the same ScaledObject and series in the
// simulator with the same HPA sync period. The series steps up (0 → 25 →
// 60 → 100, past maxReplicaCount), holds, and steps down to 0.
//
// The two replica timelines must be the same changes, in order, to the
// same counts, each at most one HPA sync period plus one polling interval
// apart. That is the real system's slack the model does not have: the
// HPA's syncs fall anywhere within its period relative to Ebb's polls (the
// model syncs on whole periods from Ebb's first poll), and the HPA reads the
// value Ebb polled up to one polling interval before (the extra hop: Ebb
// polls, then the HPA reads); a change the HPA makes can only come later
// than the poll that caused it by that much, and Ebb's own moves (0→1 on a
// probe, 1→0 at the end of the cooldown) follow its polls the same way in
// both.
func TestSimulationAgreesWithTheRealHPA(t *testing.T) {
	const (
		syncPeriod = time.Second // tests/controlplane's kube-controller-manager
		polling    = 2 * time.Second
		ns         = "sim"
	)
	series := steps(0, 0, 5, 25, 20, 60, 35, 100, 50, 40, 65, 10, 75, 0, 95, 0)
	typ := &seriesType{series: series}
	reg, err := scalers.NewRegistry(typ)
	if err != nil {
		t.Fatal(err)
	}

	cp := controlplane.Start(t, controlplane.WithControllerManager(), controlplane.WithAggregator())
	op, err := demo.StartOperator(cp, reg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := op.Stop(); err != nil {
			t.Errorf("stop the operator: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	if err := op.WaitAvailable(ctx, cp, 2*time.Minute); err != nil {
		t.Fatal(err)
	}

	labels := map[string]string{"app": "worker"}
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "worker"},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](0),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "worker", Image: "registry.invalid/worker:1"}}},
				},
			},
		},
	}
	for _, o := range objs {
		if err := cp.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	wc, err := client.NewWithWatch(cp.Config, client.Options{Scheme: cp.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	w, err := wc.Watch(ctx, &appsv1.DeploymentList{}, client.InNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	so := &v1alpha1.ScaledObject{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "worker"},
		Spec: v1alpha1.ScaledObjectSpec{
			ScaleTargetRef:  v1alpha1.ScaleTarget{APIVersion: "apps/v1", Kind: "Deployment", Name: "worker"},
			PollingInterval: ptr.To(int32(polling / time.Second)),
			CooldownPeriod:  ptr.To[int32](10),
			MaxReplicaCount: ptr.To[int32](8),
			Advanced: &v1alpha1.AdvancedConfig{HorizontalPodAutoscalerConfig: &v1alpha1.HorizontalPodAutoscalerConfig{
				Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
					ScaleUp: &autoscalingv2.HPAScalingRules{
						StabilizationWindowSeconds: ptr.To[int32](0),
						Policies:                   []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 10, PeriodSeconds: 1}},
					},
					ScaleDown: &autoscalingv2.HPAScalingRules{
						StabilizationWindowSeconds: ptr.To[int32](5),
						Policies:                   []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 1}},
					},
				},
			}},
			Triggers: []v1alpha1.Trigger{{Type: "series", Name: "load", Metadata: map[string]string{"target": "10"}}},
		},
	}
	if err := cp.Client.Create(ctx, so.DeepCopy()); err != nil {
		t.Fatal(err)
	}

	// The live timeline: every change of the Deployment's spec.replicas,
	// timed from Ebb's first poll, until it is back at zero after the
	// series' last step down.
	type seen struct {
		at       time.Time
		replicas int32
	}
	var raw []seen
	last := int32(0)
	end := series.End()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			t.Fatalf("the Deployment did not go back to zero after the series ended; changes so far: %v", raw)
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("the watch of Deployments ended")
			}
			if ev.Type != watch.Added && ev.Type != watch.Modified {
				continue
			}
			d, isDep := ev.Object.(*appsv1.Deployment)
			if !isDep || d.Name != "worker" || d.Spec.Replicas == nil {
				continue
			}
			now := time.Now()
			if n := *d.Spec.Replicas; n != last {
				raw = append(raw, seen{now, n})
				last = n
			}
			start := typ.Start()
			done = last == 0 && !start.IsZero() && now.Sub(start) > series.Points[len(series.Points)-2].At
		}
	}
	start := typ.Start()
	var live []Change
	from := int32(0)
	for _, s := range raw {
		live = append(live, Change{At: s.at.Sub(start), From: from, To: s.replicas})
		from = s.replicas
	}

	sc, err := NewScenario("live", so, reg, map[string]*Series{"": series})
	if err != nil {
		t.Fatal(err)
	}
	sim, err := Run(sc, Cluster{SyncPeriod: syncPeriod, Tolerance: 0.1, DownscaleStabilization: 5 * time.Minute}, end)
	if err != nil {
		t.Fatal(err)
	}

	tolerance := syncPeriod + polling
	show := func(cs []Change) string {
		var b strings.Builder
		for _, c := range cs {
			fmt.Fprintf(&b, "\n  %7.3fs  %d → %d  %s", c.At.Seconds(), c.From, c.To, c.By)
		}
		return b.String()
	}
	t.Logf("live:%s\nsimulated:%s", show(live), show(sim.Changes))
	if len(live) != len(sim.Changes) {
		t.Fatalf("%d changes live, %d simulated", len(live), len(sim.Changes))
	}
	for i, l := range live {
		s := sim.Changes[i]
		if l.To != s.To {
			t.Errorf("change %d: live to %d at %.3fs, simulated to %d at %.3fs", i, l.To, l.At.Seconds(), s.To, s.At.Seconds())
			continue
		}
		if d := (l.At - s.At).Abs(); d > tolerance {
			t.Errorf("change %d to %d: live at %.3fs, simulated at %.3fs: %s apart, more than %s", i, l.To, l.At.Seconds(), s.At.Seconds(), d, tolerance)
		}
	}
}

func testLogger(t *testing.T) logr.Logger {
	if os.Getenv("EBB_TEST_LOG") == "" {
		return logr.Discard()
	}
	name := t.Name()
	return funcr.New(func(prefix, args string) { fmt.Fprintln(os.Stderr, name, prefix, args) }, funcr.Options{Verbosity: 1})
}
