// SPDX-License-Identifier: Apache-2.0

package convert

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/controller"
)

// KEDA's annotations on a ScaledObject.
const (
	kedaPaused               = "autoscaling.keda.sh/paused"
	kedaPausedReplicas       = "autoscaling.keda.sh/paused-replicas"
	kedaPausedScaleIn        = "autoscaling.keda.sh/paused-scale-in"
	kedaPausedScaleOut       = "autoscaling.keda.sh/paused-scale-out"
	kedaForceActivation      = "autoscaling.keda.sh/force-activation"
	kedaTransferHPAOwnership = "scaledobject.keda.sh/transfer-hpa-ownership"
	kedaHPAOwnership         = "validations.keda.sh/hpa-ownership"
)

func (c *converter) scaledObject(o *objctx, m map[string]any) *v1alpha1.ScaledObject {
	root := newNode(o, "", m)
	root.take("apiVersion")
	root.take("kind")
	root.take("status")
	so := &v1alpha1.ScaledObject{TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "ScaledObject"}}
	so.ObjectMeta = o.objectMeta(root.child("metadata"), false, o.scaledObjectAnnotation)
	spec := root.child("spec")
	root.rest("not a field of a ScaledObject")
	if spec == nil {
		o.report(Skipped, "spec", "is missing: not converted")
		return nil
	}
	s := &so.Spec

	target := spec.child("scaleTargetRef")
	if target != nil {
		s.ScaleTargetRef.APIVersion, _ = target.str("apiVersion")
		s.ScaleTargetRef.Kind, _ = target.str("kind")
		s.ScaleTargetRef.Name, _ = target.str("name")
		s.ScaleTargetRef.EnvSourceContainerName, _ = target.str("envSourceContainerName")
		target.rest("not a field of scaleTargetRef")
	}
	if s.ScaleTargetRef.Name == "" {
		spec.rest("not a field of a ScaledObject's spec")
		o.report(Skipped, "spec.scaleTargetRef.name", "is missing: not converted")
		return nil
	}

	s.PollingInterval = spec.int32("pollingInterval", 1, Changed, "; the default, 30 s, applies")
	s.CooldownPeriod = spec.int32("cooldownPeriod", 0, Changed, "; the default, 300 s, applies")
	s.InitialCooldownPeriod = spec.int32("initialCooldownPeriod", 0, Changed, "; the default, 0, applies")
	s.MinReplicaCount = spec.int32("minReplicaCount", 0, Changed, "; the default, 0, applies")
	s.MaxReplicaCount = spec.int32("maxReplicaCount", 1, Changed, "; the default, 100, applies")
	if idle := spec.int32("idleReplicaCount", 0, Dropped, ""); idle != nil {
		switch {
		case *idle > 0:
			o.report(Changed, "spec.idleReplicaCount", "is %d; Ebb allows only 0 (its HPA cannot hold a count between zero and its minReplicas): left out, so while no trigger is active the target stays at minReplicaCount (%d)", *idle, s.MinReplicas())
		case s.MinReplicas() == 0:
			o.report(Note, "spec.idleReplicaCount", "0 with minReplicaCount 0 changes nothing (and Ebb requires idleReplicaCount below minReplicaCount): left out")
		default:
			s.IdleReplicaCount = idle
		}
	}
	if s.MinReplicas() > s.MaxReplicas() {
		o.report(Invalid, "spec.minReplicaCount", "%d is above maxReplicaCount %d; Ebb (like KEDA) refuses it", s.MinReplicas(), s.MaxReplicas())
	}

	s.Fallback = o.fallback(spec.child("fallback"))
	s.Advanced = o.advanced(spec.child("advanced"))

	list, _ := spec.list("triggers")
	spec.rest("not a field of a ScaledObject's spec")
	inputIndex := o.triggers(s, list)
	if len(s.Triggers) == 0 {
		o.report(Skipped, "spec.triggers", "no trigger Ebb can serve is left: not converted")
		return nil
	}
	o.nameTriggers(s, inputIndex)

	o.admission(so, func(path string) (string, bool) { return inputField(path, inputIndex), true })
	return so
}

// admission runs Ebb's admission checks (the webhook's) on a converted
// ScaledObject and reports what they refuse as invalid, at the input field
// that field maps the output's field path to (ok false: leave it out).
func (o *objctx) admission(so *v1alpha1.ScaledObject, field func(path string) (string, bool)) {
	if so.Namespace == "" {
		// kubectl apply gives it one (the context's, or -n); the checks
		// need one (an http trigger's route is named after it).
		cp := *so
		cp.Namespace = metav1.NamespaceDefault
		so = &cp
	}
	for _, e := range controller.ValidateSpec(o.c.reg, so) {
		f, ok := field(e.Field)
		if !ok {
			continue
		}
		msg := e.Detail
		if msg == "" {
			msg = e.ErrorBody()
		}
		msg, _, _ = strings.Cut(msg, "\n") // expr's error adds the formula and a caret below
		o.report(Invalid, f, "Ebb's admission check refuses it: %s", msg)
	}
}

// kedaSwitches are KEDA's true/false annotations of a ScaledObject: Ebb's
// name for each, and what holds without it.
var kedaSwitches = map[string]struct{ ebb, unset string }{
	kedaPaused:          {v1alpha1.AnnotationPaused, "the object is not paused"},
	kedaPausedScaleIn:   {v1alpha1.AnnotationPausedScaleIn, "the target may scale in"},
	kedaPausedScaleOut:  {v1alpha1.AnnotationPausedScaleOut, "the target may scale out"},
	kedaForceActivation: {v1alpha1.AnnotationForceActivation, "activation follows the triggers"},
}

// scaledObjectAnnotation maps KEDA's ScaledObject annotations.
func (o *objctx) scaledObjectAnnotation(n *node, key, value string, out map[string]string) bool {
	field := n.field("annotations") + "[" + key + "]"
	switch key {
	case kedaPaused, kedaPausedScaleIn, kedaPausedScaleOut, kedaForceActivation:
		sw := kedaSwitches[key]
		b, err := strconv.ParseBool(strings.TrimSpace(value))
		if err != nil {
			o.report(Changed, field, "is %q; expected true or false: left out, so %s", truncateValue(value), sw.unset)
			return true
		}
		out[sw.ebb] = strconv.FormatBool(b)
		o.report(Note, field, "written as %s", sw.ebb)
	case kedaPausedReplicas:
		n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
		if err != nil || n < 0 || n > math.MaxInt32 {
			o.report(Changed, field, "is %q; expected a whole number of replicas, 0 or more: left out, so the object is not paused", value)
			return true
		}
		out[v1alpha1.AnnotationPausedReplicas] = strconv.FormatInt(n, 10)
		o.report(Note, field, "written as %s", v1alpha1.AnnotationPausedReplicas)
	case kedaTransferHPAOwnership:
		o.report(Dropped, field, "Ebb makes its own HPA and refuses a target that another HPA scales: left out; delete the existing HPA before applying")
	case kedaHPAOwnership:
		o.report(Dropped, field, "Ebb always refuses a second owner of a target (another HPA or ScaledObject): left out")
	default:
		return false
	}
	return true
}

// truncateValue bounds an annotation's value quoted in a finding.
func truncateValue(v string) string {
	if len(v) <= 64 {
		return v
	}
	return strings.ToValidUTF8(v[:64], "") + "…"
}

var fallbackBehaviors = []string{
	string(v1alpha1.FallbackStatic), string(v1alpha1.FallbackCurrentReplicas),
	string(v1alpha1.FallbackCurrentReplicasIfHigher), string(v1alpha1.FallbackCurrentReplicasIfLower),
}

func (o *objctx) fallback(n *node) *v1alpha1.Fallback {
	if n == nil {
		return nil
	}
	threshold := n.int32("failureThreshold", 1, Dropped, "")
	replicas := n.int32("replicas", 0, Dropped, "")
	var f *v1alpha1.Fallback
	if threshold != nil && replicas != nil {
		f = &v1alpha1.Fallback{FailureThreshold: *threshold, Replicas: *replicas}
	}
	if b, ok := n.str("behavior"); ok {
		switch {
		case slices.Contains(fallbackBehaviors, b):
			if f != nil {
				f.Behavior = v1alpha1.FallbackBehavior(b)
			}
		default:
			o.report(Changed, n.field("behavior"), "is %q; expected %s: left out, so static applies", b, strings.Join(fallbackBehaviors, ", "))
		}
	}
	n.rest("not a field of fallback")
	if f != nil {
		o.report(Note, n.path, "kept: after failureThreshold consecutive failures of a trigger Ebb holds the fallback count, at zero replicas too, until the trigger reads again (docs/scaling.md)")
	}
	if f == nil {
		o.report(Dropped, n.path, "needs failureThreshold (1 or more) and replicas (0 or more): left out, so no fallback applies")
	}
	return f
}

func (o *objctx) advanced(n *node) *v1alpha1.AdvancedConfig {
	if n == nil {
		return nil
	}
	a := &v1alpha1.AdvancedConfig{}
	a.RestoreToOriginalReplicaCount, _ = n.boolean("restoreToOriginalReplicaCount")
	if h := n.child("horizontalPodAutoscalerConfig"); h != nil {
		cfg := &v1alpha1.HorizontalPodAutoscalerConfig{}
		if name, ok := h.str("name"); ok && name != "" {
			cfg.Name = name
			o.report(Note, h.field("name"), "kept: Ebb's HPA is named %s; delete the KEDA ScaledObject (and so its HPA) before applying, as Ebb refuses a target that another HPA scales", name)
		}
		if v, ok := h.take("behavior"); ok {
			j, _ := json.Marshal(v)
			dec := json.NewDecoder(bytes.NewReader(j))
			dec.DisallowUnknownFields()
			var b autoscalingv2.HorizontalPodAutoscalerBehavior
			if err := dec.Decode(&b); err != nil {
				o.report(Dropped, h.field("behavior"), "not a valid HPA behavior (%v): left out, so the HPA's default behaviour applies", err)
			} else {
				cfg.Behavior = &b
			}
		}
		h.rest("not a field of horizontalPodAutoscalerConfig")
		if cfg.Name != "" || cfg.Behavior != nil {
			a.HorizontalPodAutoscalerConfig = cfg
		}
	}
	if sm := n.child("scalingModifiers"); sm != nil {
		mod := &v1alpha1.ScalingModifiers{}
		mod.Formula, _ = sm.str("formula")
		mod.Target = sm.decimal("target")
		mod.ActivationTarget = sm.decimal("activationTarget")
		if mt, ok := sm.str("metricType"); ok {
			switch v1alpha1.MetricType(mt) {
			case v1alpha1.MetricTypeAverageValue, v1alpha1.MetricTypeValue:
				mod.MetricType = v1alpha1.MetricType(mt)
			default:
				o.report(Changed, sm.field("metricType"), "is %q; expected AverageValue or Value: left out, so AverageValue applies", mt)
			}
		}
		sm.rest("not a field of scalingModifiers")
		switch {
		case mod.Formula == "" && mod.Target == "":
			if mod.ActivationTarget != "" || mod.MetricType != "" {
				o.report(Dropped, sm.path, "has no formula: left out")
			}
		case mod.Formula == "" || mod.Target == "":
			o.report(Dropped, sm.path, "needs both formula and target: left out, so each trigger is its own metric")
		default:
			a.ScalingModifiers = mod
		}
	}
	n.rest("not a field of advanced")
	if *a == (v1alpha1.AdvancedConfig{}) {
		return nil
	}
	return a
}

var decimalPattern = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

// decimal returns a string or number as the decimal string the API takes.
func (n *node) decimal(key string) string {
	v, ok := n.take(key)
	if !ok {
		return ""
	}
	var s string
	switch v := v.(type) {
	case string:
		s = strings.TrimSpace(v)
	case json.Number:
		s = v.String()
	default:
		n.o.report(Dropped, n.field(key), "expected a number, found %s: left out", describe(v))
		return ""
	}
	if !decimalPattern.MatchString(s) {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
			n.o.report(Dropped, n.field(key), "is %q; expected a decimal number, 0 or more: left out", s)
			return ""
		}
		s = strconv.FormatFloat(f, 'f', -1, 64)
	}
	return s
}

// triggers converts the triggers Ebb can serve and returns, for each output
// trigger, its index in the input.
func (o *objctx) triggers(s *v1alpha1.ScaledObjectSpec, list []any) []int {
	var inputIndex []int
	// alone: one trigger in a ScaledObject without a formula, so a trigger
	// that becomes several may have them added up by one.
	alone := len(list) == 1 && o.kind == "ScaledObject" && (s.Advanced == nil || s.Advanced.ScalingModifiers == nil)
	add := func(i int, ts []v1alpha1.Trigger, sum *v1alpha1.ScalingModifiers) {
		if sum != nil {
			if s.Advanced == nil {
				s.Advanced = &v1alpha1.AdvancedConfig{}
			}
			s.Advanced.ScalingModifiers = sum
		}
		for _, t := range ts {
			s.Triggers = append(s.Triggers, t)
			inputIndex = append(inputIndex, i)
		}
	}
	for i, item := range list {
		n := o.mapping(item, fmt.Sprintf("spec.triggers[%d]", i))
		if n == nil {
			continue
		}
		path := n.path
		typ, _ := n.str("type")
		apache := typ == kedaApacheKafka
		if apache {
			typ = "kafka"
		}
		var t v1alpha1.Trigger
		t.Type = typ
		t.Name, _ = n.str("name")
		md := n.stringMap("metadata")
		if ref := n.child("authenticationRef"); ref != nil {
			t.AuthenticationRef = o.authenticationRef(ref)
		}
		if mt, ok := n.str("metricType"); ok {
			switch v1alpha1.MetricType(mt) {
			case v1alpha1.MetricTypeAverageValue, v1alpha1.MetricTypeValue:
				t.MetricType = v1alpha1.MetricType(mt)
			case v1alpha1.MetricTypeUtilization:
				if o.c.reg.IsResource(typ) {
					t.MetricType = v1alpha1.MetricTypeUtilization
				} else {
					o.report(Dropped, n.field("metricType"), "Utilization applies to cpu and memory triggers only: left out, so AverageValue applies")
				}
			default:
				o.report(Dropped, n.field("metricType"), "is %q; expected AverageValue or Value: left out, so AverageValue applies", mt)
			}
		}
		if cached, ok := n.boolean("useCachedMetrics"); ok {
			const why = "no Ebb field: Ebb's metric store always caches, answering the HPA with the value read within the last pollingInterval"
			if cached {
				o.report(Note, n.field("useCachedMetrics"), "%s, as KEDA does with true: left out", why)
			} else {
				o.report(Changed, n.field("useCachedMetrics"), "%s, where KEDA with false read the source at each HPA request: left out", why)
			}
		}
		n.rest("not a field of a trigger")
		if typ == "" {
			o.report(Dropped, path, "has no type: trigger left out")
			continue
		}
		if o.kind == "ScaledObject" && (typ == "external-push" || typ == "external") && md[interceptorRouteKey] != "" {
			if ts, sum, ok := o.routeTrigger(n, md, s, alone); ok {
				add(i, ts, sum)
				continue
			}
		}
		st, ok := o.c.reg.Lookup(typ)
		if !ok {
			o.report(Dropped, path, "Ebb has no %s scaler (it has %s): trigger left out", typ, strings.Join(o.c.reg.Names(), ", "))
			continue
		}
		if o.c.reg.IsResource(typ) && t.MetricType == "" && md["type"] == "" {
			// Ebb's default (AverageValue) would read "60" as 60 cores.
			o.report(Dropped, path, "KEDA refuses a %s trigger with neither metricType nor metadata type: trigger left out", typ)
			continue
		}
		t.Metadata = o.filterMetadata(n.field("metadata"), typ, st, md)
		o.triggerDefaults(n, &t)
		if t.AuthenticationRef != nil {
			key := authKey{kind: t.AuthenticationRef.Kind, namespace: o.namespace, name: t.AuthenticationRef.Name}
			if key.kind == "" {
				key.kind = "TriggerAuthentication"
			}
			if key.kind == "ClusterTriggerAuthentication" {
				key.namespace = ""
			}
			o.c.refs = append(o.c.refs, authRef{obj: o, field: n.field("authenticationRef"), key: key})
		}
		if apache {
			ts, sum := o.apacheKafka(n, t, alone)
			add(i, ts, sum)
			continue
		}
		add(i, []v1alpha1.Trigger{t}, nil)
	}
	return inputIndex
}

// mapping returns the mapping item at path as a node, or nil (reporting an
// item that is not a mapping as dropped).
func (o *objctx) mapping(item any, path string) *node {
	m, ok := item.(map[string]any)
	if !ok {
		o.report(Dropped, path, "expected a mapping, found %s: left out", describe(item))
		return nil
	}
	return newNode(o, path, m)
}

func (o *objctx) authenticationRef(n *node) *v1alpha1.AuthenticationRef {
	ref := &v1alpha1.AuthenticationRef{}
	ref.Name, _ = n.str("name")
	if kind, ok := n.str("kind"); ok {
		switch kind {
		case "TriggerAuthentication", "ClusterTriggerAuthentication":
			ref.Kind = kind
		default:
			o.report(Changed, n.field("kind"), "is %q; expected TriggerAuthentication or ClusterTriggerAuthentication: left out, so TriggerAuthentication applies", kind)
		}
	}
	n.rest("not a field of authenticationRef")
	if ref.Name == "" {
		o.report(Dropped, n.path, "has no name: left out, so the trigger has no authentication")
		return nil
	}
	return ref
}

// triggerDefaults writes out the KEDA defaults that Ebb does not share, so the
// trigger keeps meaning what it meant.
func (o *objctx) triggerDefaults(n *node, t *v1alpha1.Trigger) {
	has := func(k string) bool {
		_, a := t.Metadata[k]
		_, b := t.Metadata[k+"FromEnv"]
		return a || b
	}
	set := func(k, v string) {
		if t.Metadata == nil {
			t.Metadata = map[string]string{}
		}
		t.Metadata[k] = v
	}
	switch t.Type {
	case "prometheus":
		if !has("ignoreNullValues") {
			set("ignoreNullValues", "true")
			o.report(Note, n.field("metadata.ignoreNullValues"), `set to "true", KEDA's default (a query with no series reads 0); Ebb's default is false (no series is an error, so fallback applies): remove it to get Ebb's`)
		}
	case "rabbitmq":
		mode := t.Metadata["mode"]
		if !has("value") && !has("queueLength") && (mode == "" || mode == "QueueLength") {
			set("value", "20")
			o.report(Note, n.field("metadata.value"), `set to "20", the queue length per replica KEDA assumes when none is given; Ebb requires a target`)
		}
	}
}

var triggerNamePattern = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)

// nameTriggers renames the triggers whose KEDA names Ebb's API refuses
// (lowercase letters, digits and '-', unique), rewriting the formula to match.
func (o *objctx) nameTriggers(s *v1alpha1.ScaledObjectSpec, inputIndex []int) {
	formula := s.Advanced != nil && s.Advanced.ScalingModifiers != nil
	used := map[string]bool{}
	for _, t := range s.Triggers {
		if triggerNamePattern.MatchString(t.Name) && len(t.Name) <= 63 {
			used[t.Name] = true
		}
	}
	renamed := map[string]string{}
	seen := map[string]bool{}
	for i := range s.Triggers {
		t := &s.Triggers[i]
		if t.Name == "" {
			continue
		}
		if triggerNamePattern.MatchString(t.Name) && len(t.Name) <= 63 && !seen[t.Name] {
			seen[t.Name] = true
			continue
		}
		name := sanitizeName(t.Name, formula)
		base := name
		for k := 2; used[name]; k++ {
			suffix := strconv.Itoa(k)
			if !formula {
				suffix = "-" + suffix
			}
			name = strings.TrimRight(base[:min(len(base), 63-len(suffix))], "-") + suffix
		}
		used[name], seen[name] = true, true
		why := "Ebb's trigger names are lowercase letters, digits and '-', at most 63, unique"
		if formula {
			why += "; the formula says " + name + " too"
		}
		o.report(Note, fmt.Sprintf("spec.triggers[%d].name", inputIndex[i]), "renamed %q to %q: %s", t.Name, name, why)
		if _, dup := renamed[t.Name]; !dup {
			renamed[t.Name] = name
		}
		t.Name = name
	}
	if formula && len(renamed) > 0 {
		sm := s.Advanced.ScalingModifiers
		sm.Formula = renameIdentifiers(sm.Formula, renamed)
	}
}

// sanitizeName makes a valid trigger name. With a formula, '-' would read as
// a minus, so other characters are dropped rather than turned into '-'.
func sanitizeName(s string, formula bool) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case !formula && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	name := strings.Trim(b.String(), "-")
	if name == "" || name[0] < 'a' || name[0] > 'z' {
		name = "t" + name
	}
	if len(name) > 60 {
		name = strings.TrimRight(name[:60], "-")
	}
	return name
}

// renameIdentifiers replaces whole identifiers of an expression, outside
// string literals and not after '.' (a member).
func renameIdentifiers(expr string, names map[string]string) string {
	var b strings.Builder
	isStart := func(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	isPart := func(c byte) bool { return isStart(c) || c >= '0' && c <= '9' }
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			for j < len(expr) && expr[j] != c {
				if expr[j] == '\\' && c != '`' {
					j++
				}
				j++
			}
			j = min(j+1, len(expr))
			b.WriteString(expr[i:j])
			i = j
		case isStart(c):
			j := i + 1
			for j < len(expr) && isPart(expr[j]) {
				j++
			}
			id := expr[i:j]
			if to, ok := names[id]; ok && (i == 0 || expr[i-1] != '.') {
				id = to
			}
			b.WriteString(id)
			i = j
		case c >= '0' && c <= '9':
			j := i + 1
			for j < len(expr) && (isPart(expr[j]) || expr[j] == '.') {
				j++
			}
			b.WriteString(expr[i:j])
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

var outputTrigger = regexp.MustCompile(`^spec\.triggers\[(\d+)\]`)

// inputField rewrites a field path of the output to the input's trigger
// indexes, which differ once triggers were left out.
func inputField(path string, inputIndex []int) string {
	return outputTrigger.ReplaceAllStringFunc(path, func(s string) string {
		i, err := strconv.Atoi(s[len("spec.triggers[") : len(s)-1])
		if err != nil || i >= len(inputIndex) {
			return s
		}
		return fmt.Sprintf("spec.triggers[%d]", inputIndex[i])
	})
}
