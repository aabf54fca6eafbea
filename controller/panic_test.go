// SPDX-License-Identifier: Apache-2.0

package controller_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/ptr"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/controller"
	"github.com/ebbscale/ebb/scalers"
)

// panicType is a test-only trigger type whose scalers panic on every read
// and probe, with a value that quotes "the source's bytes", as a decoder
// choking on a hostile reply would.
type panicType struct{}

const hostileBytes = "BYTES-FROM-A-HOSTILE-SOURCE"

func (panicType) Name() string                   { return "panics" }
func (panicType) Config() any                    { return &struct{}{} }
func (panicType) Validate(scalers.Trigger) error { return nil }
func (panicType) New(tr scalers.Trigger) (scalers.Scaler, error) {
	return panicScaler{name: scalers.MetricName(tr, "")}, nil
}

type panicScaler struct{ name string }

func (s panicScaler) Metric() scalers.MetricSpec {
	return scalers.MetricSpec{Name: s.name, Target: 1, Type: v1alpha1.MetricTypeAverageValue}
}
func (panicScaler) Read(context.Context) (scalers.Reading, error) {
	panic("unexpected reply: " + hostileBytes)
}
func (panicScaler) Probe(context.Context) (scalers.Reading, error) {
	var m map[string]int
	m[hostileBytes]++ // a nil map: a runtime error
	return scalers.Reading{}, nil
}
func (panicScaler) Close() error { return nil }

// A scaler that panics fails its trigger's reads: the trigger's status
// says so and an Event too, without the panic's bytes, while the operator
// keeps running and another ScaledObject keeps scaling.
func TestAPanickingScalerFailsItsTriggerAndNothingElse(t *testing.T) {
	e := newEnv(t, false)
	reg := prometheus.NewRegistry()
	e.metrics = reg
	e.types = []scalers.Type{panicType{}}
	mq := newRabbit(t)
	q := mq.queue()
	op := e.startOperator("", 0)

	e.deployment("victim", 2)
	victim := e.scaledObject("hostile", "victim", v1alpha1.Trigger{Type: "panics", Name: "bad-source"})
	victim.Spec.PollingInterval = ptr.To[int32](5)
	e.create(victim)
	e.deployment("worker", 0)
	e.create(e.scaledObject("orders", "worker", rabbitTrigger(rabbitURL, q, "10")))

	var status v1alpha1.TriggerStatus
	e.waitFor(60*time.Second, "the panicking trigger's error in status", func() (bool, error) {
		so := e.get("hostile")
		if len(so.Status.Triggers) != 1 {
			return false, nil
		}
		status = so.Status.Triggers[0]
		return strings.Contains(status.LastError, "the scaler panicked"), nil
	})
	if strings.Contains(status.LastError, hostileBytes) {
		t.Errorf("status lastError %q repeats the panic's value", status.LastError)
	}
	ev := e.waitEvent("hostile", controller.ReasonScalerPanicked)
	if !strings.Contains(ev, `trigger "bad-source" (panics)`) {
		t.Errorf("event %q does not name the trigger", ev)
	}

	// The other ScaledObject scales from zero on its first message.
	mq.publish(q, 1)
	e.waitReplicas("worker", 1, 60*time.Second)

	select {
	case err := <-op.done:
		t.Fatalf("the operator stopped: %v", err)
	default:
	}
	if e.replicas("victim") != 2 {
		t.Errorf("the target of the panicking trigger was scaled to %d; an unknown trigger holds it", e.replicas("victim"))
	}
	for _, ev := range append(e.events("hostile"), e.events("orders")...) {
		if strings.Contains(ev, hostileBytes) {
			t.Errorf("event %q repeats the panic's value", ev)
		}
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var panics float64
	for _, f := range families {
		if f.GetName() != controller.MetricScalerPanics {
			continue
		}
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == "panics" {
				panics = m.GetCounter().GetValue()
			}
		}
	}
	if panics < 1 {
		t.Errorf("%s{type=\"panics\"} = %v, want at least 1", controller.MetricScalerPanics, panics)
	}
}
