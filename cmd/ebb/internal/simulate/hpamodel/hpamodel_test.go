// SPDX-License-Identifier: Apache-2.0

package hpamodel

import (
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// step is one sync: at seconds after t0, with the target at current
// replicas and these metric values (nil: unreadable); want is the count
// after the sync.
type step struct {
	at      float64
	current int32
	values  []*float64
	want    int32
}

func v(f float64) *float64 { return &f }

func avg(target float64) Metric { return Metric{Name: "m", Type: AverageValue, Target: target} }

func rules(window int32, sel autoscalingv2.ScalingPolicySelect, policies ...autoscalingv2.HPAScalingPolicy) *autoscalingv2.HPAScalingRules {
	r := &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: &window, Policies: policies}
	if sel != "" {
		r.SelectPolicy = &sel
	}
	return r
}

func pods(n, period int32) autoscalingv2.HPAScalingPolicy {
	return autoscalingv2.HPAScalingPolicy{Type: autoscalingv2.PodsScalingPolicy, Value: n, PeriodSeconds: period}
}

func percent(n, period int32) autoscalingv2.HPAScalingPolicy {
	return autoscalingv2.HPAScalingPolicy{Type: autoscalingv2.PercentScalingPolicy, Value: n, PeriodSeconds: period}
}

// fast is a behavior with no stabilization and no rate limit to speak of,
// so that one rule at a time shows.
func fast() *autoscalingv2.HorizontalPodAutoscalerBehavior {
	return &autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleUp:   rules(0, "", percent(1000, 1)),
		ScaleDown: rules(0, "", percent(100, 1)),
	}
}

func TestSync(t *testing.T) {
	tests := map[string]struct {
		cfg   Config
		steps []step
	}{
		"at zero replicas the HPA does nothing, whatever the metric says": {
			cfg:   Config{Min: 1, Max: 10, Metrics: []Metric{avg(10)}, Behavior: fast()},
			steps: []step{{at: 0, current: 0, values: []*float64{v(1000)}, want: 0}},
		},
		"AverageValue proposes ceil(value / target)": {
			cfg:   Config{Min: 1, Max: 10, Metrics: []Metric{avg(10)}, Behavior: fast()},
			steps: []step{{at: 0, current: 1, values: []*float64{v(41)}, want: 5}},
		},
		"AverageValue within the tolerance of the current count keeps it": {
			cfg: Config{Min: 1, Max: 10, Metrics: []Metric{avg(10)}, Behavior: fast()},
			steps: []step{
				{at: 0, current: 4, values: []*float64{v(43)}, want: 4}, // ratio 1.075: within
				{at: 1, current: 4, values: []*float64{v(37)}, want: 4}, // ratio 0.925: within
				{at: 2, current: 4, values: []*float64{v(44.1)}, want: 5},
				{at: 3, current: 5, values: []*float64{v(44)}, want: 5}, // ratio 0.88 → ceil(4.4) = 5
				{at: 4, current: 5, values: []*float64{v(35)}, want: 4},
			},
		},
		"Value proposes ceil(current × value / target) outside the tolerance": {
			cfg: Config{Min: 1, Max: 20, Metrics: []Metric{{Name: "m", Type: Value, Target: 100}}, Behavior: fast()},
			steps: []step{
				{at: 0, current: 2, values: []*float64{v(109)}, want: 2},
				{at: 1, current: 2, values: []*float64{v(250)}, want: 5},
				{at: 2, current: 5, values: []*float64{v(10)}, want: 1},
			},
		},
		"a configured tolerance per direction replaces the controller's": {
			cfg: Config{Min: 1, Max: 20, Metrics: []Metric{avg(10)}, Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleUp:   &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To[int32](0), Policies: []autoscalingv2.HPAScalingPolicy{percent(1000, 1)}, Tolerance: ptr.To(resource.MustParse("0.5"))},
				ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To[int32](0), Policies: []autoscalingv2.HPAScalingPolicy{percent(100, 1)}, Tolerance: ptr.To(resource.MustParse("0"))},
			}},
			steps: []step{
				{at: 0, current: 4, values: []*float64{v(59)}, want: 4}, // 1.475 ≤ 1.5
				{at: 1, current: 4, values: []*float64{v(39)}, want: 4}, // ceil(3.9) = 4
				{at: 2, current: 4, values: []*float64{v(30)}, want: 3}, // 0.75, no down tolerance
			},
		},
		"the largest proposal of several metrics wins": {
			cfg:   Config{Min: 1, Max: 20, Metrics: []Metric{avg(10), {Name: "n", Type: AverageValue, Target: 5}}, Behavior: fast()},
			steps: []step{{at: 0, current: 1, values: []*float64{v(30), v(30)}, want: 6}},
		},
		"an unreadable metric is skipped when the others scale up, and stops a scale-down": {
			cfg: Config{Min: 1, Max: 20, Metrics: []Metric{avg(10), {Name: "n", Type: AverageValue, Target: 5}}, Behavior: fast()},
			steps: []step{
				{at: 0, current: 2, values: []*float64{nil, v(30)}, want: 6},
				{at: 1, current: 6, values: []*float64{nil, v(5)}, want: 6},
				{at: 2, current: 6, values: []*float64{nil, nil}, want: 6},
				{at: 3, current: 6, values: []*float64{v(10), v(5)}, want: 1},
			},
		},
		"the count is clamped to maxReplicas and minReplicas": {
			cfg: Config{Min: 2, Max: 5, Metrics: []Metric{avg(10)}, Behavior: fast()},
			steps: []step{
				{at: 0, current: 2, values: []*float64{v(1000)}, want: 5},
				{at: 1, current: 5, values: []*float64{v(0)}, want: 2},
			},
		},
		"a count outside [min, max] goes straight to the bound, metrics unread": {
			cfg: Config{Min: 2, Max: 5, Metrics: []Metric{avg(10)}, Behavior: fast()},
			steps: []step{
				{at: 0, current: 9, values: []*float64{nil}, want: 5},
				{at: 1, current: 1, values: []*float64{nil}, want: 2},
			},
		},
		"the scale-down stabilization window holds the highest recommendation in it": {
			cfg: Config{Min: 1, Max: 20, Metrics: []Metric{avg(10)}, Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleUp: rules(0, "", percent(1000, 1)), ScaleDown: rules(30, "", percent(100, 1)),
			}},
			steps: []step{
				{at: 0, current: 1, values: []*float64{v(80)}, want: 8},
				{at: 10, current: 8, values: []*float64{v(20)}, want: 8},
				{at: 29, current: 8, values: []*float64{v(20)}, want: 8},
				{at: 30, current: 8, values: []*float64{v(20)}, want: 2}, // the 8 at 0 s is no longer After(now - 30 s)
			},
		},
		"the scale-up stabilization window holds the lowest recommendation in it": {
			cfg: Config{Min: 1, Max: 20, Metrics: []Metric{avg(10)}, Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleUp: rules(20, "", percent(1000, 1)), ScaleDown: rules(0, "", percent(100, 1)),
			}},
			steps: []step{
				{at: 0, current: 2, values: []*float64{v(20)}, want: 2},
				{at: 5, current: 2, values: []*float64{v(80)}, want: 2},
				{at: 15, current: 2, values: []*float64{v(60)}, want: 2},
				{at: 21, current: 2, values: []*float64{v(80)}, want: 6}, // lowest in (1 s, 21 s]: 6
			},
		},
		"a Pods scale-up policy adds at most its value per period, counting earlier scales in it": {
			cfg: Config{Min: 1, Max: 50, Metrics: []Metric{avg(1)}, Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleUp: rules(0, "", pods(3, 10)), ScaleDown: rules(0, "", percent(100, 1)),
			}},
			steps: []step{
				{at: 0, current: 1, values: []*float64{v(20)}, want: 4},
				{at: 5, current: 4, values: []*float64{v(20)}, want: 4},
				{at: 10, current: 4, values: []*float64{v(20)}, want: 7},
			},
		},
		"a Percent scale-up policy rounds up; a Percent scale-down policy rounds down": {
			cfg: Config{Min: 1, Max: 50, Metrics: []Metric{avg(1)}, Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleUp: rules(0, "", percent(50, 10)), ScaleDown: rules(0, "", percent(50, 10)),
			}},
			steps: []step{
				{at: 0, current: 3, values: []*float64{v(20)}, want: 5}, // ceil(4.5)
				{at: 20, current: 5, values: []*float64{v(1)}, want: 2}, // 5 × 0.5 = 2.5 → 2
				{at: 40, current: 2, values: []*float64{v(1)}, want: 1},
				{at: 60, current: 1, values: []*float64{v(20)}, want: 2}, // ceil(1.5)
			},
		},
		"scaling down, selectPolicy Max takes the lowest limit": {
			cfg: Config{Min: 1, Max: 50, Metrics: []Metric{avg(1)}, Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleDown: rules(0, "", pods(1, 10), percent(50, 10)),
			}},
			steps: []step{
				{at: 0, current: 10, values: []*float64{v(1)}, want: 5}, // pods: 9, percent: 5
			},
		},
		"scaling down, selectPolicy Min takes the highest limit": {
			cfg: Config{Min: 1, Max: 50, Metrics: []Metric{avg(1)}, Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleDown: rules(0, autoscalingv2.MinChangePolicySelect, pods(1, 10), percent(50, 10)),
			}},
			steps: []step{
				{at: 0, current: 10, values: []*float64{v(1)}, want: 9}, // pods: 9, percent: 5
			},
		},
		"selectPolicy Max takes the policy allowing the most change, Min the least": {
			cfg: Config{Min: 1, Max: 50, Metrics: []Metric{avg(1)}, Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleUp: rules(0, autoscalingv2.MinChangePolicySelect, pods(4, 10), percent(100, 10)), ScaleDown: rules(0, "", percent(100, 1)),
			}},
			steps: []step{
				{at: 0, current: 2, values: []*float64{v(50)}, want: 4}, // min(2+4, 2×2)
				{at: 10, current: 4, values: []*float64{v(50)}, want: 8},
				{at: 20, current: 8, values: []*float64{v(50)}, want: 12}, // min(8+4, 16)
			},
		},
		"selectPolicy Disabled stops scaling in that direction": {
			cfg: Config{Min: 1, Max: 50, Metrics: []Metric{avg(1)}, Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleUp: rules(0, "", percent(100, 1)), ScaleDown: rules(0, autoscalingv2.DisabledPolicySelect, percent(100, 1)),
			}},
			steps: []step{
				{at: 0, current: 2, values: []*float64{v(4)}, want: 4},
				{at: 10, current: 4, values: []*float64{v(1)}, want: 4},
			},
		},
		"a partly written behavior gets the API server's defaults: scale-up 4 pods or 100 % per 15 s": {
			cfg: Config{Min: 1, Max: 50, Metrics: []Metric{avg(1)}, Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleDown: rules(0, "", percent(100, 1)),
			}},
			steps: []step{
				{at: 0, current: 1, values: []*float64{v(50)}, want: 5},   // max(1+4, 2)
				{at: 15, current: 5, values: []*float64{v(50)}, want: 10}, // max(5+4, 10)
				{at: 30, current: 10, values: []*float64{v(50)}, want: 20},
			},
		},
		"an unset scale-down window is the controller's flag": {
			cfg: Config{Min: 1, Max: 50, Metrics: []Metric{avg(1)}, DownscaleStabilization: 40 * time.Second, Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleUp: rules(0, "", percent(1000, 1)),
			}},
			steps: []step{
				{at: 0, current: 1, values: []*float64{v(10)}, want: 10},
				{at: 39, current: 10, values: []*float64{v(1)}, want: 10},
				{at: 41, current: 10, values: []*float64{v(1)}, want: 1},
			},
		},
		"without behavior: scale up by at most max(2 × current, 4) a sync, and down after the window": {
			cfg: Config{Min: 1, Max: 50, Metrics: []Metric{avg(1)}, DownscaleStabilization: 60 * time.Second},
			steps: []step{
				{at: 0, current: 1, values: []*float64{v(40)}, want: 4},
				{at: 1, current: 4, values: []*float64{v(40)}, want: 8},
				{at: 2, current: 8, values: []*float64{v(40)}, want: 16},
				{at: 3, current: 16, values: []*float64{v(40)}, want: 32},
				{at: 4, current: 32, values: []*float64{v(40)}, want: 40},
				{at: 30, current: 40, values: []*float64{v(2)}, want: 40},
				{at: 65, current: 40, values: []*float64{v(2)}, want: 2},
			},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			h, err := New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range tt.steps {
				readings := make([]Reading, len(s.values))
				for j, p := range s.values {
					if p != nil {
						readings[j] = Reading{Value: *p, OK: true}
					}
				}
				at := t0.Add(time.Duration(s.at * float64(time.Second)))
				r := h.Sync(at, s.current, readings)
				if r.To != s.want {
					t.Fatalf("step %d (at %g s, %d replicas): got %d replicas, want %d (%s)", i, s.at, s.current, r.To, s.want, r.Why)
				}
			}
		})
	}
}

func TestNewRejectsWhatTheHPACannotHave(t *testing.T) {
	tests := map[string]struct {
		cfg  Config
		want string
	}{
		"minReplicas below 1":            {Config{Min: 0, Max: 3, Metrics: []Metric{avg(1)}}, "minReplicas 0"},
		"maxReplicas below minReplicas":  {Config{Min: 3, Max: 2, Metrics: []Metric{avg(1)}}, "maxReplicas 2"},
		"no metric":                      {Config{Min: 1, Max: 2}, "no metrics"},
		"a target below one milli-unit":  {Config{Min: 1, Max: 2, Metrics: []Metric{avg(0.0001)}}, `metric "m": target 0.0001`},
		"a target type other than value": {Config{Min: 1, Max: 2, Metrics: []Metric{{Name: "m", Type: "Utilization", Target: 1}}}, `target type "Utilization"`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error with %q", err, tt.want)
			}
		})
	}
}
