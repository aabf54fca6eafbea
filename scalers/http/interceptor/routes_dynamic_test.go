// SPDX-License-Identifier: Apache-2.0

package interceptor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// SetRoutes swaps the table: a route that keeps its name keeps its
// counters and window whatever else changes, a route that moves serves its
// new host, a removed route answers 404 and a new one starts at zero.
func TestSetRoutesSwapsTheTableAndKeepsTheCountersOfKeptRoutes(t *testing.T) {
	a, b := startBackend(t, "a"), startBackend(t, "b")
	f := startFront(t, Config{Routes: []Route{
		rt("web", "web.example", "/", a.srv.URL),
		rt("api", "api.example", "/", a.srv.URL),
	}})
	for i := 0; i < 3; i++ {
		if resp, body := f.get(t, http.DefaultClient, "web.example", "/x"); resp.StatusCode != 200 || body != "a /x" {
			t.Fatalf("before: %d %q", resp.StatusCode, body)
		}
	}
	f.get(t, http.DefaultClient, "api.example", "/")

	// web moves to another host and backend; api goes; new comes.
	if err := f.ic.SetRoutes([]Route{
		rt("web", "www.example", "/", b.srv.URL),
		rt("new", "api.example", "/", b.srv.URL),
	}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := f.get(t, http.DefaultClient, "web.example", "/x"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the old host of a moved route: %d, want 404", resp.StatusCode)
	}
	if resp, body := f.get(t, http.DefaultClient, "www.example", "/y"); resp.StatusCode != 200 || body != "b /y" {
		t.Errorf("the new host of a moved route: %d %q, want 200 from the new backend", resp.StatusCode, body)
	}
	if s := f.stats(t, "web"); s.RequestsTotal != 4 || s.RequestRate <= 0 {
		t.Errorf("moved route: %+v, want the 3 requests before the move and the 1 after, and a rate", s)
	}
	if s := f.stats(t, "new"); s.RequestsTotal != 0 {
		t.Errorf("new route on api's old host starts with %d requests, want 0", s.RequestsTotal)
	}
	if got := f.ic.Stats(0, "api"); len(got) != 0 {
		t.Errorf("removed route still has stats: %+v", got)
	}
	if n := len(f.ic.Routes()); n != 2 {
		t.Errorf("%d routes served, want 2", n)
	}

	// A bad table is refused whole and the old one stays.
	if err := f.ic.SetRoutes([]Route{rt("x", "x.example", "/", b.srv.URL), rt("y", "x.example", "/", b.srv.URL)}); err == nil {
		t.Error("a table with a host and prefix twice was accepted")
	}
	if resp, _ := f.get(t, http.DefaultClient, "www.example", "/"); resp.StatusCode != 200 {
		t.Errorf("after a refused table: %d, want the old table's 200", resp.StatusCode)
	}
}

// A request held on a route keeps waiting across a SetRoutes that keeps the
// route, and is released by its Service's readiness; a route that switches
// to a Service already known ready opens at once.
func TestHeldRequestsSurviveSetRoutes(t *testing.T) {
	a := startBackend(t, "a")
	f := startFront(t, Config{HoldTimeout: time.Minute, Routes: []Route{
		{Name: "web", Host: "web.example", Backend: a.srv.URL, Namespace: "shop", Service: "web"},
		{Name: "api", Host: "api.example", Backend: a.srv.URL, Namespace: "shop", Service: "api"},
	}})
	f.ic.SetReadyEndpoints("shop", "api", 2)
	done := make(chan string, 1)
	go func() { done <- tryGet(f, "web.example", "/held") }()
	eventually(t, 10*time.Second, "a held request", func() bool { return f.stats(t, "web").Held == 1 })
	if err := f.ic.SetRoutes([]Route{
		{Name: "web", Host: "web.example", PathPrefix: "/", Backend: a.srv.URL, Namespace: "shop", Service: "web"},
		{Name: "api", Host: "api.example", Backend: a.srv.URL, Namespace: "shop", Service: "api"},
		{Name: "admin", Host: "admin.example", Backend: a.srv.URL, Namespace: "shop", Service: "api"},
	}); err != nil {
		t.Fatal(err)
	}
	if s := f.stats(t, "web"); s.Held != 1 {
		t.Fatalf("after SetRoutes the kept route holds %d, want 1", s.Held)
	}
	if s := f.stats(t, "admin"); s.ReadyEndpoints != 2 {
		t.Errorf("a new route to a Service known ready: %d ready endpoints, want 2", s.ReadyEndpoints)
	}
	f.ic.SetReadyEndpoints("shop", "web", 1)
	select {
	case got := <-done:
		if got != "200 a /held" {
			t.Errorf("held request answered %q", got)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the held request was not released")
	}
}

// Requests keep flowing, and are counted once each, while the table is
// swapped again and again (run with -race: the request path reads the
// table without a lock).
func TestSetRoutesUnderConcurrentRequests(t *testing.T) {
	a := startBackend(t, "a")
	f := startFront(t, Config{Routes: []Route{rt("web", "web.example", "/", a.srv.URL)}})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var sent, bad atomic.Int64
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	defer client.CloseIdleConnections()
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				req, _ := http.NewRequest(http.MethodGet, f.url+"/", nil)
				req.Host = "web.example"
				resp, err := client.Do(req)
				if err != nil {
					bad.Add(1)
					continue
				}
				resp.Body.Close()
				sent.Add(1)
				if resp.StatusCode != 200 {
					bad.Add(1)
				}
			}
		}()
	}
	for i := 0; i < 200; i++ {
		prefix := "/"
		routes := []Route{rt("web", "web.example", prefix, a.srv.URL), rt(fmt.Sprint("other-", i), fmt.Sprint("o", i, ".example"), "/", a.srv.URL)}
		if err := f.ic.SetRoutes(routes); err != nil {
			t.Fatal(err)
		}
		_ = f.ic.Stats(0)
	}
	eventually(t, 10*time.Second, "requests during the swaps", func() bool { return sent.Load() > 100 })
	cancel()
	wg.Wait()
	if bad.Load() != 0 {
		t.Errorf("%d requests failed while the table was swapped", bad.Load())
	}
	if got := f.stats(t, "web").RequestsTotal; got != sent.Load() {
		t.Errorf("the kept route counted %d requests, %d were answered", got, sent.Load())
	}
}

// GET /v1/activations answers at once with the routes holding requests to
// a watcher without an epoch, then blocks until a route's first request is
// held, and needs the token.
func TestActivationsLongPoll(t *testing.T) {
	be := startBackend(t, "a")
	f := startFront(t, Config{HoldTimeout: time.Minute, Routes: []Route{
		{Name: "web", Host: "web.example", Backend: be.srv.URL, Namespace: "shop", Service: "web"},
		{Name: "api", Host: "api.example", Backend: be.srv.URL, Namespace: "shop", Service: "api"},
	}})
	get := func(query string, token string) (int, Activations) {
		req, _ := http.NewRequest(http.MethodGet, f.admin+"/v1/activations?"+query, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var a Activations
		_ = json.NewDecoder(resp.Body).Decode(&a)
		return resp.StatusCode, a
	}
	if code, _ := get("", "wrong"); code != http.StatusUnauthorized {
		t.Errorf("wrong token: %d, want 401", code)
	}
	if code, _ := get("wait=1h", f.token); code != http.StatusBadRequest {
		t.Errorf("wait=1h: %d, want 400", code)
	}
	code, first := get("", f.token)
	if code != 200 || first.Epoch == "" || first.Seq != 0 || len(first.Routes) != 0 {
		t.Fatalf("first call: %d %+v, want 200, an epoch, seq 0, no routes", code, first)
	}
	// Nothing happens: the wait ends empty.
	if _, a := get(fmt.Sprintf("epoch=%s&since=0&wait=100ms", first.Epoch), f.token); a.Seq != 0 || len(a.Routes) != 0 {
		t.Errorf("an empty wait: %+v", a)
	}

	got := make(chan Activations, 1)
	go func() {
		_, a := get(fmt.Sprintf("epoch=%s&since=0", first.Epoch), f.token)
		got <- a
	}()
	held := make(chan struct{})
	go func() {
		defer close(held)
		tryGet(f, "web.example", "/")
	}()
	var a Activations
	select {
	case a = <-got:
	case <-time.After(20 * time.Second):
		t.Fatal("the long poll did not return when a request was held")
	}
	if a.Seq != 1 || len(a.Routes) != 1 || a.Routes[0] != "web" {
		t.Errorf("after the first held request: %+v, want seq 1 and route web", a)
	}
	// A second held request on the same route does not signal again.
	go tryGet(f, "web.example", "/")
	eventually(t, 10*time.Second, "2 held requests", func() bool { return f.stats(t, "web").Held == 2 })
	if _, b := get(fmt.Sprintf("epoch=%s&since=1&wait=200ms", first.Epoch), f.token); b.Seq != 1 || len(b.Routes) != 0 {
		t.Errorf("a second held request signalled: %+v", b)
	}
	// A watcher of another epoch (the interceptor restarted) gets the
	// routes holding requests now.
	if _, c := get("epoch=other&since=7", f.token); c.Epoch != first.Epoch || len(c.Routes) != 1 || c.Routes[0] != "web" {
		t.Errorf("another epoch: %+v, want this epoch and route web", c)
	}
	f.ic.SetReadyEndpoints("shop", "web", 1)
	<-held
}

// tryGet sends a GET through the interceptor from any goroutine and
// returns "<status> <body>" or the error.
func tryGet(f *front, host, path string) string {
	req, _ := http.NewRequest(http.MethodGet, f.url+path, nil)
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprint(resp.StatusCode, " ", string(b))
}
