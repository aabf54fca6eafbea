// SPDX-License-Identifier: Apache-2.0

package resource_test

import (
	"strings"
	"testing"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/resource"
)

func trigger(typ string, mt v1alpha1.MetricType, md map[string]string) scalers.Trigger {
	return scalers.Trigger{Namespace: "ns", ScaledObject: "so", Index: 1, Name: typ, Type: typ, MetricType: mt, Metadata: md}
}

func TestResourceTriggersDescribeTheHPAsMetric(t *testing.T) {
	cpu, memory := resource.NewTypes()
	for _, tc := range []struct {
		sentence string
		typ      *resource.Type
		trigger  scalers.Trigger
		want     scalers.ResourceMetric
		wantType v1alpha1.MetricType
	}{
		{"cpu utilization is a whole percentage of the requests", cpu,
			trigger("cpu", v1alpha1.MetricTypeUtilization, map[string]string{"value": "60"}),
			scalers.ResourceMetric{Name: "cpu", Utilization: 60}, v1alpha1.MetricTypeUtilization},
		{"memory per pod is a quantity, kept canonical", memory,
			trigger("memory", v1alpha1.MetricTypeAverageValue, map[string]string{"value": "0.5Gi"}),
			scalers.ResourceMetric{Name: "memory", AverageValue: "512Mi"}, v1alpha1.MetricTypeAverageValue},
		{"KEDA's older metadata type wins over the default metric type", cpu,
			trigger("cpu", v1alpha1.MetricTypeAverageValue, map[string]string{"type": "Utilization", "value": "75"}),
			scalers.ResourceMetric{Name: "cpu", Utilization: 75}, v1alpha1.MetricTypeUtilization},
		{"containerName makes a ContainerResource metric", cpu,
			trigger("cpu", v1alpha1.MetricTypeAverageValue, map[string]string{"value": "250m", "containerName": "app"}),
			scalers.ResourceMetric{Name: "cpu", Container: "app", AverageValue: "250m"}, v1alpha1.MetricTypeAverageValue},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			sc, err := tc.typ.New(tc.trigger)
			if err != nil {
				t.Fatal(err)
			}
			m := sc.Metric()
			if m.Resource == nil || *m.Resource != tc.want || m.Type != tc.wantType {
				t.Fatalf("metric %+v (resource %+v), want %+v of type %s", m, m.Resource, tc.want, tc.wantType)
			}
			if _, err := sc.Read(t.Context()); err == nil {
				t.Error("Read of a resource trigger succeeded; the HPA reads it, never Ebb")
			}
			if err := sc.Close(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestBadResourceMetadataNamesTheKey(t *testing.T) {
	cpu, memory := resource.NewTypes()
	for _, tc := range []struct {
		sentence string
		typ      *resource.Type
		trigger  scalers.Trigger
		want     string
	}{
		{"a missing value", cpu, trigger("cpu", v1alpha1.MetricTypeUtilization, nil), `"value"`},
		{"a utilization that is not a whole number", cpu, trigger("cpu", v1alpha1.MetricTypeUtilization, map[string]string{"value": "60.5"}), `"value"`},
		{"a utilization of zero", cpu, trigger("cpu", v1alpha1.MetricTypeUtilization, map[string]string{"value": "0"}), `"value"`},
		{"an average value that is not a quantity", memory, trigger("memory", v1alpha1.MetricTypeAverageValue, map[string]string{"value": "lots"}), `"value"`},
		{"a negative average value", memory, trigger("memory", v1alpha1.MetricTypeAverageValue, map[string]string{"value": "-1Mi"}), `"value"`},
		{"an unknown metadata type", cpu, trigger("cpu", v1alpha1.MetricTypeAverageValue, map[string]string{"type": "Value", "value": "1"}), `"type"`},
		{"a container name that cannot be one", cpu, trigger("cpu", v1alpha1.MetricTypeUtilization, map[string]string{"value": "50", "containerName": "App_1"}), `"containerName"`},
		{"the metric type Value", cpu, trigger("cpu", v1alpha1.MetricTypeValue, map[string]string{"value": "50"}), "metricType Value"},
		{"an unknown key", cpu, trigger("cpu", v1alpha1.MetricTypeUtilization, map[string]string{"value": "50", "queueName": "x"}), `"queueName"`},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			err := tc.typ.Validate(tc.trigger)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not name %s", err, tc.want)
			}
		})
	}
}

func TestTheConfigTagsAreWellFormed(t *testing.T) {
	cpu, _ := resource.NewTypes()
	if err := scalers.CheckTags(cpu.Config()); err != nil {
		t.Fatal(err)
	}
}

func FuzzResourceMetadata(f *testing.F) {
	for _, v := range []string{"50", "500m", "1Gi", "0.5", "-1", "1e3", "9223372036854775807"} {
		f.Add(v, "Utilization", "")
		f.Add(v, "AverageValue", "app")
	}
	cpu, _ := resource.NewTypes()
	f.Fuzz(func(t *testing.T, value, metricType, container string) {
		md := map[string]string{"value": value}
		if container != "" {
			md["containerName"] = container
		}
		sc, err := cpu.New(trigger("cpu", v1alpha1.MetricType(metricType), md))
		if err != nil {
			return
		}
		m := sc.Metric()
		if m.Resource == nil || (m.Resource.Utilization <= 0 && m.Resource.AverageValue == "") {
			t.Fatalf("accepted %q as %s with no target: %+v", value, metricType, m.Resource)
		}
	})
}
