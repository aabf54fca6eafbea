// SPDX-License-Identifier: Apache-2.0

package resource

import (
	"context"
	"fmt"

	"github.com/ebbscale/ebb/scalers"
)

// The trigger types, as written in spec.triggers[].type.
const (
	CPU    = "cpu"
	Memory = "memory"
)

// Type is the cpu or the memory trigger type. It holds nothing.
type Type struct {
	resource string
}

var (
	_ scalers.ResourceType = (*Type)(nil)
	_ scalers.Scaler       = (*scaler)(nil)
)

// NewTypes returns the cpu and the memory trigger types.
func NewTypes() (cpu, memory *Type) {
	return &Type{resource: CPU}, &Type{resource: Memory}
}

// Name is "cpu" or "memory".
func (t *Type) Name() string { return t.resource }

// Resource is the resource the triggers scale on: the same as Name.
func (t *Type) Resource() string { return t.resource }

// Config returns a zero *Config.
func (t *Type) Config() any { return &Config{} }

// Validate checks a trigger's metadata and metric type without I/O.
func (t *Type) Validate(tr scalers.Trigger) error {
	_, err := parse(t.resource, tr)
	return err
}

// New builds the trigger's Scaler, which only describes the metric.
func (t *Type) New(tr scalers.Trigger) (scalers.Scaler, error) {
	spec, err := parse(t.resource, tr)
	if err != nil {
		return nil, err
	}
	return &scaler{spec: spec}, nil
}

// scaler describes a resource metric; the HPA reads it, so Read is never
// called by the operator.
type scaler struct {
	spec scalers.MetricSpec
}

func (s *scaler) Metric() scalers.MetricSpec { return s.spec }

func (s *scaler) Read(context.Context) (scalers.Reading, error) {
	return scalers.Reading{}, fmt.Errorf("a %s trigger is read by the HPA from metrics.k8s.io, not by Ebb", s.spec.Resource.Name)
}

func (s *scaler) Close() error { return nil }
