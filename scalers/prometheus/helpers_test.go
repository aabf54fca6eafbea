// SPDX-License-Identifier: Apache-2.0

package prometheus

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/tests/promharness"
)

// source is a /metrics endpoint on loopback with the test's gauges, scraped
// by a real Prometheus.
type source struct {
	prom *promharness.Prometheus
	run  string // the run="..." label that keeps this test's series apart
	// depth is ebb_test_queue_depth{run=...}.
	depth promclient.Gauge
	// byQueue is ebb_test_queue_depth_by_queue{run=..., queue=...}.
	byQueue *promclient.GaugeVec
}

// startSource serves the gauges and starts a Prometheus that scrapes them,
// then waits until Prometheus holds the first values.
func startSource(t *testing.T) *source {
	t.Helper()
	run := fmt.Sprintf("r%08x", rand.Uint32())
	reg := promclient.NewRegistry()
	s := &source{
		run: run,
		depth: promclient.NewGauge(promclient.GaugeOpts{
			Name: "ebb_test_queue_depth", Help: "Queue depth set by the test.",
			ConstLabels: promclient.Labels{"run": run},
		}),
		byQueue: promclient.NewGaugeVec(promclient.GaugeOpts{
			Name: "ebb_test_queue_depth_by_queue", Help: "Queue depth per queue, set by the test.",
			ConstLabels: promclient.Labels{"run": run},
		}, []string{"queue"}),
	}
	reg.MustRegister(s.depth, s.byQueue)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	s.byQueue.WithLabelValues("orders").Set(1)
	s.byQueue.WithLabelValues("invoices").Set(2)
	s.prom = promharness.StartWith(t, []string{srv.Listener.Addr().String()}, promharness.WithJobName("ebb-prometheus-scaler-test"))
	s.prom.WaitForQuery(t, s.depthQuery(), func(float64) bool { return true })
	return s
}

// depthQuery selects this run's ebb_test_queue_depth.
func (s *source) depthQuery() string { return fmt.Sprintf(`ebb_test_queue_depth{run=%q}`, s.run) }

// setDepth sets the gauge and waits until Prometheus has scraped the value.
func (s *source) setDepth(t *testing.T, v float64) {
	t.Helper()
	s.depth.Set(v)
	s.prom.WaitForQuery(t, s.depthQuery(), func(got float64) bool { return got == v })
}

// trigger builds a prometheus trigger with the given metadata and
// TriggerAuthentication parameters.
func trigger(meta, auth map[string]string) scalers.Trigger {
	return scalers.Trigger{
		Namespace:    "default",
		ScaledObject: "worker",
		Index:        0,
		Name:         "prometheus-0",
		Type:         TypeName,
		Metadata:     meta,
		AuthParams:   auth,
	}
}

// newScaler builds a Scaler and closes it when the test ends.
func newScaler(t *testing.T, typ *Type, tr scalers.Trigger) scalers.Scaler {
	t.Helper()
	sc, err := typ.New(tr)
	if err != nil {
		t.Fatalf("New = %v", err)
	}
	t.Cleanup(func() {
		if err := sc.Close(); err != nil {
			t.Errorf("Close = %v", err)
		}
	})
	return sc
}

// read reads once with a bounded context.
func read(sc scalers.Scaler) (scalers.Reading, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return sc.Read(ctx)
}

// readUntil polls the scaler until cond holds for a read, and fails the test
// with the last read if it does not within 30 s.
func readUntil(t *testing.T, sc scalers.Scaler, what string, cond func(scalers.Reading, error) bool) scalers.Reading {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := read(sc)
		if cond(r, err) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("the scaler did not read %s within 30s; last read %+v, error %v", what, r, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// gate is an HTTP server in front of Prometheus that records each request
// and lets through only the ones whose Authorization header it expects; the
// others get a 401.
type gate struct {
	srv           *httptest.Server
	authorization string // the expected header; empty: any

	mu   sync.Mutex
	last *http.Request
	hits int
}

func startGate(t *testing.T, upstream, authorization string) *gate {
	t.Helper()
	target, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{authorization: authorization}
	proxy := httputil.NewSingleHostReverseProxy(target)
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		g.last, g.hits = r.Clone(context.Background()), g.hits+1
		g.mu.Unlock()
		if g.authorization != "" && r.Header.Get("Authorization") != g.authorization {
			w.Header().Set("WWW-Authenticate", `Basic realm="prometheus"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *gate) URL() string { return g.srv.URL }

// lastRequest is the last request the gate saw.
func (g *gate) lastRequest() *http.Request {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.last
}

// deadAddress is a loopback host:port where nothing listens.
func deadAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
