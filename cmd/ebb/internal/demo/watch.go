// SPDX-License-Identifier: Apache-2.0

package demo

import (
	"context"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// watcher reads what the demo shows: the source's depth, the HPA's view and
// the Deployment's replicas, and the Events that explain them.
type watcher struct {
	c      client.Client
	src    source
	deploy types.NamespacedName
	hpa    types.NamespacedName
	// printed holds the Events already shown, with the count they had.
	printed map[types.UID]int32
	// pods says the Deployment's pods run (--cluster): sample counts them.
	pods bool
	// ready holds the pods seen, by name, and whether they were Ready;
	// podLines are the lines of the last sample that tell a pod turned
	// Ready or went.
	ready    map[string]bool
	podLines []string
}

// sample reads the source, the HPA and the Deployment once.
func (w *watcher) sample(ctx context.Context, at time.Duration) Sample {
	s := Sample{At: at, Lag: -1, Metric: math.NaN(), MetricTotal: math.NaN(), Desired: -1, Replicas: -1}
	if lag, err := w.src.Depth(ctx); err == nil {
		s.Lag = lag
	}
	var d appsv1.Deployment
	if err := w.c.Get(ctx, w.deploy, &d); err == nil {
		s.Replicas = ptr.Deref(d.Spec.Replicas, 1)
	}
	var h autoscalingv2.HorizontalPodAutoscaler
	if err := w.c.Get(ctx, w.hpa, &h); err == nil {
		s.Desired = h.Status.DesiredReplicas
		s.Metric, s.MetricTotal = hpaMetric(&h)
	}
	s.Pods, s.Running, s.Ready = -1, -1, -1
	w.podLines = w.podLines[:0]
	if w.pods {
		var pods corev1.PodList
		if err := w.c.List(ctx, &pods, client.InNamespace(w.deploy.Namespace), client.MatchingLabels{"app": w.deploy.Name}); err == nil {
			s.Pods, s.Running, s.Ready, w.podLines = countPods(pods.Items, w.ready)
		}
	}
	return s
}

// countPods counts pods, those Running and those Ready (their Ready
// condition, which the kubelet sets from the readiness probe), and says in
// lines which pods turned Ready and which went since seen, which it
// records in seen (pod name → Ready).
func countPods(pods []corev1.Pod, seen map[string]bool) (total, running, ready int32, lines []string) {
	now := map[string]bool{}
	for i := range pods {
		p := &pods[i]
		total++
		if p.Status.Phase == corev1.PodRunning {
			running++
		}
		isReady := podReady(p)
		if isReady {
			ready++
			if !seen[p.Name] {
				lines = append(lines, fmt.Sprintf("pod %s Ready on %s (%s)", p.Name, p.Spec.NodeName, p.Status.PodIP))
			}
		}
		now[p.Name] = true
		seen[p.Name] = seen[p.Name] || isReady
	}
	for _, name := range slices.Sorted(maps.Keys(seen)) {
		if !now[name] {
			lines = append(lines, "pod "+name+" gone")
			delete(seen, name)
		}
	}
	return total, running, ready, lines
}

// podReady says whether p's Ready condition is True.
func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// hpaMetric is the value the HPA last read for its first external metric,
// per replica and in all; NaN when its status shows none. At zero current
// replicas the HPA's per-replica average is a division by zero (it shows a
// huge negative number), so it counts as none.
func hpaMetric(h *autoscalingv2.HorizontalPodAutoscaler) (perReplica, total float64) {
	if h.Status.CurrentReplicas <= 0 {
		return math.NaN(), math.NaN()
	}
	for _, m := range h.Status.CurrentMetrics {
		if m.Type != autoscalingv2.ExternalMetricSourceType || m.External == nil {
			continue
		}
		switch {
		case m.External.Current.AverageValue != nil:
			avg := m.External.Current.AverageValue.AsApproximateFloat64()
			if avg < 0 {
				return math.NaN(), math.NaN()
			}
			return avg, avg * float64(h.Status.CurrentReplicas)
		case m.External.Current.Value != nil:
			v := m.External.Current.Value.AsApproximateFloat64()
			return math.NaN(), v
		}
	}
	return math.NaN(), math.NaN()
}

// hpaTarget is the HPA's target for its first external metric, per replica
// (AverageValue) or in all (Value); NaN when it has none.
func hpaTarget(h *autoscalingv2.HorizontalPodAutoscaler) float64 {
	for _, m := range h.Spec.Metrics {
		if m.Type != autoscalingv2.ExternalMetricSourceType || m.External == nil {
			continue
		}
		if q := m.External.Target.AverageValue; q != nil {
			return q.AsApproximateFloat64()
		}
		if q := m.External.Target.Value; q != nil {
			return q.AsApproximateFloat64()
		}
	}
	return math.NaN()
}

// newEvents are the Events of the ScaledObject and the HPA not shown yet
// (or repeated since), oldest first, as lines for people: who and what.
func (w *watcher) newEvents(ctx context.Context) ([]string, error) {
	var list corev1.EventList
	if err := w.c.List(ctx, &list, client.InNamespace(w.deploy.Namespace)); err != nil {
		return nil, err
	}
	evs := list.Items
	// In the order they were written: their timestamps have whole seconds
	// only, the resourceVersions (etcd's revisions) tell apart events of one
	// second.
	sort.SliceStable(evs, func(i, j int) bool {
		ti, tj := eventTime(&evs[i]), eventTime(&evs[j])
		if !ti.Equal(tj) {
			return ti.Before(tj)
		}
		ri, erri := strconv.ParseUint(evs[i].ResourceVersion, 10, 64)
		rj, errj := strconv.ParseUint(evs[j].ResourceVersion, 10, 64)
		return erri == nil && errj == nil && ri < rj
	})
	var lines []string
	for i := range evs {
		e := &evs[i]
		who := ""
		switch e.InvolvedObject.Kind {
		case "ScaledObject":
			who = "Ebb"
		case "HorizontalPodAutoscaler":
			who = "HPA"
		default:
			continue
		}
		count := max(e.Count, 1)
		if w.printed[e.UID] >= count {
			continue
		}
		w.printed[e.UID] = count
		lines = append(lines, who+" "+e.Reason+": "+tidyMessage(e.Message))
	}
	return lines, nil
}

func eventTime(e *corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

// The HPA names a metric with its selector's Go representation:
// "external metric s0-kafka-jobs(&LabelSelector{MatchLabels:...,})".
var selectorText = regexp.MustCompile(`\(&LabelSelector\{.*\}\)`)

// tidyMessage drops the selector's representation from an HPA message and
// folds its spaces.
func tidyMessage(m string) string {
	m = selectorText.ReplaceAllString(m, "")
	return strings.Join(strings.Fields(m), " ")
}
