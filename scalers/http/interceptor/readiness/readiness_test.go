// SPDX-License-Identifier: Apache-2.0

package readiness_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/ebbscale/ebb/scalers/http/interceptor"
	"github.com/ebbscale/ebb/scalers/http/interceptor/readiness"
	"github.com/ebbscale/ebb/tests/controlplane"
)

func TestReadyEndpointsCountsDistinctReadyEndpoints(t *testing.T) {
	pod := func(name string) *corev1.ObjectReference {
		return &corev1.ObjectReference{Kind: "Pod", Namespace: "shop", Name: name}
	}
	ep := func(addr string, ready *bool, ref *corev1.ObjectReference) discoveryv1.Endpoint {
		return discoveryv1.Endpoint{Addresses: []string{addr}, Conditions: discoveryv1.EndpointConditions{Ready: ready}, TargetRef: ref}
	}
	for _, tc := range []struct {
		name   string
		slices []*discoveryv1.EndpointSlice
		want   int
	}{
		{"no slices", nil, 0},
		{"a ready and a not-ready Pod", []*discoveryv1.EndpointSlice{{Endpoints: []discoveryv1.Endpoint{
			ep("10.0.0.1", ptr.To(true), pod("a")), ep("10.0.0.2", ptr.To(false), pod("b")),
		}}}, 1},
		{"an unset ready condition is ready", []*discoveryv1.EndpointSlice{{Endpoints: []discoveryv1.Endpoint{
			ep("10.0.0.1", nil, pod("a")),
		}}}, 1},
		{"a Pod in an IPv4 and an IPv6 slice counts once", []*discoveryv1.EndpointSlice{
			{AddressType: discoveryv1.AddressTypeIPv4, Endpoints: []discoveryv1.Endpoint{ep("10.0.0.1", ptr.To(true), pod("a"))}},
			{AddressType: discoveryv1.AddressTypeIPv6, Endpoints: []discoveryv1.Endpoint{ep("fd00::1", ptr.To(true), pod("a"))}},
		}, 1},
		{"endpoints without a Pod count by address", []*discoveryv1.EndpointSlice{{Endpoints: []discoveryv1.Endpoint{
			ep("10.0.0.1", ptr.To(true), nil), ep("10.0.0.2", ptr.To(true), nil),
		}}}, 2},
	} {
		if got := readiness.ReadyEndpoints(tc.slices); got != tc.want {
			t.Errorf("%s: %d ready, want %d", tc.name, got, tc.want)
		}
	}
}

// Requests sent while the Service has no ready endpoint are held, and
// answered once its EndpointSlice in a real API server says an endpoint is
// ready and the backend has started; a slice going not ready holds requests
// again.
func TestHeldRequestsAreReleasedByAnEndpointSlice(t *testing.T) {
	cp := controlplane.Start(t)
	ctx := t.Context()
	kc, err := kubernetes.NewForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// The backend's port is bound now; it serves only once "scaled up".
	backend := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "web "+r.URL.Path)
	}))
	t.Cleanup(backend.Close)
	ic, err := interceptor.New(interceptor.Config{HoldTimeout: time.Minute, Routes: []interceptor.Route{{
		Name: "shop/web", Host: "shop.example", Backend: "http://" + backend.Listener.Addr().String(),
		Namespace: "shop", Service: "web",
	}}})
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(ic)
	t.Cleanup(front.Close)
	t.Cleanup(ic.CloseIdleConnections)

	if err := readiness.NewWatcher(kc, ic, ic.Services()).Run(ctx); err != nil {
		t.Fatal(err)
	}
	stats := func() interceptor.RouteStats { return ic.Stats(0, "shop/web")[0] }
	if s := stats(); s.ReadyEndpoints != 0 {
		t.Fatalf("before any EndpointSlice: %d ready endpoints", s.ReadyEndpoints)
	}

	send := func(n int, path string) <-chan string {
		results := make(chan string, n)
		for i := 0; i < n; i++ {
			go func() {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, front.URL+path, nil)
				req.Host = "shop.example"
				resp, err := front.Client().Do(req)
				if err != nil {
					results <- err.Error()
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				results <- fmt.Sprint(resp.StatusCode, " ", string(body))
			}()
		}
		return results
	}
	expect := func(results <-chan string, n int, want string) {
		t.Helper()
		for i := 0; i < n; i++ {
			select {
			case got := <-results:
				if got != want {
					t.Errorf("held request answered %q, want %q", got, want)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("held requests not answered (%d of %d)", i, n)
			}
		}
	}

	first := send(3, "/first")
	eventually(t, "3 held requests", func() bool { return stats().Held == 3 })
	backend.Start()
	_, port, _ := net.SplitHostPort(backend.Listener.Addr().String())
	var p int32
	_, _ = fmt.Sscan(port, &p)
	// The interceptor proxies to the route's backend (the Service), not to
	// endpoint addresses; the API server refuses loopback ones, so the slice
	// names a documentation address.
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "shop", Name: "web-abc12", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{"192.0.2.10"},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: "shop", Name: "web-0"},
		}},
		Ports: []discoveryv1.EndpointPort{{Port: &p}},
	}
	created, err := kc.DiscoveryV1().EndpointSlices("shop").Create(ctx, slice, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	expect(first, 3, "200 web /first")

	// The Pod goes not ready: requests are held again, until it is back.
	created.Endpoints[0].Conditions.Ready = ptr.To(false)
	updated, err := kc.DiscoveryV1().EndpointSlices("shop").Update(ctx, created, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "0 ready endpoints", func() bool { return stats().ReadyEndpoints == 0 })
	second := send(2, "/second")
	eventually(t, "2 held requests", func() bool { return stats().Held == 2 })
	updated.Endpoints[0].Conditions.Ready = ptr.To(true)
	if _, err := kc.DiscoveryV1().EndpointSlices("shop").Update(ctx, updated, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	expect(second, 2, "200 web /second")

	// The slice is deleted (scaled to zero).
	if err := kc.DiscoveryV1().EndpointSlices("shop").Delete(ctx, slice.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "0 ready endpoints after the delete", func() bool { return stats().ReadyEndpoints == 0 })
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
