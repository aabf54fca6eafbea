// SPDX-License-Identifier: Apache-2.0

package http

import (
	"context"
	"errors"
	"math"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ebbscale/ebb/tests/faultproxy"
)

func rateMeta(a *app, kv ...string) map[string]string {
	m := map[string]string{
		"counterURL":        a.metricsURL(),
		"counterName":       "http_requests_total",
		"labels":            "route=/api",
		"targetRequestRate": "10",
		"window":            "4s",
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// The rate read from the app's own http_requests_total matches the load sent
// to it, and only the selected route counts.
func TestRateMatchesGeneratedLoad(t *testing.T) {
	a := startApp(t)
	typ := NewType()
	sc := newScaler(t, typ, rateMeta(a))
	api := startLoad(t, a.srv.URL+"/api", 40)
	other := startLoad(t, a.srv.URL+"/other", 25) // another route: not counted
	defer other.stop()
	eventually(t, 10*time.Second, "the load to start", func() bool { return api.ok.Load() > 20 })

	// The first read bootstraps over 1 s; later reads use the 4 s window.
	for i := 0; i < 6; i++ {
		r, err := read(t, sc)
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		want := api.achieved()
		tol := 0.25 * want
		if i == 0 {
			tol = 0.4 * want // one second of traffic
		}
		if math.Abs(r.Value-want) > tol {
			t.Errorf("read %d: rate %.2f req/s, the load achieved %.2f req/s (tolerance %.2f)", i, r.Value, want, tol)
		}
		if !r.Active {
			t.Errorf("read %d: %.2f req/s is not active", i, r.Value)
		}
		time.Sleep(700 * time.Millisecond) // reads a poll apart; this is the pace, not a wait for a condition
	}
	// Without load, the rate falls to 0 once the window has passed.
	api.stop()
	eventually(t, 20*time.Second, "the rate to reach 0 after the load stopped", func() bool {
		r, err := read(t, sc)
		return err == nil && r.Value == 0 && !r.Active
	})
}

// Steady light traffic above activationRequestRate keeps the trigger active
// at every read, so the scale loop's cooldown never starts: a route with
// light traffic does not go to zero.
func TestSteadyLightTrafficKeepsTheTriggerActive(t *testing.T) {
	a := startApp(t)
	sc := newScaler(t, NewType(), rateMeta(a, "activationRequestRate", "0.5", "window", "5s"))
	l := startLoad(t, a.srv.URL+"/api", 2)
	eventually(t, 10*time.Second, "the first requests", func() bool { return l.ok.Load() >= 2 })
	for i := 0; i < 8; i++ {
		r, err := read(t, sc)
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if !r.Active || r.Value <= 0.5 {
			t.Fatalf("read %d: %+v under 2 req/s of traffic; want active with a rate above 0.5", i, r)
		}
		time.Sleep(time.Second)
	}
	l.stop()
	eventually(t, 20*time.Second, "the trigger to go inactive after the traffic stopped", func() bool {
		r, err := read(t, sc)
		return err == nil && !r.Active
	})
}

// counterPage serves one counter whose value the test sets; reset swaps in a
// new registry whose counter starts again at 0, as a restarted process does.
type counterPage struct {
	mu  sync.Mutex
	c   promclient.Counter
	h   nethttp.Handler
	srv *httptest.Server
}

func startCounterPage(t *testing.T) *counterPage {
	p := &counterPage{}
	p.reset()
	p.srv = httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		p.mu.Lock()
		h := p.h
		p.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *counterPage) reset() {
	reg := promclient.NewRegistry()
	c := promclient.NewCounter(promclient.CounterOpts{Name: "requests_total", Help: "Requests.", ConstLabels: promclient.Labels{"route": "/api"}})
	reg.MustRegister(c)
	p.mu.Lock()
	p.c, p.h = c, promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	p.mu.Unlock()
}

func (p *counterPage) add(v float64) {
	p.mu.Lock()
	p.c.Add(v)
	p.mu.Unlock()
}

// With a clock that moves 1 s per scrape, the rate is exact: a counter reset
// counts the new value, never a negative rate.
func TestCounterResetCountsTheNewValue(t *testing.T) {
	p := startCounterPage(t)
	typ := NewType()
	clock := &stepClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), step: time.Second}
	typ.now, typ.bootstrap = clock.now, time.Millisecond
	sc := newScaler(t, typ, map[string]string{
		"counterURL": p.srv.URL + "/metrics", "counterName": "requests_total", "labels": "route=/api",
		"targetRequestRate": "5", "window": "2s",
	})
	p.add(1000)
	// First read: baseline 1000, then 1000 again a second later.
	if r, err := read(t, sc); err != nil || r.Value != 0 || r.Active {
		t.Fatalf("first read = %+v, %v; want 0 and inactive", r, err)
	}
	p.add(20)
	if r, err := read(t, sc); err != nil || r.Value != 10 {
		t.Fatalf("read after +20 = %+v, %v; want 10/s (20 over the 2 s window)", r, err)
	}
	p.reset() // the process restarted: the counter is back to 0...
	p.add(6)  // ...and counted 6 requests since
	r, err := read(t, sc)
	if err != nil {
		t.Fatal(err)
	}
	if r.Value != 13 { // (20 before the reset + 6 after it) over the last 2 s
		t.Fatalf("read after a reset = %+v; want 13/s", r)
	}
	r, err = read(t, sc) // no new requests: only the 6 remain in the window
	if err != nil || r.Value != 3 {
		t.Fatalf("next read = %+v, %v; want 3/s", r, err)
	}
}

// Requests in flight: the gauge's current sum, and activation on it.
func TestConcurrencyReadsTheRequestsInFlight(t *testing.T) {
	a := startApp(t)
	hold := make(chan struct{})
	a.hold.Store(&hold)
	sc := newScaler(t, NewType(), map[string]string{
		"counterURL": a.metricsURL(), "counterName": "http_requests_in_flight", "labels": "route=/slow",
		"targetConcurrency": "2", "activationConcurrency": "2",
	})
	var wg sync.WaitGroup
	var done atomic.Int64
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := nethttp.Get(a.srv.URL + "/slow")
			if err == nil {
				resp.Body.Close()
				done.Add(1)
			}
		}()
	}
	eventually(t, 10*time.Second, "5 requests in flight", func() bool {
		r, err := read(t, sc)
		return err == nil && r.Value == 5 && r.Active
	})
	close(hold)
	wg.Wait()
	if done.Load() != 5 {
		t.Fatalf("%d of 5 requests answered", done.Load())
	}
	r, err := read(t, sc)
	if err != nil || r.Value != 0 || r.Active {
		t.Fatalf("after the requests finished: %+v, %v; want 0 and inactive", r, err)
	}
}

// The endpoint goes away: reads are errors (never a zero), then recover
// with the true rate once it is back.
func TestEndpointGoingAwayIsAnErrorThenRecovers(t *testing.T) {
	a := startApp(t)
	proxy := faultproxy.New(t, a.metrics.Listener.Addr().String(), nil)
	typ := NewType()
	sc := newScaler(t, typ, rateMeta(a, "counterURL", "http://"+proxy.Addr()+"/metrics", "timeout", "2s"))
	l := startLoad(t, a.srv.URL+"/api", 20)
	eventually(t, 10*time.Second, "the load to start", func() bool { return l.ok.Load() > 5 })
	if _, err := read(t, sc); err != nil {
		t.Fatal(err)
	}

	proxy.Stop()
	for i := 0; i < 3; i++ {
		r, err := read(t, sc)
		if err == nil {
			t.Fatalf("read %d with the endpoint gone = %+v, want an error", i, r)
		}
		if r.Value != 0 || r.Active {
			t.Errorf("a failed read returned %+v", r)
		}
		if !strings.Contains(err.Error(), "http-0") || !strings.Contains(err.Error(), proxy.Addr()) {
			t.Errorf("error %q does not name the trigger and the endpoint", err)
		}
	}
	proxy.Hang(true)
	proxy.Start(t)
	if _, err := read(t, sc); err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read of a hanging endpoint = %v, want a deadline error", err)
	}
	proxy.Stop()
	proxy.Hang(false)
	proxy.Start(t)
	eventually(t, 15*time.Second, "reads to recover with the true rate", func() bool {
		r, err := read(t, sc)
		want := l.achieved()
		return err == nil && math.Abs(r.Value-want) < 0.3*want
	})
}

// No matching series is an error that says why, unless ignoreNullValues.
func TestNoMatchingSeriesIsAnError(t *testing.T) {
	a := startApp(t)
	typ := NewType()
	for _, tc := range []struct {
		name string
		meta map[string]string
		want string
	}{
		{"a metric name the page does not have", rateMeta(a, "counterName", "no_such_total"), "has no metric of that name"},
		{"labels no series has", rateMeta(a, "labels", "route=/nowhere"), "has no series matching the labels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The page has http_requests_total once a request was served.
			resp, err := nethttp.Get(a.srv.URL + "/api")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			sc := newScaler(t, typ, tc.meta)
			if _, err := read(t, sc); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "ignoreNullValues") {
				t.Fatalf("read = %v, want an error saying %q and naming ignoreNullValues", err, tc.want)
			}
			tc.meta["ignoreNullValues"] = "true"
			sc = newScaler(t, typ, tc.meta)
			if r, err := read(t, sc); err != nil || r.Value != 0 {
				t.Fatalf("with ignoreNullValues: %+v, %v; want 0", r, err)
			}
		})
	}
}

// A page that is not in the text format, and a non-200 answer, are errors.
func TestBadPagesAreErrors(t *testing.T) {
	srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		switch r.URL.Path {
		case "/json":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"requests": 3}`))
		case "/garbage":
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte("requests_total{ 3\n"))
		default:
			nethttp.Error(w, "no", nethttp.StatusForbidden)
		}
	}))
	defer srv.Close()
	typ := NewType()
	for path, want := range map[string]string{"/json": "Content-Type", "/garbage": "text format", "/forbidden": "403"} {
		sc := newScaler(t, typ, map[string]string{"counterURL": srv.URL + path, "counterName": "requests_total", "targetRequestRate": "1"})
		if _, err := read(t, sc); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: read = %v, want an error mentioning %q", path, err, want)
		}
	}
}

// A bearer token from the TriggerAuthentication is sent, and never shown.
func TestBearerTokenIsSentAndNeverShown(t *testing.T) {
	const token = "tok-8c1d-secret"
	a := startApp(t)
	var sawBad atomic.Bool
	gate := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			sawBad.Store(true)
			nethttp.Error(w, "denied "+r.Header.Get("Authorization"), nethttp.StatusUnauthorized)
			return
		}
		resp, err := nethttp.Get(a.metricsURL())
		if err != nil {
			nethttp.Error(w, err.Error(), nethttp.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		buf := make([]byte, 1<<20)
		n, _ := resp.Body.Read(buf)
		_, _ = w.Write(buf[:n])
	}))
	defer gate.Close()
	resp, err := nethttp.Get(a.srv.URL + "/api")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	typ := NewType()
	tr := trigger(map[string]string{"counterURL": gate.URL + "/metrics", "counterName": "http_requests_total", "targetRequestRate": "1"})
	tr.AuthParams = map[string]string{"bearerToken": token}
	sc, err := typ.New(tr)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if _, err := read(t, sc); err != nil {
		t.Fatalf("read with the token: %v", err)
	}
	tr.AuthParams = map[string]string{"bearerToken": token + "-wrong"}
	sc2, err := typ.New(tr)
	if err != nil {
		t.Fatal(err)
	}
	defer sc2.Close()
	_, err = read(t, sc2)
	if err == nil || strings.Contains(err.Error(), token) {
		t.Fatalf("read with a wrong token = %v; want an error without the token", err)
	}
}
