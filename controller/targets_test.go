// SPDX-License-Identifier: Apache-2.0

package controller

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/ebbscale/ebb/apis/v1alpha1"
)

func TestTheTargetWatchKeepsOnlyNameAndCount(t *testing.T) {
	strip := stripTarget(watchedKinds[0].replicas)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "worker", ResourceVersion: "42", UID: "u",
			Labels: map[string]string{"app": "worker"}, Annotations: map[string]string{"a": "b"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}},
		Spec: appsv1.DeploymentSpec{Replicas: ptr[int32](3)},
	}
	d.Spec.Template.Spec.Containers = []corev1.Container{{Name: "c", Image: "worker"}}
	got, err := strip(d)
	if err != nil {
		t.Fatal(err)
	}
	wt, ok := got.(*watchedTarget)
	if !ok {
		t.Fatalf("stripped to %T, want *watchedTarget", got)
	}
	want := &watchedTarget{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "worker", ResourceVersion: "42"}, Replicas: 3}
	if wt.Name != want.Name || wt.Namespace != want.Namespace || wt.ResourceVersion != want.ResourceVersion || wt.Replicas != 3 ||
		wt.UID != "" || wt.Labels != nil || wt.Annotations != nil || wt.ManagedFields != nil {
		t.Errorf("stripped = %+v, want only %+v", wt, want)
	}
	if again, _ := strip(wt); again != wt {
		t.Errorf("stripping a stripped object gave %v, want the same object", again)
	}
	d.Spec.Replicas = nil
	if got, _ := strip(d); got.(*watchedTarget).Replicas != 1 {
		t.Errorf("an unset spec.replicas counts %d, want the default 1", got.(*watchedTarget).Replicas)
	}
	if got, _ := stripTarget(watchedKinds[1].replicas)(d); got != any(d) {
		t.Errorf("the StatefulSet watch stripped a Deployment: %T", got)
	}
}

// A poll takes the target's count from the watch (no request) until it moves
// the target: then it reads /scale and writes at the version it read.
func TestTheLoopReadsScaleOnlyBeforeAMove(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	scales := &versionedScales{replicas: 0, version: 7}
	counts := &fixedCounts{}
	status := &lastStatus{}
	events := record.NewFakeRecorder(100)
	sc := &gatedScaler{gate: make(chan struct{})}
	close(sc.gate)
	l := &ScaleLoop{Clock: clk, Scales: scales, Targets: counts, Status: status, Events: events, ReadBudget: time.Second,
		Jitter: func() float64 { return 0 }}
	so := &v1alpha1.ScaledObject{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "orders", CreationTimestamp: metav1.Time{Time: t0.Add(-time.Hour)}}}
	target := Target{Resource: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, APIVersion: "apps/v1", Kind: "Deployment", Name: "orders"}
	l.Upsert(ObjectState{Object: so, Target: target, Triggers: []LoopTrigger{{Name: "q", Type: "test", Scaler: sc}}})
	key := types.NamespacedName{Namespace: "ns", Name: "orders"}
	ctx := t.Context()

	// Idle at zero, polled across more than the refresh of an unwatched
	// count: no request but the status write.
	for range 12 {
		l.poll(ctx, key)
		clk.Step(time.Minute)
	}
	if gets, sets := scales.calls(); gets != 0 || sets != 0 {
		t.Fatalf("idle at zero: %d GETs and %d writes of /scale, want none", gets, sets)
	}

	// Active: one GET right before the move, and the move carries its
	// resourceVersion.
	sc.mu.Lock()
	sc.value = 3
	sc.mu.Unlock()
	l.poll(ctx, key)
	if gets, sets := scales.calls(); gets != 1 || sets != 1 {
		t.Fatalf("activation: %d GETs and %d writes of /scale, want 1 and 1", gets, sets)
	}
	if rv := scales.lastVersion(); rv != "7" {
		t.Errorf("the move was written at resourceVersion %q, want the read's 7", rv)
	}
	if got := scales.get(); got != 1 {
		t.Errorf("replicas = %d after activation, want 1", got)
	}
}

// A target changed between the read and the write is not moved on the old
// count: the write fails with a Conflict, no ScaleFailed Event is sent, and
// the poll runs again at once, reading /scale anew.
func TestAMoveOnAChangedTargetIsDecidedAgain(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	scales := &versionedScales{replicas: 0, version: 7, conflicts: 1}
	status := &lastStatus{}
	events := record.NewFakeRecorder(100)
	sc := &gatedScaler{gate: make(chan struct{}), value: 3}
	close(sc.gate)
	l := &ScaleLoop{Clock: clk, Scales: scales, Targets: &fixedCounts{}, Status: status, Events: events, ReadBudget: time.Second,
		Jitter: func() float64 { return 0 }}
	so := &v1alpha1.ScaledObject{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "orders", CreationTimestamp: metav1.Time{Time: t0.Add(-time.Hour)}}}
	l.Upsert(ObjectState{Object: so, Target: Target{Kind: "Deployment", Name: "orders"}, Triggers: []LoopTrigger{{Name: "q", Type: "test", Scaler: sc}}})
	key := types.NamespacedName{Namespace: "ns", Name: "orders"}

	next, ok := l.poll(t.Context(), key)
	if !ok || next != conflictRetry {
		t.Fatalf("poll after a conflict = %s, %v; want again in %s", next, ok, conflictRetry)
	}
	select {
	case e := <-events.Events:
		t.Errorf("a conflict sent an Event: %s", e)
	default:
	}
	clk.Step(conflictRetry)
	l.poll(t.Context(), key)
	if gets, sets := scales.calls(); gets != 2 || sets != 2 {
		t.Errorf("%d GETs and %d writes of /scale, want 2 and 2 (the retry reads again)", gets, sets)
	}
	if got := scales.get(); got != 1 {
		t.Errorf("replicas = %d after the retry, want 1", got)
	}
}

// fixedCounts is a TargetCounts that holds every target at 0 replicas.
type fixedCounts struct{}

func (fixedCounts) Replicas(string, Target) (int32, bool, bool) { return 0, true, true }

// versionedScales is a /scale with a resourceVersion: a write at another
// version, or one of the first conflicts writes, fails with a Conflict.
type versionedScales struct {
	mu         sync.Mutex
	replicas   int32
	version    int
	conflicts  int
	gets, sets int
	lastRV     string
}

func (f *versionedScales) GetScale(context.Context, string, Target) (Scale, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets++
	return Scale{Replicas: f.replicas, ResourceVersion: strconv.Itoa(f.version)}, nil
}

func (f *versionedScales) SetReplicas(_ context.Context, _ string, t Target, n int32, rv string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sets++
	f.lastRV = rv
	if f.conflicts > 0 || (rv != "" && rv != strconv.Itoa(f.version)) {
		f.conflicts--
		f.version++
		return apierrors.NewConflict(schema.GroupResource{Group: "apps", Resource: "deployments"}, t.Name, nil)
	}
	f.replicas = n
	f.version++
	return nil
}

func (f *versionedScales) calls() (gets, sets int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gets, f.sets
}

func (f *versionedScales) get() int32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.replicas
}

func (f *versionedScales) lastVersion() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastRV
}

// The creation of a Deployment reconciles the ScaledObjects on it, and only
// those.
func TestATargetsCreationReconcilesItsScaledObjects(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	on := func(name, target, kind string) *v1alpha1.ScaledObject {
		return &v1alpha1.ScaledObject{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name},
			Spec: v1alpha1.ScaledObjectSpec{ScaleTargetRef: v1alpha1.ScaleTarget{APIVersion: "apps/v1", Kind: kind, Name: target}}}
	}
	c := fake.NewClientBuilder().WithScheme(scheme).
		WithIndex(&v1alpha1.ScaledObject{}, indexSOTarget, func(o client.Object) []string {
			ref := o.(*v1alpha1.ScaledObject).Spec.ScaleTargetRef
			return []string{targetKey(ref.APIVersion, ref.Kind, ref.Name)}
		}).
		WithObjects(on("orders", "worker", "Deployment"), on("other", "api", "Deployment"), on("db", "worker", "StatefulSet")).
		Build()
	r := &Reconciler{Client: c}
	got := r.scaledObjectsOn(t.Context(), "apps", "Deployment", "shop", "worker")
	if len(got) != 1 || got[0].Name != "orders" {
		t.Errorf("Deployment shop/worker created: requests %v, want shop/orders only", got)
	}
}
