// SPDX-License-Identifier: Apache-2.0

// Package hpamodel is a model of the Kubernetes HorizontalPodAutoscaler
// controller (kube-controller-manager v1.37, autoscaling/v2) for an HPA
// whose metrics are all External, as the HPAs Ebb owns are. `ebb simulate`
// steps it once per HPA sync period.
//
// What it models, rule by rule as the controller applies them on each sync:
//   - at zero replicas the HPA does nothing (scaling is disabled: Ebb's HPA
//     has minReplicas ≥ 1, so it never scaled to zero itself);
//   - above maxReplicas or below minReplicas it moves straight to the bound;
//   - per metric, the proposal: AverageValue: ceil(value / target), unless
//     value / (target × current) is within the tolerance, then current;
//     Value: ceil(current × value / target), unless value / target is within
//     the tolerance; values and targets in milli-units, as the API carries
//     them; the largest proposal wins; a metric that cannot be read is
//     skipped, and when all are unreadable, or some are and the rest would
//     scale down, nothing moves;
//   - without spec.behavior: the scale-down stabilization window of the
//     controller (--horizontal-pod-autoscaler-downscale-stabilization, 5 min
//     by default) over the recommendations, and a scale-up of at most
//     max(2 × current, 4) per sync;
//   - with spec.behavior (filled with the API server's defaults: scale-up
//     window 0, policies 4 pods and 100 % per 15 s, selectPolicy Max;
//     scale-down window from the controller's flag, 100 % per 15 s): the
//     scale-up and scale-down stabilization windows, the rate-limit policies
//     over their periods against the history of scale events, selectPolicy
//     Max, Min or Disabled, and the per-direction tolerances;
//   - the result clamped to [minReplicas, maxReplicas].
//
// What it does not model: pod readiness (every replica counts as ready and
// running, the moment it is asked for), Resource, Pods and Object metrics,
// and the controller's own delays (the API calls of a sync take no time).
package hpamodel
