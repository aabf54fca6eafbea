// SPDX-License-Identifier: Apache-2.0

package controller

import (
	"strings"
	"testing"

	"github.com/ebbscale/ebb/apis/v1alpha1"
)

func TestCompositeFormulas(t *testing.T) {
	names := []string{"queue", "lag"}
	tests := []struct {
		sentence string
		formula  string
		values   map[string]float64
		want     float64
		wantErr  string
	}{
		{"arithmetic over trigger names", "(queue + lag) / 2", map[string]float64{"queue": 10, "lag": 30}, 20, ""},
		{"a ternary picks one trigger", "queue > 100 ? queue : lag", map[string]float64{"queue": 5, "lag": 7}, 7, ""},
		{"allowed functions", "max(queue, lag) + ceil(0.2)", map[string]float64{"queue": 5, "lag": 7}, 8, ""},
		{"a name that is no trigger does not compile", "queue + rows", nil, 0, "rows"},
		{"strings are not numbers", `queue + "1"`, nil, 0, "formula"},
		{"other built-ins are off", "len([1,2])", nil, 0, "formula"},
		{"a boolean result is not a number", "queue > 1", nil, 0, "formula"},
		{"an oversized formula is refused", strings.Repeat("queue + ", 300) + "1", nil, 0, "formula"},
	}
	for _, tt := range tests {
		t.Run(tt.sentence, func(t *testing.T) {
			c, err := CompileComposite(&v1alpha1.ScalingModifiers{Formula: tt.formula, Target: "10", ActivationTarget: "1"}, names)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("compiled %q", tt.formula)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q does not mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Eval(tt.values)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("= %v, want %v", got, tt.want)
			}
			if c.Spec.Name != CompositeMetricName || c.Spec.Target != 10 || c.Spec.ActivationTarget != 1 || c.Spec.Type != v1alpha1.MetricTypeAverageValue {
				t.Errorf("spec = %+v", c.Spec)
			}
		})
	}
	if _, err := CompileComposite(&v1alpha1.ScalingModifiers{Formula: "queue", Target: "0"}, names); err == nil {
		t.Error("a zero target was accepted")
	}
}

func FuzzCompositeFormula(f *testing.F) {
	f.Add("(queue + lag) / 2", 1.0, 2.0)
	f.Add("queue ? lag : 1", 0.0, 0.0)
	f.Add("max(queue, lag, 1/0)", 3.0, -1.0)
	f.Fuzz(func(t *testing.T, formula string, q, l float64) {
		c, err := CompileComposite(&v1alpha1.ScalingModifiers{Formula: formula, Target: "1"}, []string{"queue", "lag"})
		if err != nil {
			return
		}
		_, _ = c.Eval(map[string]float64{"queue": q, "lag": l}) // must not panic
	})
}
