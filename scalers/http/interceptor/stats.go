// SPDX-License-Identifier: Apache-2.0

package interceptor

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// RouteStats are one route's counters, as GET /v1/routes serves them.
type RouteStats struct {
	Name       string `json:"name"`
	Host       string `json:"host"`
	PathPrefix string `json:"pathPrefix"`
	// RequestRate is requests per second over Window.
	RequestRate float64 `json:"requestRate"`
	// Window is the span of RequestRate, e.g. "1m0s".
	Window string `json:"window"`
	// RequestsTotal counts every request since the interceptor started.
	RequestsTotal int64 `json:"requestsTotal"`
	// InFlight is the requests being proxied now; Held the requests waiting
	// for a ready endpoint.
	InFlight int64 `json:"inFlight"`
	Held     int64 `json:"held"`
	// ReadyEndpoints is the backend's ready endpoints (1 for a route without
	// a Service).
	ReadyEndpoints int `json:"readyEndpoints"`
}

// StatsResponse is the body of GET /v1/routes.
type StatsResponse struct {
	Routes []RouteStats `json:"routes"`
}

// Stats returns the counters of every route, or of the named ones, with the
// rate over span (at most the configured window; 0 means the window).
func (ic *Interceptor) Stats(span time.Duration, names ...string) []RouteStats {
	if span <= 0 || span > ic.cfg.Window {
		span = ic.cfg.Window
	}
	if span < ic.cfg.Bucket {
		span = ic.cfg.Bucket
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	now := ic.now()
	routes := ic.set.Load().routes
	out := make([]RouteStats, 0, len(routes))
	for _, r := range routes {
		if len(want) > 0 && !want[r.cfg.Name] {
			continue
		}
		out = append(out, RouteStats{
			Name:           r.cfg.Name,
			Host:           r.cfg.Host,
			PathPrefix:     r.cfg.PathPrefix,
			RequestRate:    r.win.rate(now, span),
			Window:         span.String(),
			RequestsTotal:  r.requests.Load(),
			InFlight:       r.inFlight.Load(),
			Held:           r.held.Load(),
			ReadyEndpoints: r.gate.readyEndpoints(),
		})
	}
	return out
}

// AdminHandler serves the operator's endpoint and the metrics:
//
//	GET /v1/routes[?route=<name>...][&window=<duration>]  StatsResponse; needs "Authorization: Bearer <token>"
//	GET /v1/activations?epoch=<e>&since=<seq>[&wait=<d>]   Activations (see WaitActivations); the same token
//	GET /metrics                                           Prometheus text format
//	GET /healthz                                           200 ok
//
// An empty token refuses every /v1 request. /metrics also serves the extra
// collectors given.
func (ic *Interceptor) AdminHandler(token string, extra ...prometheus.Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&collector{ic: ic})
	reg.MustRegister(extra...)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /v1/activations", func(w http.ResponseWriter, req *http.Request) {
		if authorized(w, req, token) {
			ic.serveActivations(w, req)
		}
	})
	mux.HandleFunc("GET /v1/routes", func(w http.ResponseWriter, req *http.Request) {
		if !authorized(w, req, token) {
			return
		}
		var span time.Duration
		if s := req.URL.Query().Get("window"); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d <= 0 {
				http.Error(w, "window: expected a duration such as 30s", http.StatusBadRequest)
				return
			}
			span = d
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(StatsResponse{Routes: ic.Stats(span, req.URL.Query()["route"]...)})
	})
	return mux
}

// authorized checks the bearer token, answering 401 when it is wrong.
func authorized(w http.ResponseWriter, req *http.Request, token string) bool {
	got := req.Header.Get("Authorization")
	if token == "" || subtle.ConstantTimeCompare([]byte(got), []byte("Bearer "+token)) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ebb-interceptor"`)
		http.Error(w, "a valid bearer token is required", http.StatusUnauthorized)
		return false
	}
	return true
}

// collector exposes the routes' counters as Prometheus metrics.
type collector struct{ ic *Interceptor }

var (
	descRequests = prometheus.NewDesc("ebb_interceptor_requests_total", "Requests received per route, held ones included.", []string{"route"}, nil)
	descRate     = prometheus.NewDesc("ebb_interceptor_request_rate", "Requests per second per route over the configured window.", []string{"route"}, nil)
	descInFlight = prometheus.NewDesc("ebb_interceptor_requests_in_flight", "Requests being proxied per route.", []string{"route"}, nil)
	descHeld     = prometheus.NewDesc("ebb_interceptor_requests_held", "Requests waiting for a ready endpoint per route.", []string{"route"}, nil)
	descRejected = prometheus.NewDesc("ebb_interceptor_requests_rejected_total", "Requests answered 503 by the interceptor per route and reason (queue_full, hold_timeout).", []string{"route", "reason"}, nil)
	descReady    = prometheus.NewDesc("ebb_interceptor_ready_endpoints", "Ready endpoints of the route's backend.", []string{"route"}, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRequests, descRate, descInFlight, descHeld, descRejected, descReady} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	now := c.ic.now()
	for _, r := range c.ic.set.Load().routes {
		n := r.cfg.Name
		ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(r.requests.Load()), n)
		ch <- prometheus.MustNewConstMetric(descRate, prometheus.GaugeValue, r.win.rate(now, c.ic.cfg.Window), n)
		ch <- prometheus.MustNewConstMetric(descInFlight, prometheus.GaugeValue, float64(r.inFlight.Load()), n)
		ch <- prometheus.MustNewConstMetric(descHeld, prometheus.GaugeValue, float64(r.held.Load()), n)
		ch <- prometheus.MustNewConstMetric(descReady, prometheus.GaugeValue, float64(r.gate.readyEndpoints()), n)
		for i := range r.rejected {
			ch <- prometheus.MustNewConstMetric(descRejected, prometheus.CounterValue, float64(r.rejected[i].Load()), n, reasonNames[i])
		}
	}
}
