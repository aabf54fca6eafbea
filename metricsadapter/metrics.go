// SPDX-License-Identifier: Apache-2.0

package metricsadapter

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Results of an adapter request, the values of the "result" label.
const (
	ResultOK          = "ok"
	ResultNotFound    = "not_found"
	ResultUnavailable = "unavailable"
	ResultError       = "error"
	// A read no ScaledObject serves, answered by the delegated adapter, or
	// its error (or not reaching it).
	ResultDelegated     = "delegated"
	ResultDelegateError = "delegate_error"
)

// requestMetrics are the adapter's Prometheus metrics.
type requestMetrics struct {
	duration *prometheus.HistogramVec
}

// RequestDurationName is the name of the adapter's request latency histogram.
const RequestDurationName = "ebb_adapter_request_duration_seconds"

func newRequestMetrics(reg prometheus.Registerer) (*requestMetrics, error) {
	m := &requestMetrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: RequestDurationName,
			Help: "Time the metrics adapter took to answer an external metric read (GetExternalMetric), by result: " +
				"ok, not_found, unavailable (the trigger cannot be read and is not in fallback), error, " +
				"and for reads no ScaledObject serves sent to the delegated adapter, delegated or delegate_error.",
			// From a store read (tens of microseconds) to a slow source read.
			Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}, []string{"result"}),
	}
	// Every result is present from the start, so that rates are defined.
	for _, r := range []string{ResultOK, ResultNotFound, ResultUnavailable, ResultError, ResultDelegated, ResultDelegateError} {
		m.duration.WithLabelValues(r)
	}
	if reg != nil {
		if err := reg.Register(m.duration); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *requestMetrics) observe(result string, d time.Duration) {
	m.duration.WithLabelValues(result).Observe(d.Seconds())
}
