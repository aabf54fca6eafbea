// SPDX-License-Identifier: Apache-2.0

package simulate

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/scalers"
)

// NewScenario pairs a ScaledObject's triggers with series, keyed by trigger
// name (spec.triggers[].name, or "<type>-<index>" when unset). A
// ScaledObject with one trigger takes the one series given whatever its
// key, so that two configurations can be compared on the same series.
func NewScenario(name string, so *v1alpha1.ScaledObject, reg *scalers.Registry, series map[string]*Series) (*Scenario, error) {
	specs, comp, err := MetricSpecs(reg, so)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	sc := &Scenario{Name: name, Object: so, Composite: comp}
	// Resource triggers (cpu, memory) are read by the HPA from running
	// pods: the simulation has no series for them and leaves them out.
	var names []string
	var kept []scalers.MetricSpec
	for i := range so.Spec.Triggers {
		if specs[i].Resource == nil {
			names = append(names, so.Spec.TriggerName(i))
			kept = append(kept, specs[i])
		}
	}
	specs = kept
	if len(names) == 0 {
		return nil, fmt.Errorf("%s: every trigger is cpu or memory, which the HPA reads from running pods: there is nothing to simulate", name)
	}
	if len(names) == 1 && len(series) == 1 {
		for _, s := range series {
			sc.Triggers = []Trigger{{Name: names[0], Metric: specs[0], Series: s}}
		}
		return sc, nil
	}
	known := map[string]bool{}
	for i, n := range names {
		known[n] = true
		s, ok := series[n]
		if !ok {
			return nil, fmt.Errorf("%s: trigger %q has no series: expected --series %s=<file.csv>", name, n, n)
		}
		sc.Triggers = append(sc.Triggers, Trigger{Name: n, Metric: specs[i], Series: s})
	}
	var unknown []string
	for k := range series {
		if !known[k] {
			unknown = append(unknown, fmt.Sprintf("%q", k))
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("%s: series for %s, which is no trigger of ScaledObject %q: its triggers are %s", name, strings.Join(unknown, ", "), so.Name, strings.Join(names, ", "))
	}
	return sc, nil
}
