// SPDX-License-Identifier: Apache-2.0

package interceptor

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// front is an Interceptor served on a loopback port, with its admin
// endpoint on another.
type front struct {
	ic    *Interceptor
	url   string // the proxy: http://127.0.0.1:port
	admin string // the admin endpoint
	token string
}

func startFront(t *testing.T, cfg Config) *front {
	t.Helper()
	ic, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer("", ic)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = srv.Close()
		ic.CloseIdleConnections()
	})
	const token = "admin-token-5f2e"
	admin := httptest.NewServer(ic.AdminHandler(token))
	t.Cleanup(admin.Close)
	return &front{ic: ic, url: "http://" + ln.Addr().String(), admin: admin.URL, token: token}
}

// get sends a GET through the interceptor for host and path.
func (f *front) get(t *testing.T, client *http.Client, host, path string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s%s: %v", host, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (f *front) stats(t *testing.T, name string) RouteStats {
	t.Helper()
	for _, s := range f.ic.Stats(0, name) {
		return s
	}
	t.Fatalf("no route %q", name)
	return RouteStats{}
}

// backend is a real HTTP server on loopback that says who it is and
// echoes what it saw.
type backend struct {
	srv    *httptest.Server
	name   string
	served atomic.Int64
	last   atomic.Pointer[http.Request]
}

func startBackend(t *testing.T, name string) *backend {
	t.Helper()
	b := &backend{name: name}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.served.Add(1)
		b.last.Store(r.Clone(context.Background()))
		_, _ = io.WriteString(w, b.name+" "+r.URL.Path)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func rt(name, host, prefix, backendURL string) Route {
	return Route{Name: name, Host: host, PathPrefix: prefix, Backend: backendURL}
}

func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
