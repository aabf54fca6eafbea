// SPDX-License-Identifier: Apache-2.0

package http

import (
	"context"
	"net"
	nethttp "net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ebbscale/ebb/scalers"
)

// app is a real HTTP service on loopback instrumented with client_golang:
// http_requests_total{route,code} counts its requests and
// http_requests_in_flight{route} its requests in flight; /metrics serves
// them in the Prometheus text format.
type app struct {
	srv     *httptest.Server // the service
	metrics *httptest.Server // its /metrics
	// hold, when set, keeps /slow requests open until it is closed.
	hold atomic.Pointer[chan struct{}]
	// served counts the requests the service answered.
	served atomic.Int64
}

func startApp(t *testing.T) *app {
	t.Helper()
	a := &app{}
	reg := promclient.NewRegistry()
	total := promclient.NewCounterVec(promclient.CounterOpts{Name: "http_requests_total", Help: "Requests answered."}, []string{"route", "code"})
	inFlight := promclient.NewGaugeVec(promclient.GaugeOpts{Name: "http_requests_in_flight", Help: "Requests in flight."}, []string{"route"})
	reg.MustRegister(total, inFlight)
	mux := nethttp.NewServeMux()
	for _, route := range []string{"/api", "/slow", "/other"} {
		route := route
		h := nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
			if route == "/slow" {
				if ch := a.hold.Load(); ch != nil {
					select {
					case <-*ch:
					case <-r.Context().Done():
					}
				}
			}
			a.served.Add(1)
			_, _ = w.Write([]byte("ok\n"))
		})
		mux.Handle(route, promhttp.InstrumentHandlerInFlight(inFlight.WithLabelValues(route),
			promhttp.InstrumentHandlerCounter(total.MustCurryWith(promclient.Labels{"route": route}), h)))
	}
	a.srv = httptest.NewServer(mux)
	t.Cleanup(a.srv.Close)
	a.metrics = httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(a.metrics.Close)
	return a
}

func (a *app) metricsURL() string { return a.metrics.URL + "/metrics" }

// load sends GET requests to url at rate per second, on a fixed schedule,
// until ctx ends; wait returns the number of requests answered and the
// achieved rate.
type load struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	start  time.Time
	ok     atomic.Int64
	end    atomic.Int64 // unix nanos of the stop
}

func startLoad(t *testing.T, url string, rate float64) *load {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{cancel: cancel, start: time.Now()}
	client := &nethttp.Client{Transport: &nethttp.Transport{MaxIdleConnsPerHost: 16}, Timeout: 10 * time.Second}
	sem := make(chan struct{}, 16) // at most 16 requests in flight
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		interval := time.Duration(float64(time.Second) / rate)
		next := time.Now()
		for i := 0; ; i++ {
			next = next.Add(interval)
			select {
			case <-ctx.Done():
				return
			case sem <- struct{}{}:
			}
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				defer func() { <-sem }()
				req, _ := nethttp.NewRequestWithContext(ctx, nethttp.MethodGet, url, nil)
				resp, err := client.Do(req)
				if err == nil {
					resp.Body.Close()
					l.ok.Add(1)
				}
			}()
			if d := time.Until(next); d > 0 {
				tm := time.NewTimer(d)
				select {
				case <-ctx.Done():
					tm.Stop()
					return
				case <-tm.C:
				}
			}
		}
	}()
	t.Cleanup(l.stop)
	return l
}

// achieved is the rate the load reached so far.
func (l *load) achieved() float64 {
	return float64(l.ok.Load()) / time.Since(l.start).Seconds()
}

func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
}

func trigger(meta map[string]string) scalers.Trigger {
	return scalers.Trigger{
		Namespace:    "default",
		ScaledObject: "web",
		Name:         "http-0",
		Type:         TypeName,
		Metadata:     meta,
	}
}

func newScaler(t *testing.T, typ *Type, meta map[string]string) scalers.Scaler {
	t.Helper()
	sc, err := typ.New(trigger(meta))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sc.Close() })
	return sc
}

func read(t *testing.T, sc scalers.Scaler) (scalers.Reading, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return sc.Read(ctx)
}

// eventually waits until cond holds, checking every 100 ms, for at most d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
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

// stepClock is a clock that moves step forward at every reading.
type stepClock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func (c *stepClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(c.step)
	return c.t
}
