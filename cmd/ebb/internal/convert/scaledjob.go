// SPDX-License-Identifier: Apache-2.0

package convert

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/controller"
)

var (
	jobStrategies = []string{string(v1alpha1.JobScalingDefault), string(v1alpha1.JobScalingCustom), string(v1alpha1.JobScalingAccurate), string(v1alpha1.JobScalingEager)}
	calculations  = []string{string(v1alpha1.CalculationMax), string(v1alpha1.CalculationMin), string(v1alpha1.CalculationAvg), string(v1alpha1.CalculationSum)}
)

// scaledJob converts a KEDA ScaledJob: the same field names, the same
// triggers, and the same defaults.
func (c *converter) scaledJob(o *objctx, m map[string]any) *v1alpha1.ScaledJob {
	root := newNode(o, "", m)
	root.take("apiVersion")
	root.take("kind")
	root.take("status")
	sj := &v1alpha1.ScaledJob{TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "ScaledJob"}}
	sj.ObjectMeta = o.objectMeta(root.child("metadata"), false, o.scaledJobAnnotation)
	spec := root.child("spec")
	root.rest("not a field of a ScaledJob")
	if spec == nil {
		o.report(Skipped, "spec", "is missing: not converted")
		return nil
	}
	s := &sj.Spec

	spec.take("triggers") // read below; not reported as unknown when the JobSpec fails
	v, ok := spec.take("jobTargetRef")
	if !ok {
		spec.rest("not a field of a ScaledJob's spec")
		o.report(Skipped, "spec.jobTargetRef", "is missing: not converted")
		return nil
	}
	j, _ := json.Marshal(v)
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s.JobTargetRef); err != nil {
		spec.rest("not a field of a ScaledJob's spec")
		o.report(Skipped, "spec.jobTargetRef", "not a valid batch/v1 JobSpec (%v): not converted", err)
		return nil
	}
	s.EnvSourceContainerName, _ = spec.str("envSourceContainerName")
	s.PollingInterval = spec.int32("pollingInterval", 1, Changed, "; the default, 30 s, applies")
	s.SuccessfulJobsHistoryLimit = spec.int32("successfulJobsHistoryLimit", 0, Changed, "; the default, 100, applies")
	s.FailedJobsHistoryLimit = spec.int32("failedJobsHistoryLimit", 0, Changed, "; the default, 100, applies")
	s.MinReplicaCount = spec.int32("minReplicaCount", 0, Changed, "; the default, 0, applies")
	s.MaxReplicaCount = spec.int32("maxReplicaCount", 1, Changed, "; the default, 100, applies")
	if s.MinReplicas() > s.MaxReplicas() {
		o.report(Invalid, "spec.minReplicaCount", "%d is above maxReplicaCount %d; Ebb refuses it", s.MinReplicas(), s.MaxReplicas())
	}
	s.Rollout = o.rollout(spec)
	s.ScalingStrategy = o.jobScalingStrategy(spec.child("scalingStrategy"))

	list, _ := spec.list("triggers")
	spec.rest("not a field of a ScaledJob's spec")
	// The triggers convert as a ScaledObject's do (no formula to rename in).
	var ts v1alpha1.ScaledObjectSpec
	inputIndex := o.triggers(&ts, list)
	if len(ts.Triggers) == 0 {
		o.report(Skipped, "spec.triggers", "no trigger Ebb can serve is left: not converted")
		return nil
	}
	o.nameTriggers(&ts, inputIndex)
	s.Triggers = ts.Triggers
	for i, t := range s.Triggers {
		if t.MetricType == v1alpha1.MetricTypeValue {
			o.report(Note, "spec.triggers["+strconv.Itoa(inputIndex[i])+"].metricType", "a ScaledJob's target is always the work of one Job: Value changes nothing")
		}
	}

	check := sj
	if check.Namespace == "" {
		check = sj.DeepCopy()
		check.Namespace = metav1.NamespaceDefault
	}
	for _, e := range controller.ValidateJobSpec(o.c.reg, check) {
		msg := e.Detail
		if msg == "" {
			msg = e.ErrorBody()
		}
		o.report(Invalid, inputField(e.Field, inputIndex), "Ebb's admission check refuses it: %s", msg)
	}
	return sj
}

// scaledJobAnnotation maps KEDA's ScaledJob annotations.
func (o *objctx) scaledJobAnnotation(n *node, key, value string, out map[string]string) bool {
	if key != kedaPaused {
		return false
	}
	field := n.field("annotations") + "[" + key + "]"
	b, err := strconv.ParseBool(strings.TrimSpace(value))
	if err != nil {
		o.report(Changed, field, "is %q; expected true or false: left out, so the ScaledJob is not paused", value)
		return true
	}
	out[v1alpha1.AnnotationPaused] = strconv.FormatBool(b)
	o.report(Note, field, "written as %s: no Job is created while paused", v1alpha1.AnnotationPaused)
	return true
}

// rollout maps rollout (and the older rolloutStrategy).
func (o *objctx) rollout(spec *node) *v1alpha1.Rollout {
	var strategy string
	if old, ok := spec.str("rolloutStrategy"); ok {
		strategy = old
		o.report(Note, spec.field("rolloutStrategy"), "KEDA's older spelling: written as rollout.strategy")
	}
	field := spec.field("rolloutStrategy")
	if n := spec.child("rollout"); n != nil {
		if st, ok := n.str("strategy"); ok {
			strategy, field = st, n.field("strategy")
		}
		if p, ok := n.str("propagationPolicy"); ok && !strings.EqualFold(p, "background") {
			o.report(Changed, n.field("propagationPolicy"), "is %q; Ebb deletes Jobs with propagation policy Background: left out", p)
		}
		n.rest("not a field of rollout")
	}
	switch strategy {
	case "":
		return nil
	case string(v1alpha1.RolloutDefault), string(v1alpha1.RolloutGradual):
		return &v1alpha1.Rollout{Strategy: v1alpha1.RolloutStrategy(strategy)}
	default:
		o.report(Changed, field, "is %q; expected default or gradual: left out, so default applies (running Jobs are deleted on a change)", strategy)
		return nil
	}
}

func (o *objctx) jobScalingStrategy(n *node) *v1alpha1.ScalingStrategy {
	if n == nil {
		return nil
	}
	s := &v1alpha1.ScalingStrategy{}
	if st, ok := n.str("strategy"); ok {
		if slices.Contains(jobStrategies, st) {
			s.Strategy = v1alpha1.JobScalingStrategy(st)
		} else {
			o.report(Changed, n.field("strategy"), "is %q; expected %s: left out, so default applies", st, strings.Join(jobStrategies, ", "))
		}
	}
	deduction := n.int32("customScalingQueueLengthDeduction", 0, Dropped, "")
	percentage := n.decimal("customScalingRunningJobPercentage")
	if percentage != "" {
		if f, err := strconv.ParseFloat(percentage, 64); err != nil || f > 1 {
			o.report(Dropped, n.field("customScalingRunningJobPercentage"), "is %s; Ebb takes a share from 0 to 1: left out", percentage)
			percentage = ""
		}
	}
	if deduction != nil || percentage != "" {
		if s.Strategy == v1alpha1.JobScalingCustom {
			s.CustomScalingQueueLengthDeduction, s.CustomScalingRunningJobPercentage = deduction, percentage
		} else {
			o.report(Dropped, n.path, "customScalingQueueLengthDeduction and customScalingRunningJobPercentage apply to strategy custom only (KEDA ignores them otherwise): left out")
		}
	}
	if l, ok := n.list("pendingPodConditions"); ok {
		for i, v := range l {
			if c, ok := v.(string); ok && c != "" {
				s.PendingPodConditions = append(s.PendingPodConditions, c)
			} else {
				o.report(Dropped, n.field("pendingPodConditions")+"["+strconv.Itoa(i)+"]", "expected a pod condition type: left out")
			}
		}
	}
	if calc, ok := n.str("multipleScalersCalculation"); ok {
		if slices.Contains(calculations, calc) {
			s.MultipleScalersCalculation = v1alpha1.MultipleScalersCalculation(calc)
		} else {
			o.report(Changed, n.field("multipleScalersCalculation"), "is %q; expected %s: left out, so max applies", calc, strings.Join(calculations, ", "))
		}
	}
	n.rest("not a field of scalingStrategy")
	if s.Strategy == "" && s.MultipleScalersCalculation == "" && s.PendingPodConditions == nil && s.CustomScalingQueueLengthDeduction == nil && s.CustomScalingRunningJobPercentage == "" {
		return nil
	}
	return s
}
