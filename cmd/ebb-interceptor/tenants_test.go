// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/controller"
	"github.com/ebbscale/ebb/scalers"
	ebbhttp "github.com/ebbscale/ebb/scalers/http"
	"github.com/ebbscale/ebb/scalers/http/clusterroutes"
	"github.com/ebbscale/ebb/scalers/http/hostclaims"
	"github.com/ebbscale/ebb/tests/chartrbac"
	"github.com/ebbscale/ebb/tests/controlplane"
)

// Two tenants, alpha and beta, against a real API server, with the
// interceptor and the operator under the chart's RBAC:
//   - beta cannot claim a path prefix on alpha's host (its route is left out
//     with a RouteConflict Event, and admission refuses it naming the host
//     key), nor point a backend at alpha's Service (refused naming the
//     backend key);
//   - alpha keeps its host across its own delete-and-recreate and across a
//     restart of the interceptor while beta waits;
//   - only after the grace period does beta get the host;
//   - a host glob is served only in the namespace granted it;
//   - request paths are normalised before matching.
func TestTenantsCannotTakeEachOthersHosts(t *testing.T) {
	cp := controlplane.Start(t)
	ctx := t.Context()
	c := cp.Client
	for _, ns := range []string{"alpha", "beta"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	alpha, beta := nameServer(t, "alpha"), nameServer(t, "beta")
	// The Services, pinned to the tenants' backends (no cluster DNS here),
	// with a ready endpoint each.
	pins := map[string]string{"web.alpha": alpha, "any.alpha": alpha, "admin.beta": beta, "any.beta": beta}
	for svc := range pins {
		name, ns, _ := strings.Cut(svc, ".")
		readySlice(t, c, ns, name)
	}

	// The operator keeps the host claims (grace 1 h) in namespace default.
	values := map[string]any{"interceptor": map[string]any{"enabled": true}}
	op := startOperatorWith(t, cp, values, controller.Options{HostClaims: &controller.HostClaimsOptions{Grace: time.Hour}})
	opClient, err := client.New(op.Config, client.Options{Scheme: cp.Scheme})
	if err != nil {
		t.Fatal(err)
	}

	// The interceptor, as the chart runs it: host claims from default,
	// *.apps.example granted to alpha.
	icID := chartrbac.Interceptor(t, cp, chartrbac.Options{Namespace: "default", Values: values})
	tokenFile := filepath.Join(t.TempDir(), "token")
	writeFile(t, tokenFile, "tenants-token")
	args := []string{"--kubeconfig", icID.Kubeconfig, "--token-file", tokenFile, "--host-claims-namespace", "default",
		"--host-grant", "alpha=*.apps.example", "--proxy-address", "127.0.0.1:0", "--admin-address", "127.0.0.1:0"}
	for svc, addr := range pins {
		args = append(args, "--resolve", svc+".svc.cluster.local:80="+addr)
	}
	ic := startInterceptor(t, args)

	so := func(ns, name, host string, md ...string) *v1alpha1.ScaledObject {
		m := map[string]string{"interceptorURL": "http://ebb-interceptor-admin.default.svc:9090", "targetRequestRate": "10",
			"host": host, "service": name, "port": "80"}
		for i := 0; i+1 < len(md); i += 2 {
			m[md[i]] = md[i+1]
		}
		return &v1alpha1.ScaledObject{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: v1alpha1.ScaledObjectSpec{ScaleTargetRef: v1alpha1.ScaleTarget{Name: name},
				Triggers: []v1alpha1.Trigger{{Type: "http", Name: "web", Metadata: m}}},
		}
	}
	create := func(o *v1alpha1.ScaledObject) {
		t.Helper()
		o = o.DeepCopy()
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	remove := func(o *v1alpha1.ScaledObject) {
		t.Helper()
		if err := c.Delete(ctx, o.DeepCopy()); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the ScaledObject gone", func() bool {
			return c.Get(ctx, client.ObjectKeyFromObject(o), &v1alpha1.ScaledObject{}) != nil
		})
	}
	owner := func() (string, bool) {
		var cm corev1.ConfigMap
		if err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: hostclaims.Name}, &cm); err != nil {
			return "", false
		}
		claims, err := hostclaims.Decode(&cm)
		if err != nil {
			return "", false
		}
		return claims.Owner("shop.example", time.Now()), claims["shop.example"].Release != nil
	}

	alphaWeb := so("alpha", "web", "shop.example")
	betaAdmin := so("beta", "admin", "shop.example", "pathPrefix", "/admin")

	// alpha publishes shop.example and owns it.
	create(alphaWeb)
	eventually(t, "alpha's route served", func() bool { return ic.get("shop.example", "/x") == "200 alpha /x" })
	eventually(t, "alpha's claim on shop.example", func() bool { o, r := owner(); return o == "alpha" && !r })
	if got := ic.get("shop.example", "/x/../y/%2e%2e/z"); got != "200 alpha /z" {
		t.Errorf("a path with dot segments: %s, want it normalised to /z", got)
	}
	if got := ic.get("shop.example", "/x%2F..%2Fadmin"); !strings.HasPrefix(got, "400 ") {
		t.Errorf("a path with encoded slashes: %s, want 400", got)
	}

	// Admission refuses beta's route for alpha's host, naming the key, and a
	// backend in alpha's namespace, naming that key.
	reg, err := scalers.NewRegistry(ebbhttp.NewType())
	if err != nil {
		t.Fatal(err)
	}
	v := &controller.Validator{Registry: reg, Claims: opClient, ClaimsNamespace: "default"}
	if _, err := v.ValidateCreate(ctx, betaAdmin); err == nil || !strings.Contains(err.Error(), "spec.triggers[0].metadata[host]") || !strings.Contains(err.Error(), "belongs to another namespace") || strings.Contains(err.Error(), "alpha") {
		t.Errorf("admission of beta's route on alpha's host: %v", err)
	}
	if _, err := v.ValidateCreate(ctx, so("beta", "admin", "beta.example", "backend", "web.alpha.svc:80")); err == nil || !strings.Contains(err.Error(), "backend") {
		t.Errorf("admission of beta's backend in alpha's namespace: %v", err)
	}
	if _, err := v.ValidateCreate(ctx, so("beta", "admin", "*")); err == nil || !strings.Contains(err.Error(), "[host]") {
		t.Errorf("admission of host \"*\": %v", err)
	}

	// Without the webhook, beta's route gets in: it is left out, with an
	// Event on beta's ScaledObject that does not name alpha.
	create(betaAdmin)
	eventually(t, "a RouteConflict Event on beta's ScaledObject", func() bool {
		return hasEvent(ctx, c, "beta", "admin", clusterroutes.ReasonRouteConflict, "belongs to another namespace")
	})
	if got := ic.get("shop.example", "/admin/users"); got != "200 alpha /admin/users" {
		t.Errorf("beta took /admin on alpha's host: %s", got)
	}

	// alpha deletes and recreates its ScaledObject: beta never gets the host.
	remove(alphaWeb)
	eventually(t, "alpha's claim released later, not now", func() bool { o, r := owner(); return o == "alpha" && r })
	eventually(t, "alpha's route gone", func() bool { return strings.HasPrefix(ic.get("shop.example", "/x"), "404 ") })
	if got := ic.get("shop.example", "/admin"); !strings.HasPrefix(got, "404 ") {
		t.Errorf("beta got alpha's host while alpha's claim holds: %s", got)
	}

	// The interceptor restarts (a Helm upgrade) while beta waits: its first
	// routes already leave beta out.
	ic.stop()
	ic = startInterceptor(t, args)
	if got := ic.get("shop.example", "/admin"); !strings.HasPrefix(got, "404 ") {
		t.Errorf("after a restart beta got alpha's host: %s", got)
	}

	create(alphaWeb)
	eventually(t, "alpha's route served again", func() bool { return ic.get("shop.example", "/admin") == "200 alpha /admin" })
	eventually(t, "alpha's claim held again", func() bool { o, r := owner(); return o == "alpha" && !r })

	// alpha goes for good: once the grace period has passed (the claims
	// written as they would be two hours later), beta gets the host.
	remove(alphaWeb)
	eventually(t, "alpha's claim released later", func() bool { _, r := owner(); return r })
	later := &controller.HostClaims{Objects: opClient, Reader: opClient, Writer: opClient, Namespace: "default", Grace: time.Hour,
		Now: func() time.Time { return time.Now().Add(2 * time.Hour) }}
	if _, err := later.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "beta's route served after the grace period", func() bool { return ic.get("shop.example", "/admin") == "200 beta /admin" })

	// A granted glob is served in alpha; beta's is refused.
	create(so("alpha", "any", "*.apps.example"))
	create(so("beta", "any", "*.beta.example"))
	eventually(t, "alpha's granted glob served", func() bool { return ic.get("x.apps.example", "/") == "200 alpha /" })
	eventually(t, "a RouteNotGranted Event on beta's glob", func() bool {
		return hasEvent(ctx, c, "beta", "any", clusterroutes.ReasonRouteNotGranted, "not granted")
	})
	if got := ic.get("x.beta.example", "/"); !strings.HasPrefix(got, "404 ") {
		t.Errorf("beta's ungranted glob: %s", got)
	}
	// Admission refuses, naming the key, a glob not granted to the
	// namespace and a host under another namespace's granted glob.
	v.Grants = hostclaims.Grants{{Namespace: "alpha", Hosts: []string{"*.apps.example"}}}
	for _, o := range []*v1alpha1.ScaledObject{so("beta", "glob", "*.beta.example"), so("beta", "under", "x.apps.example")} {
		if _, err := v.ValidateCreate(ctx, o); err == nil || !strings.Contains(err.Error(), "spec.triggers[0].metadata[host]") || !strings.Contains(err.Error(), "not granted") {
			t.Errorf("admission of beta's %s: %v, want it refused as not granted", o.Name, err)
		}
	}
	if _, err := v.ValidateCreate(ctx, so("alpha", "glob", "*.apps.example")); err != nil {
		t.Errorf("admission of alpha's granted glob: %v", err)
	}
}

// runningInterceptor is ebb-interceptor run as the command runs, in this
// process.
type runningInterceptor struct {
	t     *testing.T
	proxy string // host:port
	stop  func()
}

func startInterceptor(t *testing.T, args []string) *runningInterceptor {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	addrs := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, args, io.Discard, func(p, _ net.Addr) { addrs <- p })
	}()
	stopped := false
	ri := &runningInterceptor{t: t}
	ri.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("interceptor: %v", err)
		}
	}
	t.Cleanup(ri.stop)
	select {
	case a := <-addrs:
		ri.proxy = a.String()
	case err := <-done:
		t.Fatalf("the interceptor stopped: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("the interceptor did not start")
	}
	return ri
}

// get sends GET target (written as given) for host and returns "status
// body".
func (ri *runningInterceptor) get(host, target string) string {
	conn, err := net.DialTimeout("tcp", ri.proxy, 5*time.Second)
	if err != nil {
		return err.Error()
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target, host)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprint(resp.StatusCode, " ", strings.TrimSpace(string(b)))
}

// nameServer is a loopback backend answering "<name> <path>"; it returns
// its address.
func nameServer(t *testing.T, name string) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, name+" "+r.URL.Path)
	}))
	t.Cleanup(s.Close)
	return s.Listener.Addr().String()
}

// readySlice gives a Service one ready endpoint (a documentation address:
// the API server refuses loopback ones; the interceptor dials the route's
// backend, not endpoints).
func readySlice(t *testing.T, c client.Client, ns, svc string) {
	t.Helper()
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: svc + "-x1", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"192.0.2.10"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Port: ptr.To[int32](80)}},
	}
	if err := c.Create(t.Context(), es); err != nil {
		t.Fatal(err)
	}
}

func hasEvent(ctx context.Context, c client.Client, ns, name, reason, msg string) bool {
	var evs corev1.EventList
	if err := c.List(ctx, &evs, client.InNamespace(ns)); err != nil {
		return false
	}
	for _, e := range evs.Items {
		if e.InvolvedObject.Name == name && e.Reason == reason && e.Type == corev1.EventTypeWarning && strings.Contains(e.Message, msg) {
			return true
		}
	}
	return false
}
