// SPDX-License-Identifier: Apache-2.0

package controller_test

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/controller"
	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/cron"
)

// A cron window wakes its target at the window's start, not at the next
// activation probe or poll (minutes away here): the trigger tells the scale
// loop when its window opens. While open it serves desiredReplicas; the poll
// after it closes sees it closed, and the target goes back to zero.
func TestCronWindowWakesTheTargetAtItsStart(t *testing.T) {
	e := newEnv(t, false)
	e.types = []scalers.Type{cron.NewType()}
	_, loop := e.startOperatorWith("", 0, false)
	e.deployment("batch", 0)

	// A window of 8 s starting 8 s from now, in UTC, with seconds.
	start := time.Now().UTC().Truncate(time.Second).Add(8 * time.Second)
	end := start.Add(8 * time.Second)
	at := func(t time.Time) string {
		return fmt.Sprintf("%d %d %d %d %d *", t.Second(), t.Minute(), t.Hour(), t.Day(), int(t.Month()))
	}
	so := e.scaledObject("nightly", "batch", v1alpha1.Trigger{Type: "cron", Metadata: map[string]string{
		"timezone": "UTC", "start": at(start), "end": at(end), "desiredReplicas": "3",
	}})
	so.Spec.PollingInterval = ptr.To[int32](300)
	so.Spec.CooldownPeriod = ptr.To[int32](0)
	// Direct: no wait for the HPA's 5 min scale-down window after the window.
	so.Spec.Advanced = &v1alpha1.AdvancedConfig{ActivationProbeInterval: &metav1.Duration{Duration: 2 * time.Minute}, ScaleToZero: v1alpha1.ScaleToZeroDirect}
	e.create(so)
	got := e.waitCondition("nightly", v1alpha1.ConditionReady, metav1.ConditionTrue, "", 30*time.Second)
	// (Were the machine so slow that the window opened before the trigger
	// was built, the first poll would find it open: the checks below hold.)
	if n := e.replicas("batch"); n != 0 && time.Now().Before(start) {
		t.Fatalf("%d replicas before the window", n)
	}

	e.waitReplicas("batch", 1, 30*time.Second)
	woke := time.Now()
	if woke.Before(start) {
		t.Fatalf("woken at %s, before the window's start %s", woke.Format(time.StampMilli), start.Format(time.StampMilli))
	}
	// Far sooner than the 2 min probe or the 5 min poll (a generous bound).
	if late := woke.Sub(start); late > 20*time.Second {
		t.Errorf("woken %s after the window opened", late)
	}
	metric := controller.MetricRef{Namespace: e.ns, ScaledObject: "nightly", Metric: got.Status.ExternalMetricNames[0]}
	if v, err := loop.ExternalMetric(t.Context(), metric); err != nil || v != 3 {
		t.Errorf("metric %v, %v while the window is open; want 3 (desiredReplicas)", v, err)
	}
	// The end is seen at the next poll: make that soon.
	cur := e.get("nightly")
	e.update(cur, func() { cur.Spec.PollingInterval = ptr.To[int32](1) })
	e.waitFor(60*time.Second, "batch back at zero after the window", func() (bool, error) {
		if e.replicas("batch") == 0 {
			return true, nil
		}
		so := e.get("nightly")
		return false, fmt.Errorf("%d replicas; conditions %+v", e.replicas("batch"), so.Status.Conditions)
	})
	if time.Now().Before(end) {
		t.Errorf("back at zero before the window closed at %s", end.Format(time.StampMilli))
	}
}
