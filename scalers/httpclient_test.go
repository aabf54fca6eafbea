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
	tr := NewTransport(2, func() { dials.Add(1) })
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
