// SPDX-License-Identifier: Apache-2.0

package controller

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/scalers"
)

func newTestMetrics(t *testing.T, objs ...*v1alpha1.ScaledObject) (*Metrics, *prometheus.Registry) {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	b := fake.NewClientBuilder().WithScheme(scheme)
	for _, o := range objs {
		b = b.WithObjects(o)
	}
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg, b.Build(), "v0.test")
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

func TestTriggerReadsAreRecordedPerTrigger(t *testing.T) {
	m, reg := newTestMetrics(t)
	key := types.NamespacedName{Namespace: "shop", Name: "orders"}
	q := m.trigger(key, "queue", "rabbitmq", scalers.MetricSpec{Name: "s0-rabbitmq", Target: 10})
	q.read(3*time.Millisecond, 42, true, nil)
	q.read(5*time.Millisecond, 0, false, errors.New("connection refused"))

	lv := []string{"shop", "orders", "queue", "rabbitmq"}
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"value (the last good read survives an error)", testutil.ToFloat64(m.value.WithLabelValues(lv...)), 42},
		{"target", testutil.ToFloat64(m.target.WithLabelValues(lv...)), 10},
		{"active", testutil.ToFloat64(m.active.WithLabelValues(lv...)), 1},
		{"read errors", testutil.ToFloat64(m.readErrors.WithLabelValues(lv...)), 1},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP ebb_trigger_read_duration_seconds Time a read (or batched activation probe) of the trigger's source took, failed ones included.
# TYPE ebb_trigger_read_duration_seconds histogram
ebb_trigger_read_duration_seconds_bucket{namespace="shop",scaledobject="orders",trigger="queue",type="rabbitmq",le="0.001"} 0
ebb_trigger_read_duration_seconds_bucket{namespace="shop",scaledobject="orders",trigger="queue",type="rabbitmq",le="0.0025"} 0
ebb_trigger_read_duration_seconds_bucket{namespace="shop",scaledobject="orders",trigger="queue",type="rabbitmq",le="0.005"} 2
ebb_trigger_read_duration_seconds_bucket{namespace="shop",scaledobject="orders",trigger="queue",type="rabbitmq",le="0.01"} 2
ebb_trigger_read_duration_seconds_bucket{namespace="shop",scaledobject="orders",trigger="queue",type="rabbitmq",le="0.025"} 2
ebb_trigger_read_duration_seconds_bucket{namespace="shop",scaledobject="orders",trigger="queue",type="rabbitmq",le="0.05"} 2
ebb_trigger_read_duration_seconds_bucket{namespace="shop",scaledobject="orders",trigger="queue",type="rabbitmq",le="0.1"} 2
ebb_trigger_read_duration_seconds_bucket{namespace="shop",scaledobject="orders",trigger="queue",type="rabbitmq",le="0.25"} 2
ebb_trigger_read_duration_seconds_bucket{namespace="shop",scaledobject="orders",trigger="queue",type="rabbitmq",le="0.5"} 2
ebb_trigger_read_duration_seconds_bucket{namespace="shop",scaledobject="orders",trigger="queue",type="rabbitmq",le="1"} 2
ebb_trigger_read_duration_seconds_bucket{namespace="shop",scaledobject="orders",trigger="queue",type="rabbitmq",le="2.5"} 2
ebb_trigger_read_duration_seconds_bucket{namespace="shop",scaledobject="orders",trigger="queue",type="rabbitmq",le="5"} 2
ebb_trigger_read_duration_seconds_bucket{namespace="shop",scaledobject="orders",trigger="queue",type="rabbitmq",le="10"} 2
ebb_trigger_read_duration_seconds_bucket{namespace="shop",scaledobject="orders",trigger="queue",type="rabbitmq",le="30"} 2
ebb_trigger_read_duration_seconds_bucket{namespace="shop",scaledobject="orders",trigger="queue",type="rabbitmq",le="+Inf"} 2
ebb_trigger_read_duration_seconds_sum{namespace="shop",scaledobject="orders",trigger="queue",type="rabbitmq"} 0.008
ebb_trigger_read_duration_seconds_count{namespace="shop",scaledobject="orders",trigger="queue",type="rabbitmq"} 2
`), MetricTriggerReadDuration); err != nil {
		t.Error(err)
	}
}

func TestSeriesOfRemovedTriggersAndDeletedObjectsAreDeleted(t *testing.T) {
	m, reg := newTestMetrics(t)
	orders := types.NamespacedName{Namespace: "shop", Name: "orders"}
	other := types.NamespacedName{Namespace: "shop", Name: "other"}
	m.trigger(orders, "queue", "rabbitmq", scalers.MetricSpec{Target: 10}).read(time.Millisecond, 1, true, nil)
	m.trigger(orders, "lag", "kafka", scalers.MetricSpec{Target: 5}).read(time.Millisecond, 1, true, nil)
	m.trigger(other, "queue", "rabbitmq", scalers.MetricSpec{Target: 10}).read(time.Millisecond, 1, true, nil)
	m.decision(orders, 0, 1, ReasonScaledFromZero, nil)

	// A spec change drops the kafka trigger.
	m.forget(orders, []LoopTrigger{{Name: "queue", Type: "rabbitmq"}})
	if n := testutil.CollectAndCount(m.target); n != 2 {
		t.Errorf("after dropping a trigger: %d target series, want 2", n)
	}
	if n := testutil.CollectAndCount(m.decisions); n != 1 {
		t.Errorf("a spec change removed the decision counter: %d series", n)
	}
	// The ScaledObject goes.
	m.forget(orders, nil)
	for name, c := range map[string]prometheus.Collector{"value": m.value, "target": m.target, "active": m.active, "latency": m.readDuration, "errors": m.readErrors} {
		if n := testutil.CollectAndCount(c); n != 1 {
			t.Errorf("after delete: %d %s series, want the other object's 1", n, name)
		}
	}
	if n := testutil.CollectAndCount(m.decisions); n != 0 {
		t.Errorf("after delete: %d decision series", n)
	}
	if _, err := reg.Gather(); err != nil {
		t.Error(err)
	}
}

func TestScaleDecisionsAreCountedByDirectionAndReason(t *testing.T) {
	m, _ := newTestMetrics(t)
	key := types.NamespacedName{Namespace: "shop", Name: "orders"}
	m.decision(key, 0, 1, ReasonScaledFromZero, nil)
	m.decision(key, 0, 1, ReasonScaledFromZero, nil)
	m.decision(key, 1, 0, ReasonScaledToZero, nil)
	m.decision(key, 1, 0, ReasonScaledToZero, errors.New("forbidden"))
	if err := testutil.CollectAndCompare(m.decisions, strings.NewReader(`
# HELP ebb_scale_decisions_total Replica changes the scale loop made (0↔1, idle, fallback, paused), by direction (up, down) and reason (the Event's reason).
# TYPE ebb_scale_decisions_total counter
ebb_scale_decisions_total{direction="down",namespace="shop",reason="ScaledToZero",scaledobject="orders"} 1
ebb_scale_decisions_total{direction="up",namespace="shop",reason="ScaledFromZero",scaledobject="orders"} 2
`)); err != nil {
		t.Error(err)
	}
	if got := testutil.ToFloat64(m.scaleErrors.WithLabelValues("shop", "orders")); got != 1 {
		t.Errorf("scale errors = %v, want 1", got)
	}
}

func TestScaledObjectsAreCountedByStateFromTheirConditions(t *testing.T) {
	so := func(name string, current, desired int32, conds ...string) *v1alpha1.ScaledObject {
		o := &v1alpha1.ScaledObject{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name}}
		o.Status.CurrentReplicas, o.Status.DesiredReplicas = current, desired
		for _, c := range []string{v1alpha1.ConditionReady, v1alpha1.ConditionActive, v1alpha1.ConditionFallback, v1alpha1.ConditionPaused} {
			st := metav1.ConditionFalse
			for _, want := range conds {
				if want == c {
					st = metav1.ConditionTrue
				}
			}
			o.Status.Conditions = append(o.Status.Conditions, metav1.Condition{Type: c, Status: st, Reason: "Test"})
		}
		return o
	}
	_, reg := newTestMetrics(t,
		so("orders", 3, 4, v1alpha1.ConditionReady, v1alpha1.ConditionActive),
		so("mails", 0, 0, v1alpha1.ConditionReady),
		so("broken", 2, 2, v1alpha1.ConditionFallback),
		so("frozen", 5, 5, v1alpha1.ConditionReady, v1alpha1.ConditionPaused),
	)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP ebb_scaledobjects ScaledObjects whose condition of the state (ready, active, fallback, paused) is True.
# TYPE ebb_scaledobjects gauge
ebb_scaledobjects{state="active"} 1
ebb_scaledobjects{state="fallback"} 1
ebb_scaledobjects{state="paused"} 1
ebb_scaledobjects{state="ready"} 3
# HELP ebb_scaledobject_desired_replicas The replica count Ebb or its HPA last asked for (status.desiredReplicas).
# TYPE ebb_scaledobject_desired_replicas gauge
ebb_scaledobject_desired_replicas{namespace="shop",scaledobject="broken"} 2
ebb_scaledobject_desired_replicas{namespace="shop",scaledobject="frozen"} 5
ebb_scaledobject_desired_replicas{namespace="shop",scaledobject="mails"} 0
ebb_scaledobject_desired_replicas{namespace="shop",scaledobject="orders"} 4
`), MetricScaledObjects, MetricDesiredReplicas); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg, MetricBuildInfo); err != nil || n != 1 {
		t.Errorf("build info: %d series, %v", n, err)
	}
}

func TestMetricsUseTheRegistryTheyAreGiven(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := NewMetrics(reg, nil, "v0.test"); err != nil {
		t.Fatal(err)
	}
	// A second set on the same registry collides; on another one it does not.
	if _, err := NewMetrics(reg, nil, "v0.test"); err == nil {
		t.Error("registering twice on one registry succeeded")
	}
	if _, err := NewMetrics(prometheus.NewRegistry(), nil, "v0.test"); err != nil {
		t.Errorf("a second registry: %v", err)
	}
	var nilMetrics *Metrics
	nilMetrics.trigger(types.NamespacedName{}, "a", "b", scalers.MetricSpec{}).read(time.Second, 1, true, nil)
	nilMetrics.decision(types.NamespacedName{}, 0, 1, "x", nil)
	nilMetrics.forget(types.NamespacedName{}, nil)
}

// A trigger not read yet (or only failing) shows no value rather than a
// zero; a read that ends after its ScaledObject went records nothing.
func TestATriggerWithoutAGoodReadHasNoValue(t *testing.T) {
	m, _ := newTestMetrics(t)
	key := types.NamespacedName{Namespace: "shop", Name: "orders"}
	tm := m.trigger(key, "queue", "rabbitmq", scalers.MetricSpec{Target: 10})
	tm.read(time.Millisecond, 0, false, errors.New("connection refused"))
	if n := testutil.CollectAndCount(m.value) + testutil.CollectAndCount(m.active); n != 0 {
		t.Errorf("%d value or active series before a good read", n)
	}
	if n := testutil.CollectAndCount(m.target); n != 1 {
		t.Errorf("%d target series, want 1", n)
	}
	// The same trigger taken again (a spec change) keeps its series.
	if again := m.trigger(key, "queue", "rabbitmq", scalers.MetricSpec{Target: 20}); again != tm {
		t.Error("a kept trigger got new series")
	}
	m.forget(key, nil)
	tm.read(time.Millisecond, 7, true, nil)
	for name, c := range map[string]prometheus.Collector{"value": m.value, "target": m.target, "latency": m.readDuration} {
		if n := testutil.CollectAndCount(c); n != 0 {
			t.Errorf("a read after the delete left %d %s series", n, name)
		}
	}
}

// failingReader is a cache that is not ready.
type failingReader struct{ client.Reader }

func (failingReader) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return errors.New("the cache is not started")
}

// While the cache is not ready the scrape still succeeds, without the
// counts.
func TestAScrapeBeforeTheCacheIsReadySucceeds(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := NewMetrics(reg, failingReader{}, "v0.test"); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(reg, MetricScaledObjects, MetricBuildInfo); err != nil || n != 1 {
		t.Errorf("gather: %d series (want build info only), %v", n, err)
	}
}
