// SPDX-License-Identifier: Apache-2.0

package controller

import (
	"errors"
	"sort"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// Sample is one trigger's last reading.
type Sample struct {
	Value  float64
	Active bool
	// Err is the last read's error, already free of credentials; nil when
	// the read succeeded.
	Err error
	// Time is when the read finished.
	Time time.Time
	// Failures counts consecutive failed reads.
	Failures int32
}

// MetricRef names one external metric of one ScaledObject.
type MetricRef struct {
	Namespace    string
	ScaledObject string
	Metric       string
}

// Errors of metric reads, for the metrics adapter to turn into API errors.
var (
	// ErrMetricNotFound: no ScaledObject serves this metric.
	ErrMetricNotFound = errors.New("metric not found")
	// ErrMetricUnavailable: the trigger cannot be read now and is not in
	// fallback.
	ErrMetricUnavailable = errors.New("metric unavailable")
)

// Store is the in-memory metric store: the last sample of every trigger of
// every ScaledObject the scale loop polls. The scale loop writes it; the
// metrics adapter reads it. Safe for concurrent use.
type Store struct {
	mu      sync.RWMutex
	samples map[MetricRef]Sample
	byObj   map[types.NamespacedName][]string
}

// NewStore returns an empty Store.
func NewStore() *Store {
	return &Store{samples: map[MetricRef]Sample{}, byObj: map[types.NamespacedName][]string{}}
}

// Put records a sample.
func (s *Store) Put(ref MetricRef, v Sample) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.samples[ref] = v
}

// Get returns the last sample of a metric.
func (s *Store) Get(ref MetricRef) (Sample, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.samples[ref]
	return v, ok
}

// SetMetrics declares the metrics a ScaledObject serves, dropping samples of
// metrics it no longer serves.
func (s *Store) SetMetrics(obj types.NamespacedName, metrics []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keep := make(map[string]bool, len(metrics))
	for _, m := range metrics {
		keep[m] = true
	}
	for _, m := range s.byObj[obj] {
		if !keep[m] {
			delete(s.samples, MetricRef{Namespace: obj.Namespace, ScaledObject: obj.Name, Metric: m})
		}
	}
	if len(metrics) == 0 {
		delete(s.byObj, obj)
		return
	}
	s.byObj[obj] = append([]string(nil), metrics...)
}

// List returns every metric served, sorted.
func (s *Store) List() []MetricRef {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []MetricRef
	for obj, ms := range s.byObj {
		for _, m := range ms {
			out = append(out, MetricRef{Namespace: obj.Namespace, ScaledObject: obj.Name, Metric: m})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.ScaledObject != b.ScaledObject {
			return a.ScaledObject < b.ScaledObject
		}
		return a.Metric < b.Metric
	})
	return out
}
