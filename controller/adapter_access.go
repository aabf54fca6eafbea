// SPDX-License-Identifier: Apache-2.0

package controller

// ListMetrics returns every metric the loop serves, sorted by namespace,
// ScaledObject and metric name: what the metrics adapter lists and searches
// when a read names no ScaledObject. Safe for concurrent use, also before
// Start.
func (l *ScaleLoop) ListMetrics() []MetricRef {
	l.init()
	return l.Store.List()
}
