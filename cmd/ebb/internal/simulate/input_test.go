// SPDX-License-Identifier: Apache-2.0

package simulate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestReadSeries(t *testing.T) {
	tests := map[string]struct {
		csv  string
		want []Point
	}{
		"seconds from the start, with a header": {
			csv:  "time,value\n0,1\n2.5,3\n",
			want: []Point{{0, 1, true}, {2500 * time.Millisecond, 3, true}},
		},
		"RFC 3339 times are offsets from the first row": {
			csv:  "2026-01-01T10:00:00Z,5\n2026-01-01T10:00:30.5Z,6\n",
			want: []Point{{0, 5, true}, {30500 * time.Millisecond, 6, true}},
		},
		"an empty value or error is a failed read": {
			csv:  "0,1\n1,\n2,error\n3,ERROR\n",
			want: []Point{{0, 1, true}, {time.Second, 0, false}, {2 * time.Second, 0, false}, {3 * time.Second, 0, false}},
		},
		"blank lines, comments and spaces are skipped": {
			csv:  "# a burst\n\n 0 , 1 \n\n1,2\r\n",
			want: []Point{{0, 1, true}, {time.Second, 2, true}},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			s, err := ReadSeries("x.csv", strings.NewReader(tt.csv))
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Points) != len(tt.want) {
				t.Fatalf("got %v, want %v", s.Points, tt.want)
			}
			for i := range tt.want {
				if s.Points[i] != tt.want[i] {
					t.Fatalf("point %d: got %v, want %v", i, s.Points[i], tt.want[i])
				}
			}
		})
	}
}

func TestReadSeriesErrorsNameTheFileAndLine(t *testing.T) {
	tests := map[string]struct {
		csv  string
		want string
	}{
		"a time that is neither":            {"0,1\nsoon,2\n", `lag.csv line 2: time "soon": expected seconds from the start`},
		"a value that is not a number":      {"0,1\n1,many\n", `lag.csv line 2: value "many": expected a number`},
		"times out of order":                {"0,1\n5,2\n# note\n4,3\n", `lag.csv line 4: time "4" is not after the row before`},
		"a row with three fields":           {"0,1,2\n", "lag.csv line 1: 3 fields: expected two"},
		"mixed kinds of time":               {"0,1\n2026-01-01T00:00:00Z,2\n", "lag.csv line 2: time \"2026-01-01T00:00:00Z\": expected seconds from the start like the rows before"},
		"a negative time":                   {"-1,1\n", `lag.csv line 1: time "-1": expected seconds from the start, 0 or more`},
		"no rows at all":                    {"time,value\n", "lag.csv: no rows"},
		"a header after the first data row": {"0,1\ntime,value\n", `lag.csv line 2: time "time"`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := ReadSeries("lag.csv", strings.NewReader(tt.csv))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestAlignPutsAbsoluteSeriesOnOneClock(t *testing.T) {
	a, err := ReadSeries("a", strings.NewReader("2026-01-01T10:00:10Z,1\n2026-01-01T10:00:20Z,2\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ReadSeries("b", strings.NewReader("2026-01-01T10:00:00Z,3\n"))
	if err != nil {
		t.Fatal(err)
	}
	start, err := Align([]*Series{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC); !start.Equal(want) {
		t.Fatalf("start %s, want %s", start, want)
	}
	if a.Points[0].At != 10*time.Second || a.Points[1].At != 20*time.Second || b.Points[0].At != 0 {
		t.Fatalf("a %v, b %v", a.Points, b.Points)
	}
	c, _ := ReadSeries("c", strings.NewReader("0,1\n"))
	if _, err := Align([]*Series{a, c}); err == nil || !strings.Contains(err.Error(), "expected one kind") {
		t.Fatalf("mixing absolute and relative series: got %v", err)
	}
}

func TestLoadScaledObject(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	so, err := LoadScaledObject(write("multi.yaml", `apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: ebb.dev/v1alpha1
kind: ScaledObject
metadata: {name: worker}
spec:
  scaleTargetRef: {name: worker}
  triggers: [{type: kafka, metadata: {lagThreshold: "5"}}]
`))
	if err != nil {
		t.Fatal(err)
	}
	if so.Name != "worker" || so.Spec.Triggers[0].Type != "kafka" {
		t.Fatalf("got %+v", so)
	}

	tests := map[string]struct {
		yaml string
		want string
	}{
		"a misspelt field": {`apiVersion: ebb.dev/v1alpha1
kind: ScaledObject
metadata: {name: w}
spec: {scaleTargetRef: {name: w}, pollingIntervall: 5, triggers: [{type: kafka}]}
`, `unknown field "pollingIntervall"`},
		"a KEDA object": {`apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: w}
`, "ebb convert"},
		"no ScaledObject": {"apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n", "no ScaledObject"},
		"no trigger": {`apiVersion: ebb.dev/v1alpha1
kind: ScaledObject
metadata: {name: w}
spec: {scaleTargetRef: {name: w}}
`, "spec.triggers is empty"},
		"min above max": {`apiVersion: ebb.dev/v1alpha1
kind: ScaledObject
metadata: {name: w}
spec: {scaleTargetRef: {name: w}, minReplicaCount: 5, maxReplicaCount: 2, triggers: [{type: kafka}]}
`, "spec.minReplicaCount 5 is above spec.maxReplicaCount 2"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			p := write(strings.ReplaceAll(name, " ", "-")+".yaml", tt.yaml)
			_, err := LoadScaledObject(p)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), p) {
				t.Fatalf("got %v, want an error naming %s with %q", err, p, tt.want)
			}
		})
	}
}

func TestScenarioNeedsASeriesPerTrigger(t *testing.T) {
	so, err := LoadScaledObject(td("formula.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	one := &Series{Name: "one", Points: []Point{{0, 1, true}}}
	_, err = NewScenario("formula.yaml", so, testRegistry(t), map[string]*Series{"orders": one})
	if err == nil || !strings.Contains(err.Error(), `trigger "refunds" has no series: expected --series refunds=<file.csv>`) {
		t.Fatalf("a missing series: got %v", err)
	}
	_, err = NewScenario("formula.yaml", so, testRegistry(t), map[string]*Series{"orders": one, "refunds": one, "refund": one})
	if err == nil || !strings.Contains(err.Error(), `series for "refund", which is no trigger`) {
		t.Fatalf("a series for no trigger: got %v", err)
	}
}

func TestMetricSpecsComeFromTheScalerTypes(t *testing.T) {
	so, err := LoadScaledObject(td("tuned.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	specs, comp, err := MetricSpecs(testRegistry(t), so)
	if err != nil {
		t.Fatal(err)
	}
	if comp != nil || len(specs) != 1 || specs[0].Target != 20 || specs[0].ActivationTarget != 5 {
		t.Fatalf("got %+v, composite %v", specs, comp)
	}
	so.Spec.Triggers[0].Metadata["lagThreshold"] = "twenty"
	if _, _, err := MetricSpecs(testRegistry(t), so); err == nil || !strings.Contains(err.Error(), "spec.triggers[0].metadata[lagThreshold]") {
		t.Fatalf("a bad threshold: got %v", err)
	}
}
