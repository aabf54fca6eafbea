// SPDX-License-Identifier: Apache-2.0

package resource

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	apiresource "k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/scalers"
)

// Config is a cpu or memory trigger's metadata. The keys are KEDA's.
type Config struct {
	// Type is KEDA's older way to give the metric type (Utilization or
	// AverageValue); when set it wins over the trigger's metricType.
	Type string `meta:"type,optional,enum=Utilization|AverageValue,from=metadata"`
	// Value is the target: a whole percentage of the pods' requests for
	// Utilization, a quantity per pod ("500m", "512Mi") for AverageValue.
	Value string `meta:"value,from=metadata"`
	// ContainerName limits the metric to one container of each pod.
	ContainerName string `meta:"containerName,optional,from=metadata"`
}

// parse reads and checks a trigger's metadata with no I/O; Validate and New
// both run it.
func parse(resource string, t scalers.Trigger) (scalers.MetricSpec, error) {
	var cfg Config
	if err := scalers.ParseMetadata(t, &cfg); err != nil {
		return scalers.MetricSpec{}, err
	}
	mt := t.MetricTypeOrDefault()
	if cfg.Type != "" {
		mt = v1alpha1.MetricType(cfg.Type)
	}
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &scalers.FieldError{Trigger: t.String(), Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	m := &scalers.ResourceMetric{Name: resource, Container: cfg.ContainerName}
	switch mt {
	case v1alpha1.MetricTypeUtilization:
		n, err := strconv.ParseInt(cfg.Value, 10, 32)
		if err != nil || n < 1 {
			bad("value", "expected a whole percentage of the pods' %s requests above 0 (metricType Utilization), found %q", resource, cfg.Value)
		}
		m.Utilization = int32(n)
	case v1alpha1.MetricTypeAverageValue:
		q, err := apiresource.ParseQuantity(cfg.Value)
		if err != nil || q.Sign() <= 0 {
			bad("value", "expected a quantity of %s per pod above 0, such as %s (metricType AverageValue), found %q", resource, example(resource), cfg.Value)
		} else if q.MilliValue() >= math.MaxInt64/1000 {
			bad("value", "expected a quantity of %s per pod below 9.2e15", resource)
		} else {
			m.AverageValue = q.String()
		}
	default:
		errs = append(errs, fmt.Errorf("%s: metricType %s: expected Utilization or AverageValue (a %s trigger is a resource metric the HPA reads)", t, mt, resource))
	}
	if c := cfg.ContainerName; c != "" {
		if msgs := validation.IsDNS1123Label(c); len(msgs) > 0 {
			bad("containerName", "expected a container name (a DNS-1123 label), found %q", c)
		}
	}
	if len(errs) > 0 {
		return scalers.MetricSpec{}, errors.Join(errs...)
	}
	return scalers.MetricSpec{
		Name: scalers.MetricName(t, cfg.ContainerName), Type: mt, Resource: m,
	}, nil
}

func example(resource string) string {
	if resource == Memory {
		return "512Mi"
	}
	return "500m"
}
