// SPDX-License-Identifier: Apache-2.0

package controller

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/scalers"
)

// A recovered panic is logged with its stack and recorded as an Event, at
// most once a minute per trigger, and counted every time; none of it
// repeats the panic's value.
func TestAScalerPanicIsReportedWithoutItsValue(t *testing.T) {
	var lines []string
	log := funcr.New(func(prefix, args string) { lines = append(lines, args) }, funcr.Options{})
	events := record.NewFakeRecorder(10)
	m, err := NewMetrics(prometheus.NewRegistry(), nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	clk := clocktesting.NewFakeClock(time.Now())
	p := &panicReport{object: &v1alpha1.ScaledObject{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "so"}},
		events: events, log: log, metrics: m, clock: clk, trigger: "orders", typ: "rabbitmq"}
	read := func() (scalers.Reading, error) { panic("reply was \x00secret\x00") }

	for i := range 3 {
		_, err := p.readScaler(read)
		if !errors.Is(err, scalers.ErrPanicked) {
			t.Fatalf("read %d: %v, want ErrPanicked", i, err)
		}
		clk.Step(20 * time.Second)
	}
	if len(lines) != 1 || len(events.Events) != 1 {
		t.Fatalf("3 panics within a minute: %d log lines, %d events; want 1 and 1", len(lines), len(events.Events))
	}
	ev := <-events.Events
	if !strings.Contains(ev, "Warning ScalerPanicked") || !strings.Contains(ev, `trigger "orders" (rabbitmq)`) {
		t.Errorf("event %q", ev)
	}
	if !strings.Contains(lines[0], "TestAScalerPanicIsReportedWithoutItsValue") || !strings.Contains(lines[0], `"panic"="panic(string)"`) {
		t.Errorf("log line %q: want the stack and the panic's type", lines[0])
	}
	for _, s := range append(lines, ev) {
		if strings.Contains(s, "secret") {
			t.Errorf("%q repeats the panic's value", s)
		}
	}
	if got := testutil.ToFloat64(m.panics.WithLabelValues("rabbitmq")); got != 3 {
		t.Errorf("%s = %v, want 3", MetricScalerPanics, got)
	}
	// A minute after the first report, the next panic is reported again.
	clk.Step(time.Minute)
	_, _ = p.readScaler(read)
	if len(lines) != 2 {
		t.Errorf("a panic a minute later: %d log lines, want 2", len(lines))
	}
	// A panic a scaler recovered itself (in a goroutine of its own) is
	// reported the same way.
	clk.Step(time.Minute)
	_, _ = p.readScaler(func() (scalers.Reading, error) {
		return scalers.Reading{}, scalers.Guard(func() error { panic(1) })
	})
	if len(lines) != 3 {
		t.Errorf("a panic recovered by the scaler: %d log lines, want 3", len(lines))
	}
}

// The scale loop's read and the adapter's read-through both recover.
func TestTheLoopsReadsRecoverAScalerPanic(t *testing.T) {
	so := &v1alpha1.ScaledObject{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "orders"}}
	l := &ScaleLoop{}
	l.Upsert(ObjectState{Object: so, Triggers: []LoopTrigger{{Name: "q", Type: "test", Scaler: panickyScaler{}}}})
	_, err := l.ExternalMetric(context.Background(), MetricRef{Namespace: "ns", ScaledObject: "orders", Metric: "s0-test"})
	if !errors.Is(err, ErrMetricUnavailable) || !strings.Contains(err.Error(), "the scaler panicked") {
		t.Errorf("ExternalMetric = %v, want ErrMetricUnavailable naming the panic", err)
	}
}

type panickyScaler struct{ leakyScaler }

func (panickyScaler) Read(context.Context) (scalers.Reading, error) { panic("boom") }
