// SPDX-License-Identifier: Apache-2.0

package controller

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/scalers"
)

// CompositeMetricName is the external metric served for scalingModifiers.
const CompositeMetricName = "composite"

// maxFormulaNodes bounds a formula's size, and so its cost: formulas are
// arithmetic over numbers with no loops, so cost follows size.
const maxFormulaNodes = 256

// Composite is a compiled scalingModifiers formula.
type Composite struct {
	Spec    scalers.MetricSpec
	program *vm.Program
	names   []string
}

// CompileComposite compiles a ScaledObject's scalingModifiers over its trigger
// names. The formula may use numbers, trigger names, arithmetic, comparisons,
// the ternary operator and the functions abs, ceil, floor, round, min and max;
// nothing else (no strings, maps, loops or other functions).
func CompileComposite(sm *v1alpha1.ScalingModifiers, triggerNames []string) (*Composite, error) {
	if sm == nil || sm.Formula == "" {
		return nil, nil
	}
	target, err := strconv.ParseFloat(sm.Target, 64)
	if err != nil || target <= 0 {
		return nil, fmt.Errorf("scalingModifiers.target %q: expected a number above 0", sm.Target)
	}
	var activation float64
	if sm.ActivationTarget != "" {
		if activation, err = strconv.ParseFloat(sm.ActivationTarget, 64); err != nil {
			return nil, fmt.Errorf("scalingModifiers.activationTarget %q: expected a number", sm.ActivationTarget)
		}
	}
	env := make(map[string]float64, len(triggerNames))
	for _, n := range triggerNames {
		env[n] = 0
	}
	opts := []expr.Option{
		expr.Env(env), expr.AsFloat64(), expr.MaxNodes(maxFormulaNodes), expr.DisableAllBuiltins(),
	}
	for _, b := range []string{"abs", "ceil", "floor", "round", "min", "max"} {
		opts = append(opts, expr.EnableBuiltin(b))
	}
	prog, err := expr.Compile(sm.Formula, opts...)
	if err != nil {
		return nil, fmt.Errorf("scalingModifiers.formula: %w", err)
	}
	mt := sm.MetricType
	if mt == "" {
		mt = v1alpha1.MetricTypeAverageValue
	}
	if mt == v1alpha1.MetricTypeUtilization {
		return nil, errors.New("scalingModifiers.metricType Utilization: expected AverageValue or Value (Utilization is for cpu and memory triggers, which the HPA reads itself)")
	}
	return &Composite{
		Spec:    scalers.MetricSpec{Name: CompositeMetricName, Target: target, ActivationTarget: activation, Type: mt},
		program: prog, names: triggerNames,
	}, nil
}

// EventTriggerNames are the names of the triggers that are not resource
// triggers (cpu, memory): the ones the scale loop reads, and a
// scalingModifiers formula may use.
func EventTriggerNames(reg *scalers.Registry, triggers []v1alpha1.Trigger, names []string) []string {
	var out []string
	for i, t := range triggers {
		if !reg.IsResource(t.Type) {
			out = append(out, names[i])
		}
	}
	return out
}

// CompileTriggersComposite compiles a scalingModifiers formula over the
// triggers (named names) that the scale loop reads: not the resource
// triggers (cpu, memory), which the HPA reads itself and stay metrics of
// their own next to the composite one.
func CompileTriggersComposite(reg *scalers.Registry, sm *v1alpha1.ScalingModifiers, triggers []v1alpha1.Trigger, names []string) (*Composite, error) {
	c, err := CompileComposite(sm, EventTriggerNames(reg, triggers, names))
	if err != nil {
		if _, all := CompileComposite(sm, names); all == nil {
			return nil, errors.New("scalingModifiers.formula uses a cpu or memory trigger: the HPA reads those from the pods itself, so they stay metrics of their own and cannot be used in a formula")
		}
	}
	return c, err
}

// Eval computes the formula over trigger values.
func (c *Composite) Eval(values map[string]float64) (float64, error) {
	out, err := expr.Run(c.program, values)
	if err != nil {
		return 0, fmt.Errorf("scalingModifiers.formula: %w", err)
	}
	v, ok := out.(float64)
	if !ok {
		return 0, errors.New("scalingModifiers.formula did not give a number")
	}
	return v, nil
}

// Evaluate computes the composite sample from the triggers' last samples: an
// error when any trigger is unknown. The sample's time is its oldest
// input's (zero when a trigger was never read), so that the composite value
// is as fresh as what it is made of.
func (c *Composite) Evaluate(triggers []*loopTrigger, now time.Time) Sample {
	values := make(map[string]float64, len(triggers))
	oldest := now
	var unknown error
	for _, t := range triggers {
		s := t.lastSample()
		if s.Time.Before(oldest) {
			oldest = s.Time
		}
		if unknown == nil && (s.Err != nil || s.Time.IsZero()) {
			unknown = fmt.Errorf("trigger %q is unknown, so the formula is too", t.name)
		}
		values[t.name] = s.Value
	}
	if unknown != nil {
		return Sample{Time: oldest, Err: unknown}
	}
	v, err := c.Eval(values)
	if err != nil {
		return Sample{Time: oldest, Err: err}
	}
	return Sample{Time: oldest, Value: v, Active: scalers.IsActive(v, c.Spec.ActivationTarget)}
}
