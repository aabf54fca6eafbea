// SPDX-License-Identifier: Apache-2.0

package http

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/http/interceptor"
)

const icToken = "ic-admin-token-3b9f"

// frontOf is a real interceptor on loopback: its proxy and its admin
// endpoint.
type frontOf struct {
	ic    *interceptor.Interceptor
	proxy string
	admin string
}

func startInterceptor(t *testing.T, cfg interceptor.Config) *frontOf {
	t.Helper()
	ic, err := interceptor.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := interceptor.NewServer("", ic)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); ic.CloseIdleConnections() })
	admin := httptest.NewServer(ic.AdminHandler(icToken))
	t.Cleanup(admin.Close)
	return &frontOf{ic: ic, proxy: "http://" + ln.Addr().String(), admin: admin.URL}
}

func interceptorTrigger(admin string, kv ...string) scalers.Trigger {
	m := map[string]string{"interceptorURL": admin, "route": "shop/web", "targetRequestRate": "10", "window": "3s"}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "<unset>" {
			delete(m, kv[i])
			continue
		}
		m[kv[i]] = kv[i+1]
	}
	tr := trigger(m)
	tr.AuthParams = map[string]string{"bearerToken": icToken}
	return tr
}

// The rate read from the interceptor matches a load sent through it.
func TestInterceptorModeRateMatchesTheLoad(t *testing.T) {
	backend := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, _ *nethttp.Request) { _, _ = io.WriteString(w, "ok") }))
	defer backend.Close()
	f := startInterceptor(t, interceptor.Config{Window: 3 * time.Second, Bucket: 100 * time.Millisecond, Routes: []interceptor.Route{
		{Name: "shop/web", Host: "*", Backend: backend.URL},
	}})
	typ := NewType()
	sc, err := typ.New(interceptorTrigger(f.admin))
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()

	l := startLoad(t, f.proxy+"/", 40)
	time.Sleep(4 * time.Second) // the load runs for longer than the 3 s window
	r, err := read(t, sc)
	achieved := l.achieved()
	l.stop()
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(r.Value-achieved) > 0.2*achieved || !r.Active {
		t.Fatalf("read %+v, the load achieved %.1f req/s", r, achieved)
	}
	if sc.Metric().Target != 10 {
		t.Errorf("target %v, want 10", sc.Metric().Target)
	}
}

// With targetConcurrency the value is the requests in flight plus the
// held ones, and a held request makes the trigger active whatever the
// activation threshold.
func TestInterceptorModeConcurrencyCountsHeldRequestsAndActivates(t *testing.T) {
	backend := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, _ *nethttp.Request) { _, _ = io.WriteString(w, "ok") }))
	defer backend.Close()
	f := startInterceptor(t, interceptor.Config{HoldTimeout: time.Minute, Routes: []interceptor.Route{
		{Name: "shop/web", Host: "*", Backend: backend.URL, Namespace: "shop", Service: "web"},
	}})
	typ := NewType()
	sc, err := typ.New(interceptorTrigger(f.admin, "targetRequestRate", "<unset>", "targetConcurrency", "5", "activationConcurrency", "100"))
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if r, err := read(t, sc); err != nil || r.Value != 0 || r.Active {
		t.Fatalf("idle route: %+v, %v; want 0, inactive", r, err)
	}

	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp, err := nethttp.Get(f.proxy + "/"); err == nil {
				resp.Body.Close()
			}
		}()
	}
	eventually(t, 10*time.Second, "3 held requests", func() bool { return f.ic.Stats(0, "shop/web")[0].Held == 3 })
	r, err := read(t, sc)
	if err != nil || r.Value != 3 || !r.Active {
		t.Fatalf("3 held: %+v, %v; want 3 and active although under activationConcurrency", r, err)
	}
	f.ic.SetReadyEndpoints("shop", "web", 1)
	wg.Wait()
}

func TestInterceptorModeErrorsExplainAndHideTheToken(t *testing.T) {
	f := startInterceptor(t, interceptor.Config{Routes: []interceptor.Route{{Name: "shop/web", Host: "*", Backend: "http://127.0.0.1:1"}}})
	typ := NewType()
	for _, tc := range []struct {
		name string
		tr   scalers.Trigger
		want string
	}{
		{"a route the interceptor does not have", interceptorTrigger(f.admin, "route", "shop/none"), `has no route "shop/none"`},
		{"a wrong token", func() scalers.Trigger {
			tr := interceptorTrigger(f.admin)
			tr.AuthParams = map[string]string{"bearerToken": icToken + "-wrong"}
			return tr
		}(), "refused the bearerToken"},
		{"an interceptor that is not there", interceptorTrigger("http://" + deadAddress(t)), "connect"},
	} {
		sc, err := typ.New(tc.tr)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		_, err = read(t, sc)
		_ = sc.Close()
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), icToken) {
			t.Errorf("%s: %v; want an error with %q and without the token", tc.name, err, tc.want)
		}
	}
}

func TestInterceptorModeMetadataIsChecked(t *testing.T) {
	typ := NewType()
	noToken := interceptorTrigger("http://ic:9090")
	noToken.AuthParams = nil
	for _, tc := range []struct {
		name string
		tr   scalers.Trigger
		key  string
	}{
		{"both counterURL and interceptorURL", interceptorTrigger("http://ic:9090", "counterURL", "http://app/metrics"), "interceptorURL"},
		{"interceptorURL without a route", interceptorTrigger("http://ic:9090", "route", "<unset>"), "route"},
		{"interceptorURL without a token", noToken, "bearerToken"},
		{"interceptorURL with a query", interceptorTrigger("http://ic:9090/?x=1"), "interceptorURL"},
		{"interceptorURL with another scheme", interceptorTrigger("ftp://ic:9090"), "interceptorURL"},
		{"counterName with interceptorURL", interceptorTrigger("http://ic:9090", "counterName", "http_requests_total"), "counterName"},
		{"labels with interceptorURL", interceptorTrigger("http://ic:9090", "labels", "route=/api"), "labels"},
	} {
		err := typ.Validate(tc.tr)
		var fe *scalers.FieldError
		if !errors.As(err, &fe) || fe.Key != tc.key {
			t.Errorf("%s: %v; want an error on %s", tc.name, err, tc.key)
		}
	}
	if err := typ.Validate(interceptorTrigger("http://ic:9090")); err != nil {
		t.Errorf("a valid interceptor trigger: %v", err)
	}
	// At admission the TriggerAuthentication may not be resolved yet.
	pending := noToken
	pending.AuthPending = true
	if err := typ.Validate(pending); err != nil {
		t.Errorf("a trigger whose TriggerAuthentication is pending: %v", err)
	}
}

// Probes (every second while the target is at zero) read every route in
// one GET that the probes arriving together share, and a held request
// shows in the probe of its route only.
func TestInterceptorModeProbesReadAllRoutesAtOnce(t *testing.T) {
	backend := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, _ *nethttp.Request) { _, _ = io.WriteString(w, "ok") }))
	defer backend.Close()
	const n = 20
	cfg := interceptor.Config{HoldTimeout: time.Minute}
	for i := 0; i < n; i++ {
		cfg.Routes = append(cfg.Routes, interceptor.Route{
			Name: fmt.Sprintf("shop/r%d", i), Host: fmt.Sprintf("r%d.example", i), Backend: backend.URL,
			Namespace: "shop", Service: fmt.Sprintf("r%d", i),
		})
	}
	ic, err := interceptor.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httptest.NewServer(ic)
	defer proxy.Close()
	var gets, filtered atomic.Int64
	adminHandler := ic.AdminHandler(icToken)
	admin := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		gets.Add(1)
		if r.URL.Query().Has("route") {
			filtered.Add(1)
		}
		adminHandler.ServeHTTP(w, r)
	}))
	defer admin.Close()

	typ := NewType()
	probers := make([]scalers.Prober, n)
	for i := range probers {
		sc, err := typ.New(interceptorTrigger(admin.URL, "route", fmt.Sprintf("shop/r%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Close()
		p, ok := sc.(scalers.Prober)
		if !ok {
			t.Fatal("an interceptor-mode scaler is not a scalers.Prober")
		}
		probers[i] = p
	}

	held := make(chan struct{})
	go func() {
		defer close(held)
		req, _ := nethttp.NewRequest(nethttp.MethodGet, proxy.URL+"/", nil)
		req.Host = "r3.example"
		if resp, err := nethttp.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	eventually(t, 10*time.Second, "a held request on r3", func() bool { return ic.Stats(0, "shop/r3")[0].Held == 1 })

	readings := make([]scalers.Reading, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, p := range probers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			readings[i], errs[i] = p.Probe(ctx)
		}()
	}
	wg.Wait()
	for i := range probers {
		if errs[i] != nil {
			t.Fatalf("probe of r%d: %v", i, errs[i])
		}
		if want := i == 3; readings[i].Active != want {
			t.Errorf("probe of r%d: %+v, want active %v", i, readings[i], want)
		}
	}
	t.Logf("%d probes took %d GETs of the admin endpoint", n, gets.Load())
	if filtered.Load() != 0 || gets.Load() > n {
		t.Errorf("%d GETs, %d of them for one route; want at most %d, none filtered", gets.Load(), filtered.Load(), n)
	}
	ic.SetReadyEndpoints("shop", "r3", 1)
	<-held
}
