// SPDX-License-Identifier: Apache-2.0

package http

import (
	"context"
	nethttp "net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/http/interceptor"
)

// routeTrigger is an interceptor-mode trigger that publishes a route.
func routeTrigger(kv ...string) scalers.Trigger {
	m := map[string]string{"interceptorURL": "http://ebb-interceptor-admin.ebb:9090", "host": "shop.example.com",
		"service": "web", "port": "8080", "targetRequestRate": "10"}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "<unset>" {
			delete(m, kv[i])
			continue
		}
		m[kv[i]] = kv[i+1]
	}
	tr := trigger(m)
	tr.Namespace, tr.ScaledObject, tr.Name = "shop", "web", "http-0"
	return tr
}

func TestRouteOfATriggerWithAHost(t *testing.T) {
	for _, tc := range []struct {
		name string
		tr   scalers.Trigger
		want interceptor.Route
	}{
		{"defaults", routeTrigger(), interceptor.Route{Name: "shop/web/http-0", Host: "shop.example.com", PathPrefix: "/",
			Backend: "http://web.shop.svc:8080", BackendProtocol: "http1", Namespace: "shop", Service: "web"}},
		{"every key", routeTrigger("host", "API.Shop.example.com", "pathPrefix", "/v2", "backendProtocol", "h2c", "backend", "http://api.shop.svc:9000"),
			interceptor.Route{Name: "shop/web/http-0", Host: "api.shop.example.com", PathPrefix: "/v2",
				Backend: "http://api.shop.svc:9000", BackendProtocol: "h2c", Namespace: "shop", Service: "web"}},
		{"a host glob", routeTrigger("host", "*.Shop.example.com"), interceptor.Route{Name: "shop/web/http-0", Host: "*.shop.example.com", PathPrefix: "/",
			Backend: "http://web.shop.svc:8080", BackendProtocol: "http1", Namespace: "shop", Service: "web"}},
		{"a backend Service without its namespace", routeTrigger("backend", "api"), interceptor.Route{Name: "shop/web/http-0", Host: "shop.example.com", PathPrefix: "/",
			Backend: "http://api.shop.svc:8080", BackendProtocol: "http1", Namespace: "shop", Service: "web"}},
		{"a backend Service in full", routeTrigger("backend", "API.shop.svc.cluster.local:81"), interceptor.Route{Name: "shop/web/http-0", Host: "shop.example.com", PathPrefix: "/",
			Backend: "http://api.shop.svc:81", BackendProtocol: "http1", Namespace: "shop", Service: "web"}},
	} {
		r, ok, err := RouteOf(tc.tr)
		if err != nil || !ok || r != tc.want {
			t.Errorf("%s: %+v, %v, %v; want %+v", tc.name, r, ok, err, tc.want)
		}
	}
	for name, tr := range map[string]scalers.Trigger{
		"a route from a file":  interceptorTrigger("http://i:9090"),
		"counter mode":         trigger(map[string]string{"counterURL": "http://a/metrics", "counterName": "x", "targetRequestRate": "1"}),
		"another trigger type": {Type: "rabbitmq", Metadata: map[string]string{"host": "amqp://x"}},
	} {
		if _, ok, err := RouteOf(tr); ok || err != nil {
			t.Errorf("%s publishes a route: %v, %v", name, ok, err)
		}
	}
}

// Admission refuses bad route keys with the key's name and what was
// expected.
func TestRouteKeysAreValidated(t *testing.T) {
	typ := NewType()
	for _, tc := range []struct {
		name string
		tr   scalers.Trigger
		key  string
		want string
	}{
		{"host and route", routeTrigger("route", "shop/web"), "route", "expected one of them"},
		{"no service", routeTrigger("service", "<unset>"), "service", "is required with host"},
		{"no port", routeTrigger("port", "<unset>"), "port", "is required with host"},
		{"a port out of range", routeTrigger("port", "70000"), "port", "from 1 to 65535"},
		{"a bad host", routeTrigger("host", "shop example"), "host", "host name"},
		{"a prefix without /", routeTrigger("pathPrefix", "api"), "pathPrefix", "starting with /"},
		{"an https backend", routeTrigger("backend", "https://web:8443"), "backend", "not https://"},
		{"the cloud metadata address", routeTrigger("backend", "http://169.254.169.254"), "backend", "not an IP address"},
		{"the metadata host", routeTrigger("backend", "http://metadata.google.internal/computeMetadata/v1"), "backend", "without credentials, path"},
		{"the metadata host without a path", routeTrigger("backend", "metadata.google.internal"), "backend", "another namespace or outside the cluster"},
		{"a kubelet port on a node IP", routeTrigger("backend", "10.0.0.7:10250"), "backend", "not an IP address"},
		{"an IPv6 address", routeTrigger("backend", "http://[fd00:ec2::254]:80"), "backend", "not an IP address"},
		{"another namespace's Service", routeTrigger("backend", "http://web.bank.svc:8080"), "backend", "another namespace"},
		{"another namespace's Service in full", routeTrigger("backend", "web.bank.svc.cluster.local"), "backend", "another namespace"},
		{"the API server", routeTrigger("backend", "kubernetes.default.svc:443"), "backend", "another namespace"},
		{"credentials", routeTrigger("backend", "http://u:p@web:80"), "backend", "without credentials"},
		{"a bad port", routeTrigger("backend", "web:0"), "backend", "port from 1"},
		{"any host", routeTrigger("host", "*"), "host", "belongs to one namespace"},
		{"a glob inside a host", routeTrigger("host", "shop.*.example.com"), "host", "host name"},
		{"a prefix with a dot segment", routeTrigger("pathPrefix", "/api/../admin"), "pathPrefix", "segments"},
		{"an unknown protocol", routeTrigger("backendProtocol", "h3"), "backendProtocol", "h2c"},
		{"a service key with a file route", interceptorTrigger("http://i:9090", "service", "web"), "service", "goes with host"},
		{"a host in counter mode", trigger(map[string]string{"counterURL": "http://a/metrics", "counterName": "x", "targetRequestRate": "1", "host": "a.example"}), "host", "goes with interceptorURL"},
	} {
		tc.tr.AuthPending = true
		err := typ.Validate(tc.tr)
		if err == nil || !strings.Contains(err.Error(), tc.key) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want an error on %s saying %q", tc.name, err, tc.key, tc.want)
		}
	}
	tr := routeTrigger()
	tr.AuthPending = true
	if err := typ.Validate(tr); err != nil {
		t.Errorf("a good route trigger: %v", err)
	}
}

// The triggers on one interceptor share one long poll; the first held
// request on a route wakes the triggers of that route, not the others; the
// watcher stops with its last subscriber.
func TestNotifyWakesTheRoutesTriggersFromOneLongPoll(t *testing.T) {
	f := startInterceptor(t, interceptor.Config{HoldTimeout: time.Minute, Routes: []interceptor.Route{
		{Name: "shop/web", Host: "web.example", Backend: "http://127.0.0.1:1", Namespace: "shop", Service: "web"},
		{Name: "shop/api", Host: "api.example", Backend: "http://127.0.0.1:1", Namespace: "shop", Service: "api"},
	}})
	typ := NewType()
	var webWakes, webWakes2, apiWakes atomic.Int32
	var stops []func()
	for _, s := range []struct {
		route string
		n     *atomic.Int32
	}{{"shop/web", &webWakes}, {"shop/web", &webWakes2}, {"shop/api", &apiWakes}} {
		sc, err := typ.New(interceptorTrigger(f.admin, "route", s.route))
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Close()
		n, ok := sc.(scalers.Notifier)
		if !ok {
			t.Fatal("an interceptor-mode scaler is not a scalers.Notifier")
		}
		stops = append(stops, n.Notify(func() { s.n.Add(1) }))
	}
	if n := typ.activationWatchers(); n != 1 {
		t.Fatalf("%d watchers for 3 triggers on one interceptor, want 1", n)
	}
	// Wait until the watcher's first long poll (the snapshot) is answered
	// and the second one is waiting.
	eventually(t, 10*time.Second, "the watcher's first answer", func() bool {
		typ.watchMu.Lock()
		w := typ.watchers[watchKey{base: f.admin, clientKey: clientKey{origin: f.admin, bearerToken: icToken}}]
		typ.watchMu.Unlock()
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.polls >= 1
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		req, _ := nethttp.NewRequestWithContext(ctx, nethttp.MethodGet, f.proxy+"/", nil)
		req.Host = "web.example"
		if resp, err := nethttp.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	eventually(t, 10*time.Second, "both web triggers woken", func() bool { return webWakes.Load() == 1 && webWakes2.Load() == 1 })
	if apiWakes.Load() != 0 {
		t.Errorf("the api trigger was woken %d times by a request for web", apiWakes.Load())
	}
	for _, stop := range stops {
		stop()
		stop() // harmless twice
	}
	if n := typ.activationWatchers(); n != 0 {
		t.Errorf("%d watchers after every trigger stopped, want 0", n)
	}
}
