// SPDX-License-Identifier: Apache-2.0

package clusterroutes_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/scalers/http/clusterroutes"
	"github.com/ebbscale/ebb/scalers/http/hostclaims"
	"github.com/ebbscale/ebb/scalers/http/interceptor"
	"github.com/ebbscale/ebb/scalers/http/interceptor/readiness"
	"github.com/ebbscale/ebb/tests/controlplane"
)

// scaledObject builds a ScaledObject with one http trigger publishing a
// route for host to its Service (named as the ScaledObject, port 80) or to
// backend when set, created at the given second.
func scaledObject(ns, name string, created int64, host, backend string) v1alpha1.ScaledObject {
	so := v1alpha1.ScaledObject{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: metav1.Unix(created, 0)},
		Spec: v1alpha1.ScaledObjectSpec{
			ScaleTargetRef: v1alpha1.ScaleTarget{Name: name},
			Triggers: []v1alpha1.Trigger{{Type: "http", Metadata: map[string]string{
				"interceptorURL": "http://ebb-interceptor-admin.ebb:9090", "targetRequestRate": "10",
				"host": host, "service": name, "port": "80",
			}}},
		},
	}
	if backend != "" {
		so.Spec.Triggers[0].Metadata["backend"] = backend
	}
	return so
}

func TestRoutesTheOlderScaledObjectWinsAHost(t *testing.T) {
	objs := []v1alpha1.ScaledObject{
		scaledObject("b", "young", 200, "shop.example", "http://young"),
		scaledObject("a", "old", 100, "shop.example", "http://old"),
		scaledObject("a", "other", 150, "other.example", "http://other"),
		scaledObject("a", "broken", 150, "broken.example", "ftp://x"),
	}
	gone := scaledObject("a", "gone", 50, "gone.example", "http://gone")
	gone.DeletionTimestamp = ptr.To(metav1.Unix(300, 0))
	objs = append(objs, gone)
	noHost := scaledObject("a", "file", 10, "", "")
	noHost.Spec.Triggers[0].Metadata = map[string]string{"interceptorURL": "http://i:9090", "route": "shop/web", "targetRequestRate": "1"}
	objs = append(objs, noHost)

	routes, problems := clusterroutes.Routes(objs, nil, clusterroutes.Ownership{})
	if got := routeList(routes); got != "a/old/http-0→http://old.a.svc:80 a/other/http-0→http://other.a.svc:80" {
		t.Errorf("routes: %s", got)
	}
	// A served route that moved away claims nothing at its old place.
	routes, _ = clusterroutes.Routes(objs, []interceptor.Route{{Name: "a/other/http-0", Host: "shop.example", PathPrefix: "/"}}, clusterroutes.Ownership{})
	if len(routes) != 2 || routes[0].Name != "a/old/http-0" {
		t.Errorf("a route that moved kept its old place: %+v", routes)
	}
	if len(problems) != 2 {
		t.Fatalf("problems: %+v, want the young conflict and the broken trigger", problems)
	}
	for _, p := range problems {
		switch p.Object.Name {
		case "young":
			if p.Reason != clusterroutes.ReasonRouteConflict || !strings.Contains(p.Msg, "belongs to another namespace") || !strings.Contains(p.Msg, "shop.example") {
				t.Errorf("conflict: %+v", p)
			}
		case "broken":
			if p.Reason != clusterroutes.ReasonRouteInvalid || !strings.Contains(p.Msg, "backend") {
				t.Errorf("invalid: %+v", p)
			}
		default:
			t.Errorf("unexpected problem %+v", p)
		}
	}
}

func routeList(routes []interceptor.Route) string {
	var names []string
	for _, r := range routes {
		names = append(names, r.Name+"→"+r.Backend)
	}
	return strings.Join(names, " ")
}

// A host belongs to one namespace: its claim's, else its oldest
// publisher's; within the namespace the route served keeps its place.
func TestAHostBelongsToOneNamespace(t *testing.T) {
	now := time.Unix(1000, 0)
	later := now.Add(time.Hour)
	claimed := func(ns string, release *time.Time) hostclaims.Claims {
		return hostclaims.Claims{"shop.example": {Namespace: ns, Since: time.Unix(1, 0), Release: release}}
	}
	withPrefix := func(so v1alpha1.ScaledObject, p string) v1alpha1.ScaledObject {
		so.Spec.Triggers[0].Metadata["pathPrefix"] = p
		return so
	}
	for _, tc := range []struct {
		name   string
		objs   []v1alpha1.ScaledObject
		served []interceptor.Route
		own    clusterroutes.Ownership
		want   string
	}{
		{"another namespace cannot claim a path prefix on a host",
			[]v1alpha1.ScaledObject{scaledObject("a", "web", 100, "shop.example", ""), withPrefix(scaledObject("b", "admin", 200, "shop.example", ""), "/admin")},
			nil, clusterroutes.Ownership{}, "a/web/http-0→http://web.a.svc:80"},
		{"the owner keeps its host across a delete-and-recreate (its route now younger)",
			[]v1alpha1.ScaledObject{scaledObject("b", "thief", 100, "shop.example", ""), scaledObject("a", "web", 500, "shop.example", "")},
			nil, clusterroutes.Ownership{Claims: claimed("a", nil), Now: now}, "a/web/http-0→http://web.a.svc:80"},
		{"during the grace period nobody else gets the host",
			[]v1alpha1.ScaledObject{scaledObject("b", "thief", 100, "shop.example", "")},
			nil, clusterroutes.Ownership{Claims: claimed("a", &later), Now: now}, ""},
		{"after the grace period the host is free",
			[]v1alpha1.ScaledObject{scaledObject("b", "thief", 100, "shop.example", "")},
			nil, clusterroutes.Ownership{Claims: claimed("a", &now), Now: now}, "b/thief/http-0→http://thief.b.svc:80"},
		{"within the owner the served route keeps its place",
			[]v1alpha1.ScaledObject{scaledObject("a", "young", 200, "shop.example", ""), scaledObject("a", "old", 100, "shop.example", "")},
			[]interceptor.Route{{Name: "a/young/http-0", Host: "shop.example", PathPrefix: "/"}}, clusterroutes.Ownership{}, "a/young/http-0→http://young.a.svc:80"},
		{"a glob needs a grant",
			[]v1alpha1.ScaledObject{scaledObject("a", "any", 100, "*.example.com", "")},
			nil, clusterroutes.Ownership{}, ""},
		{"a granted glob is served",
			[]v1alpha1.ScaledObject{scaledObject("a", "any", 100, "*.example.com", "")},
			nil, clusterroutes.Ownership{Grants: hostclaims.Grants{{Namespace: "a", Hosts: []string{"*.example.com"}}}}, "a/any/http-0→http://any.a.svc:80"},
		{"a host under another namespace's grant is refused",
			[]v1alpha1.ScaledObject{scaledObject("b", "shop", 100, "shop.example.com", "")},
			nil, clusterroutes.Ownership{Grants: hostclaims.Grants{{Namespace: "a", Hosts: []string{"*.example.com"}}}}, ""},
	} {
		routes, _ := clusterroutes.Routes(tc.objs, tc.served, tc.own)
		if got := routeList(routes); got != tc.want {
			t.Errorf("%s: routes %q, want %q", tc.name, got, tc.want)
		}
	}
}

// Against a real API server: a ScaledObject's route is served once it is
// created, keeps its counters across an unrelated update, moves with its
// host; a second ScaledObject for the same host loses (with an Event) and
// takes the host over when the first goes; a deleted ScaledObject's host
// answers 404.
func TestSyncerFollowsTheScaledObjects(t *testing.T) {
	cp := controlplane.Start(t)
	ctx := t.Context()
	c := cp.Client
	kc, err := kubernetes.NewForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
	web := backend(t, "web")
	other := backend(t, "other")

	// Each route's Service is pinned to a loopback backend (this control
	// plane has no cluster DNS).
	pins := map[string]string{}
	for svc, url := range map[string]string{"web": web, "api": other, "copy": other} {
		pins[svc+".shop.svc.cluster.local:80"] = strings.TrimPrefix(url, "http://")
	}
	ic, err := interceptor.New(interceptor.Config{HoldTimeout: 30 * time.Second, Dial: (&interceptor.Dialer{Guard: true, Pins: pins}).DialContext})
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(ic)
	t.Cleanup(front.Close)
	t.Cleanup(ic.CloseIdleConnections)
	rw := readiness.NewWatcher(kc, ic, nil)
	if err := rw.Run(ctx); err != nil {
		t.Fatal(err)
	}
	sy := &clusterroutes.Syncer{Config: cp.Config, Interceptor: ic, Readiness: rw, Log: logr.Discard()}
	if err := sy.Run(ctx); err != nil {
		t.Fatal(err)
	}
	admin := httptest.NewServer(ic.AdminHandler("token", sy))
	t.Cleanup(admin.Close)
	// leftOut is the interceptor's /metrics lines about routes left out.
	leftOut := func() string {
		resp, err := admin.Client().Get(admin.URL + "/metrics")
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var lines []string
		for l := range strings.Lines(string(b)) {
			if strings.HasPrefix(l, "ebb_interceptor_route_left_out{") {
				lines = append(lines, strings.TrimSpace(l))
			}
		}
		return strings.Join(lines, "\n")
	}
	get := func(host string) string {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, front.URL+"/p", nil)
		req.Host = host
		resp, err := front.Client().Do(req)
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return fmt.Sprint(resp.StatusCode, " ", string(b))
	}
	routeNames := func() string {
		var n []string
		for _, r := range ic.Routes() {
			n = append(n, r.Name+"@"+r.Host)
		}
		sort.Strings(n)
		return strings.Join(n, " ")
	}
	waitRoutes := func(want string) {
		t.Helper()
		eventually(t, "routes "+want, func() bool { return routeNames() == want })
	}

	// The Services have ready endpoints, as the readiness watch sees them.
	for _, svc := range []string{"web", "copy"} {
		readySlice(t, kc, "shop", svc)
	}
	so := scaledObject("shop", "web", 0, "web.example", "")
	so.CreationTimestamp = metav1.Time{}
	if err := c.Create(ctx, &so); err != nil {
		t.Fatal(err)
	}
	waitRoutes("shop/web/http-0@web.example")
	eventually(t, "the route ready", func() bool { return ic.Stats(0, "shop/web/http-0")[0].ReadyEndpoints == 1 })
	for i := 0; i < 3; i++ {
		if got := get("web.example"); got != "200 web /p" {
			t.Fatalf("GET web.example: %s", got)
		}
	}

	// An unrelated update (and another ScaledObject, to know the update
	// was seen: the cache delivers events in order).
	if err := update(ctx, c, "shop", "web", func(so *v1alpha1.ScaledObject) { so.Spec.MaxReplicaCount = ptr.To[int32](7) }); err != nil {
		t.Fatal(err)
	}
	api := scaledObject("shop", "api", 0, "api.example", "")
	api.CreationTimestamp = metav1.Time{}
	if err := c.Create(ctx, &api); err != nil {
		t.Fatal(err)
	}
	waitRoutes("shop/api/http-0@api.example shop/web/http-0@web.example")
	if s := ic.Stats(0, "shop/web/http-0")[0]; s.RequestsTotal != 3 {
		t.Errorf("after an unrelated update the route counts %d requests, want 3", s.RequestsTotal)
	}

	// The host moves.
	if err := update(ctx, c, "shop", "web", func(so *v1alpha1.ScaledObject) { so.Spec.Triggers[0].Metadata["host"] = "www.example" }); err != nil {
		t.Fatal(err)
	}
	waitRoutes("shop/api/http-0@api.example shop/web/http-0@www.example")
	if got := get("web.example"); !strings.HasPrefix(got, "404 ") {
		t.Errorf("the old host after the move: %s, want 404", got)
	}
	if got := get("www.example"); got != "200 web /p" {
		t.Errorf("the new host: %s", got)
	}
	if s := ic.Stats(0, "shop/web/http-0")[0]; s.RequestsTotal != 4 {
		t.Errorf("after the move the route counts %d requests, want 4", s.RequestsTotal)
	}

	// A younger ScaledObject claims the same host: it loses, with an Event.
	dup := scaledObject("shop", "copy", 0, "www.example", "")
	dup.CreationTimestamp = metav1.Time{}
	if err := c.Create(ctx, &dup); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a RouteConflict Event on the younger ScaledObject", func() bool {
		var evs corev1.EventList
		if err := c.List(ctx, &evs, client.InNamespace("shop")); err != nil {
			return false
		}
		for _, e := range evs.Items {
			if e.InvolvedObject.Name == "copy" && e.Reason == clusterroutes.ReasonRouteConflict && e.Type == corev1.EventTypeWarning &&
				strings.Contains(e.Message, "shop/web/http-0") {
				return true
			}
		}
		return false
	})
	if got := get("www.example"); got != "200 web /p" {
		t.Errorf("the older route still serves its host: %s", got)
	}
	if got, want := leftOut(), `ebb_interceptor_route_left_out{reason="RouteConflict",route="shop/copy/http-0"} 1`; got != want {
		t.Errorf("/metrics on routes left out:\n%s\nwant\n%s", got, want)
	}

	// The older goes: the younger takes the host.
	if err := c.Delete(ctx, &so); err != nil {
		t.Fatal(err)
	}
	waitRoutes("shop/api/http-0@api.example shop/copy/http-0@www.example")
	if got := get("www.example"); got != "200 other /p" {
		t.Errorf("after the delete the younger serves: %s", got)
	}
	if got := leftOut(); got != "" {
		t.Errorf("/metrics still reports routes left out once the conflict is gone:\n%s", got)
	}
	if err := c.Delete(ctx, &dup); err != nil {
		t.Fatal(err)
	}
	waitRoutes("shop/api/http-0@api.example")
	if got := get("www.example"); !strings.HasPrefix(got, "404 ") {
		t.Errorf("after both are deleted: %s, want 404", got)
	}
}

func update(ctx context.Context, c client.Client, ns, name string, f func(*v1alpha1.ScaledObject)) error {
	var so v1alpha1.ScaledObject
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &so); err != nil {
		return err
	}
	f(&so)
	return c.Update(ctx, &so)
}

// backend is a loopback HTTP server that says its name; it returns its URL.
func backend(t *testing.T, name string) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, name+" "+r.URL.Path)
	}))
	t.Cleanup(s.Close)
	return s.URL
}

// readySlice creates an EndpointSlice with one ready endpoint for a
// Service. The interceptor proxies to the route's backend, not to endpoint
// addresses; the API server refuses loopback ones, so the slice names a
// documentation address.
func readySlice(t *testing.T, kc kubernetes.Interface, ns, svc string) {
	t.Helper()
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: svc + "-x1", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses: []string{"192.0.2.10"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: svc + "-0"},
		}},
		Ports: []discoveryv1.EndpointPort{{Port: ptr.To[int32](80)}},
	}
	if _, err := kc.DiscoveryV1().EndpointSlices(ns).Create(t.Context(), es, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestQualifyDialsTheServiceByItsFullName(t *testing.T) {
	for _, tc := range []struct{ in, domain, want string }{
		{"http://web.shop.svc:8080", "", "http://web.shop.svc.cluster.local.:8080"},
		{"http://web.shop.svc:8080", "corp.example.", "http://web.shop.svc.corp.example.:8080"},
		{"http://static.example:80", "", "http://static.example:80"},
	} {
		if got := clusterroutes.Qualify(tc.in, tc.domain); got != tc.want {
			t.Errorf("Qualify(%q, %q) = %q, want %q", tc.in, tc.domain, got, tc.want)
		}
	}
}
