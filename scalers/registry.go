// SPDX-License-Identifier: Apache-2.0

package scalers

import (
	"fmt"
	"sort"
	"strings"
)

// Type is one kind of trigger: it validates metadata and builds Scalers.
// A Type owns what its Scalers share (connection pools, coalescers); it is
// safe for concurrent use.
type Type interface {
	// Name is the trigger type as written in spec.triggers[].type.
	Name() string
	// Config returns a pointer to a zero value of the Type's config struct,
	// so that tests can check its `meta` tags (see CheckTags).
	Config() any
	// Validate parses the trigger's metadata with no I/O and returns what is
	// wrong with it. It is pure: the admission webhook and New run it.
	Validate(t Trigger) error
	// New validates the trigger and builds its Scaler. New does no I/O: the
	// Scaler connects on its first Read, so a source that is down when the
	// ScaledObject is created gives read errors, not a build failure.
	New(t Trigger) (Scaler, error)
}

// Registry maps trigger types to the Types that handle them. It is built once
// by the operator's main and read concurrently after that.
type Registry struct {
	types map[string]Type
}

// NewRegistry returns a registry of the given Types; names must be unique.
func NewRegistry(types ...Type) (*Registry, error) {
	r := &Registry{types: make(map[string]Type, len(types))}
	for _, t := range types {
		name := t.Name()
		if name == "" {
			return nil, fmt.Errorf("scaler type %T has an empty name", t)
		}
		if _, dup := r.types[name]; dup {
			return nil, fmt.Errorf("scaler type %q registered twice", name)
		}
		r.types[name] = t
	}
	return r, nil
}

// Lookup returns the Type for a trigger type name.
func (r *Registry) Lookup(name string) (Type, bool) {
	t, ok := r.types[name]
	return t, ok
}

// Names lists the registered trigger types, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.types))
	for n := range r.types {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// IsResource says whether name is the type of a resource trigger (cpu,
// memory; see ResourceType).
func (r *Registry) IsResource(name string) bool {
	_, ok := r.types[name].(ResourceType)
	return ok
}

// Validate checks a trigger's type and metadata without I/O.
func (r *Registry) Validate(t Trigger) error {
	typ, err := r.typeOf(t)
	if err != nil {
		return err
	}
	return typ.Validate(t)
}

// New builds the Scaler of a trigger.
func (r *Registry) New(t Trigger) (Scaler, error) {
	typ, err := r.typeOf(t)
	if err != nil {
		return nil, err
	}
	return typ.New(t)
}

func (r *Registry) typeOf(t Trigger) (Type, error) {
	typ, ok := r.types[t.Type]
	if !ok {
		return nil, fmt.Errorf("%s: unknown trigger type %q; known types: %s", t, t.Type, strings.Join(r.Names(), ", "))
	}
	return typ, nil
}
