// SPDX-License-Identifier: Apache-2.0

package controller_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/ptr"

	"github.com/ebbscale/ebb/controller"
)

// series are the gathered samples of one metric whose labels include
// labels, each keyed by its full label set.
func series(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) map[string]float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			var v float64
			switch {
			case m.GetGauge() != nil:
				v = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				v = m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				v = float64(m.GetHistogram().GetSampleCount())
			}
			out[fmt.Sprint(got)] = v
		}
	}
	return out
}

// value is the one sample of name with labels, and whether there is one.
func value(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	s := series(t, g, name, labels)
	if len(s) != 1 {
		return 0, false
	}
	for _, v := range s {
		return v, true
	}
	return 0, false
}

// The job loop records a ScaledJob's trigger reads, its Jobs running and
// pending, the Jobs it created and those it pruned, in series of its own;
// they all go with the ScaledJob.
func TestScaledJobMetricsFollowItsJobsAndGoWithIt(t *testing.T) {
	e := newEnv(t, false)
	reg := prometheus.NewRegistry()
	e.metrics = reg
	mq := newRabbit(t)
	q := mq.queue()
	e.startOperator("", 0)
	mq.publish(q, 4)
	sj := e.scaledJob("metered", rabbitTrigger(rabbitURL, q, "2"))
	sj.Spec.SuccessfulJobsHistoryLimit = ptr.To[int32](0)
	e.create(sj)
	e.waitSettled("metered", 2)
	mq.purge(q)

	job := map[string]string{"namespace": e.ns, "scaledjob": "metered"}
	trig := map[string]string{"namespace": e.ns, "scaledjob": "metered", "type": "rabbitmq"}
	e.waitFor(30*time.Second, "the series after the poll that created two Jobs", func() (bool, error) {
		created, _ := value(t, reg, controller.MetricJobsCreated, job)
		running, _ := value(t, reg, controller.MetricJobsRunning, job)
		pending, _ := value(t, reg, controller.MetricJobsPending, job)
		target, _ := value(t, reg, controller.MetricJobTriggerTarget, trig)
		reads, _ := value(t, reg, controller.MetricJobTriggerReadDuration, trig)
		_, hasValue := value(t, reg, controller.MetricJobTriggerValue, trig)
		return created == 2 && running == 2 && pending == 2 && target == 2 && reads >= 1 && hasValue, nil
	})
	if n := len(series(t, reg, controller.MetricTriggerValue, map[string]string{"namespace": e.ns})); n != 0 {
		t.Errorf("%d ScaledObject trigger series for a ScaledJob", n)
	}

	// One succeeds: with a history limit of 0 the loop prunes it.
	e.finish(e.running("metered")[0], false, time.Now())
	e.waitFor(30*time.Second, "the pruned Job counted and one Job running", func() (bool, error) {
		deleted, _ := value(t, reg, controller.MetricJobsDeleted, map[string]string{"namespace": e.ns, "scaledjob": "metered", "reason": controller.JobDeletedHistory})
		running, _ := value(t, reg, controller.MetricJobsRunning, job)
		return deleted == 1 && running == 1, nil
	})

	if err := e.c.Delete(t.Context(), e.getJob("metered")); err != nil {
		t.Fatal(err)
	}
	names := []string{controller.MetricJobsCreated, controller.MetricJobsRunning, controller.MetricJobsPending, controller.MetricJobsDeleted,
		controller.MetricJobTriggerValue, controller.MetricJobTriggerTarget, controller.MetricJobTriggerActive,
		controller.MetricJobTriggerReadDuration, controller.MetricJobTriggerReadErrors}
	e.waitFor(30*time.Second, "no series of the deleted ScaledJob", func() (bool, error) {
		for _, name := range names {
			if s := series(t, reg, name, job); len(s) != 0 {
				return false, nil
			}
		}
		return true, nil
	})
}
