// SPDX-License-Identifier: Apache-2.0

package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
)

// FieldOwner is the field manager of everything Ebb writes.
const FieldOwner = "ebb"

// StatusBase is the reconciler's part of a ScaledObject's status.
type StatusBase struct {
	ObservedGeneration   int64
	Ready                metav1.Condition
	ScaleTargetKind      string
	OriginalReplicaCount *int32
	HPAName              string
	ExternalMetricNames  []string
}

// StatusWriter writes a ScaledObject's status.
type StatusWriter interface {
	WriteStatus(ctx context.Context, so *v1alpha1.ScaledObject, status *v1alpha1.ScaledObjectStatus) error
}

// NewStatusWriter writes status with server-side apply on the status
// subresource: one request, no read-modify-write conflicts.
func NewStatusWriter(c client.Client) StatusWriter { return applyStatus{c} }

type applyStatus struct{ c client.Client }

func (a applyStatus) WriteStatus(ctx context.Context, so *v1alpha1.ScaledObject, status *v1alpha1.ScaledObjectStatus) error {
	// The response goes into a throwaway object, not so: the scale loop
	// reads its copy of so concurrently, and keeping the server's copy
	// (managed fields and all) would cost memory per ScaledObject.
	out := &v1alpha1.ScaledObject{ObjectMeta: metav1.ObjectMeta{Namespace: so.Namespace, Name: so.Name}}
	return applyStatusPatch(ctx, a.c, out, "ScaledObject", status)
}

// applyStatusPatch writes status to out's status subresource with
// server-side apply, as Ebb's field owner. out names the object (namespace
// and name) and takes the response; kind is its kind in the v1alpha1 group.
func applyStatusPatch(ctx context.Context, c client.Client, out client.Object, kind string, status any) error {
	body := struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Metadata   map[string]string `json:"metadata"`
		Status     any               `json:"status"`
	}{v1alpha1.GroupVersion.String(), kind, map[string]string{"name": out.GetName(), "namespace": out.GetNamespace()}, status}
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	return c.Status().Patch(ctx, out, client.RawPatch(types.ApplyPatchType, data), client.FieldOwner(FieldOwner), client.ForceOwnership)
}

// Condition reasons.
const (
	ReasonReady           = "Ready"
	ReasonTriggerActive   = "TriggerActive"
	ReasonNoTriggerActive = "NoTriggerActive"
	ReasonTriggersUnknown = "TriggersUnknown"
	ReasonFallbackActive  = "FallbackActive"
	ReasonNoFallback      = "NoFallback"
	ReasonPaused          = "Paused"
	ReasonNotPaused       = "NotPaused"
	ReasonScaleInPaused   = "ScaleInPaused"
	ReasonScaleOutPaused  = "ScaleOutPaused"
	ReasonConflict        = "Conflict"
	ReasonTargetNotFound  = "TargetNotFound"
	ReasonScalerError     = "ScalerError"
	ReasonHPAError        = "HPAError"
	// ReasonAuthError: a built object's credentials no longer resolve.
	ReasonAuthError = "AuthError"
)

// loopStatus builds the whole status from the reconciler's base and the
// loop's last decision.
func (o *loopObject) loopStatus(d Decision, desired int32, now time.Time) *v1alpha1.ScaledObjectStatus {
	so := o.state.Object
	base := o.state.Base
	st := &v1alpha1.ScaledObjectStatus{
		ObservedGeneration:   base.ObservedGeneration,
		ScaleTargetKind:      base.ScaleTargetKind,
		OriginalReplicaCount: base.OriginalReplicaCount,
		HPAName:              base.HPAName,
		ExternalMetricNames:  base.ExternalMetricNames,
		CurrentReplicas:      o.current,
		DesiredReplicas:      desired,
	}
	if o.lastAct != nil {
		st.LastActiveTime = &metav1.Time{Time: o.lastAct.Truncate(time.Second)}
	}
	for _, t := range append(o.triggers, o.composite) {
		if t == nil {
			continue
		}
		s := t.lastSample()
		ts := v1alpha1.TriggerStatus{
			Name: t.name, Type: t.typ, MetricName: t.spec.Name,
			Target: formatQuantity(t.spec.Target), Active: s.Err == nil && s.Active, ConsecutiveFailures: s.Failures,
		}
		if !s.Time.IsZero() {
			ts.Value = formatQuantity(s.Value)
			ts.LastReadTime = &metav1.Time{Time: s.Time.Truncate(time.Second)}
		}
		if s.Err != nil {
			ts.LastError = sanitize(s.Err.Error(), 512)
		}
		st.Triggers = append(st.Triggers, ts)
	}

	prev := so.Status.Conditions
	if o.written != nil {
		prev = o.written.Conditions
	}
	conds := append([]metav1.Condition(nil), prev...)
	gen := so.Generation
	ready := base.Ready
	ready.ObservedGeneration = gen
	meta.SetStatusCondition(&conds, ready)

	active := metav1.Condition{Type: v1alpha1.ConditionActive, ObservedGeneration: gen}
	switch {
	case d.Forced:
		active.Status, active.Reason, active.Message = metav1.ConditionTrue, ReasonForcedActivation, "no trigger is active; active by annotation "+v1alpha1.AnnotationForceActivation
	case d.Active:
		active.Status, active.Reason, active.Message = metav1.ConditionTrue, ReasonTriggerActive, activeMessage(o)
	case d.NoneKnown:
		active.Status, active.Reason, active.Message = metav1.ConditionUnknown, ReasonTriggersUnknown, "no trigger could be read"
	default:
		active.Status, active.Reason, active.Message = metav1.ConditionFalse, ReasonNoTriggerActive, "no trigger is active"
	}
	meta.SetStatusCondition(&conds, active)

	fb := metav1.Condition{Type: v1alpha1.ConditionFallback, ObservedGeneration: gen, Status: metav1.ConditionFalse, Reason: ReasonNoFallback, Message: "every trigger is below its failure threshold"}
	if d.InFallback {
		fb.Status, fb.Reason, fb.Message = metav1.ConditionTrue, ReasonFallbackActive, d.Message
	}
	meta.SetStatusCondition(&conds, fb)

	meta.SetStatusCondition(&conds, pausedCondition(d, gen))
	for i := range conds {
		if conds[i].LastTransitionTime.IsZero() {
			conds[i].LastTransitionTime = metav1.Time{Time: now.Truncate(time.Second)}
		}
	}
	st.Conditions = conds
	return st
}

// pausedCondition is the Paused condition of a decision: True under a full
// pause (reason Paused) and under a directional one (ScaleInPaused,
// ScaleOutPaused, or Paused when both directions are), with the move a
// directional pause withheld, if any, in the message.
func pausedCondition(d Decision, gen int64) metav1.Condition {
	pc := metav1.Condition{Type: v1alpha1.ConditionPaused, ObservedGeneration: gen, Status: metav1.ConditionFalse, Reason: ReasonNotPaused, Message: "scaling is not paused"}
	switch {
	case d.Paused:
		pc.Status, pc.Reason, pc.Message = metav1.ConditionTrue, ReasonPaused, d.Message
		if d.Message == "" {
			pc.Message = "paused by annotation"
		}
	case d.PausedScaleIn && d.PausedScaleOut:
		pc.Status, pc.Reason = metav1.ConditionTrue, ReasonPaused
		pc.Message = fmt.Sprintf("scale-in and scale-out paused by annotations %s and %s: the replica count holds", v1alpha1.AnnotationPausedScaleIn, v1alpha1.AnnotationPausedScaleOut)
	case d.PausedScaleIn:
		pc.Status, pc.Reason = metav1.ConditionTrue, ReasonScaleInPaused
		pc.Message = "scale-in paused by annotation " + v1alpha1.AnnotationPausedScaleIn + ": the target may grow but does not shrink"
	case d.PausedScaleOut:
		pc.Status, pc.Reason = metav1.ConditionTrue, ReasonScaleOutPaused
		pc.Message = "scale-out paused by annotation " + v1alpha1.AnnotationPausedScaleOut + ": the target may shrink but does not grow"
	}
	if d.Held && !d.Paused {
		pc.Message += "; " + d.Message
	}
	return pc
}

func activeMessage(o *loopObject) string {
	var names []string
	for _, t := range append(o.triggers, o.composite) {
		if t != nil {
			if s := t.lastSample(); s.Err == nil && s.Active {
				names = append(names, t.name)
			}
		}
	}
	if len(names) == 0 {
		return "a trigger is active"
	}
	return triggerList(names) + " active"
}

// writeStatus writes the status at once when something other than the
// trigger readings changed; when a trigger's value changed, once the last
// write is older than the polling interval (at least 30 s); and when only the
// read times moved, once it is older than ten polling intervals (at least
// 5 minutes). Status tracks health closely without a write per poll: an idle
// ScaledObject costs the API server a status write every 5 minutes, not
// every 30 s (at 10,000 ScaledObjects, 33 writes a second rather than 333).
func (l *ScaleLoop) writeStatus(ctx context.Context, o *loopObject, d Decision, desired int32, now time.Time) {
	st := o.loopStatus(d, desired, now)
	if o.written != nil {
		if same, sameValues := compareStatus(st, o.written); same {
			interval := o.state.Object.Spec.PollingIntervalDuration()
			quiet := max(interval, 30*time.Second)
			if sameValues {
				quiet = max(10*interval, 5*time.Minute)
			}
			if now.Sub(o.writtenAt) < quiet {
				return
			}
		}
	}
	if err := l.Status.WriteStatus(ctx, o.state.Object, st); err != nil {
		l.Log.Error(err, "Writing status", "scaledObject", o.key)
		return
	}
	o.written, o.writtenAt = st, now
}

// compareStatus says whether a and b are equal but for the triggers'
// readings (value and read time), and whether the values are equal too. It
// runs on every poll, so it compares shallow copies rather than deep ones.
func compareStatus(a, b *v1alpha1.ScaledObjectStatus) (same, sameValues bool) {
	ra, rb := *a, *b
	ra.Triggers, rb.Triggers = nil, nil
	if len(a.Triggers) != len(b.Triggers) || !equality.Semantic.DeepEqual(&ra, &rb) {
		return false, false
	}
	sameValues = true
	for i := range a.Triggers {
		ta, tb := a.Triggers[i], b.Triggers[i]
		sameValues = sameValues && ta.Value == tb.Value
		ta.Value, tb.Value = "", ""
		ta.LastReadTime, tb.LastReadTime = nil, nil
		if !equality.Semantic.DeepEqual(&ta, &tb) {
			return false, false
		}
	}
	return true, sameValues
}

func formatQuantity(v float64) string {
	return strconv.FormatFloat(v, 'f', -1, 64)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
