// SPDX-License-Identifier: Apache-2.0

package scalers

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestNewTransportCountsItsDialsAndClosesItsConnections(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	var dials atomic.Int64
	tr := NewTransport(DefaultEgress(), 2, func() { dials.Add(1) })
	c := &http.Client{Transport: tr}
	for range 3 {
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("dials = %d after three sequential requests, want 1 (the idle connection is reused)", n)
	}
	if tr.MaxIdleConnsPerHost != 2 {
		t.Errorf("MaxIdleConnsPerHost = %d, want 2", tr.MaxIdleConnsPerHost)
	}
	tr.CloseIdleConnections()
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if n := dials.Load(); n != 2 {
		t.Errorf("dials = %d after CloseIdleConnections and a request, want 2", n)
	}
}

func TestStripURLDropsTheRequestURL(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://user:s3cret@"+addr+"/api/queues?name=q", nil)
	_, err = http.DefaultClient.Do(req)
	if err == nil {
		t.Fatal("a request to a closed port succeeded")
	}
	got := StripURL(err)
	if strings.Contains(got.Error(), "/api/queues") || strings.Contains(got.Error(), "s3cret") {
		t.Errorf("StripURL = %q, still holds the URL", got)
	}
	if !strings.HasPrefix(got.Error(), "get: ") {
		t.Errorf("StripURL = %q, want it to start with the operation", got)
	}
	other := errors.New("not a url.Error")
	if StripURL(other) != other {
		t.Error("StripURL changed an error that is not a *url.Error")
	}
}

func TestCheckRedirectFollowsOnlyTheSameHost(t *testing.T) {
	var hits atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits.Add(1) }))
	defer other.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/away", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/secret-location", http.StatusFound)
	})
	mux.HandleFunc("/hop/", func(w http.ResponseWriter, r *http.Request) {
		n := len(r.URL.Path) - len("/hop/")
		if n >= 10 {
			_, _ = w.Write([]byte("ok"))
			return
		}
		http.Redirect(w, r, r.URL.Path+"x", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := NewHTTPClient(NewTransport(DefaultEgress(), 2, nil))
	get := func(path string) (*http.Response, error) {
		resp, err := c.Get(srv.URL + path)
		if resp != nil {
			_ = resp.Body.Close()
		}
		return resp, err
	}

	_, err := get("/away")
	if !errors.Is(err, ErrRedirectRefused) {
		t.Fatalf("a redirect to another host = %v, want ErrRedirectRefused", err)
	}
	if strings.Contains(StripURL(err).Error(), "secret-location") {
		t.Errorf("the error %q repeats the Location", StripURL(err))
	}
	if hits.Load() != 0 {
		t.Error("the other host was contacted")
	}
	// Three same-host hops are followed; a fourth is refused.
	if resp, err := get("/hop/xxxxxxx"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("three same-host redirects: %v, want them followed", err)
	}
	if _, err := get("/hop/xxxxxx"); !errors.Is(err, ErrRedirectRefused) {
		t.Errorf("four same-host redirects = %v, want ErrRedirectRefused", err)
	}
}

func TestCheckRedirectRefusesAnotherSchemeOrPort(t *testing.T) {
	mk := func(s string) *http.Request {
		r, _ := http.NewRequest(http.MethodGet, s, nil)
		return r
	}
	via := []*http.Request{mk("https://prom.example:443/api")}
	for target, ok := range map[string]bool{
		"https://PROM.example/api/v1": true,
		"http://prom.example/api":     false,
		"https://prom.example:8443/":  false,
		"https://other.example/":      false,
	} {
		err := CheckRedirect(mk(target), via)
		if ok != (err == nil) {
			t.Errorf("redirect from %s to %s: %v", via[0].URL, target, err)
		}
	}
}
