// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebbscale/ebb/scalers/http/interceptor"
)

// The command proxies by host, serves its counters with the token, and
// returns once its context ends.
func TestRunServesTheProxyAndTheAdminEndpoint(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "web "+r.Host+r.URL.Path)
	}))
	defer backend.Close()
	dir := t.TempDir()
	routes := filepath.Join(dir, "routes.json")
	writeFile(t, routes, `{"routes": [{"name": "shop/web", "host": "shop.example", "backend": "`+backend.URL+`"}]}`)
	token := filepath.Join(dir, "token")
	writeFile(t, token, "s3cret-token\n")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrs := make(chan [2]net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--routes", routes, "--token-file", token, "--proxy-address", "127.0.0.1:0", "--admin-address", "127.0.0.1:0"},
			io.Discard, func(p, a net.Addr) { addrs <- [2]net.Addr{p, a} })
	}()
	var proxy, admin string
	select {
	case a := <-addrs:
		proxy, admin = "http://"+a[0].String(), "http://"+a[1].String()
	case err := <-done:
		t.Fatalf("run returned before serving: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the interceptor did not start listening")
	}

	req, _ := http.NewRequest(http.MethodGet, proxy+"/cart", nil)
	req.Host = "shop.example"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "web shop.example/cart" {
		t.Fatalf("proxied answer %q", body)
	}

	for _, tc := range []struct {
		auth string
		want int
	}{{"", http.StatusUnauthorized}, {"Bearer wrong", http.StatusUnauthorized}, {"Bearer s3cret-token", http.StatusOK}} {
		req, _ := http.NewRequest(http.MethodGet, admin+"/v1/routes", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var sr interceptor.StatsResponse
		_ = json.NewDecoder(resp.Body).Decode(&sr)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("/v1/routes with %q: %d, want %d", tc.auth, resp.StatusCode, tc.want)
		}
		if tc.want == http.StatusOK && (len(sr.Routes) != 1 || sr.Routes[0].RequestsTotal != 1) {
			t.Errorf("/v1/routes = %+v, want shop/web with 1 request", sr)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after cancel: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
}

func TestRunRefusesABadCommandLine(t *testing.T) {
	dir := t.TempDir()
	routes := filepath.Join(dir, "routes.json")
	writeFile(t, routes, `{"routes": [{"name": "a", "host": "a.example", "backend": "http://127.0.0.1:1"}]}`)
	bad := filepath.Join(dir, "bad.json")
	writeFile(t, bad, `{"routes": [{"name": "a", "hots": "a.example", "backend": "http://127.0.0.1:1"}]}`)
	token := filepath.Join(dir, "token")
	writeFile(t, token, "t")
	empty := filepath.Join(dir, "empty")
	writeFile(t, empty, "\n")
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"no routes file and no cluster": {[]string{"--token-file", token, "--kubeconfig", filepath.Join(dir, "missing")}, "routes come from the ScaledObjects in the cluster without --routes"},
		"--namespace with --routes":     {[]string{"--routes", routes, "--token-file", token, "--namespace", "shop"}, "go with routes from the cluster"},
		"no token":                      {[]string{"--routes", routes}, "--token-file is required"},
		"an empty token":                {[]string{"--routes", routes, "--token-file", empty}, "is empty"},
		"a misspelt route key":          {[]string{"--routes", bad, "--token-file", token}, `unknown field "hots"`},
		"host claims with --routes":     {[]string{"--routes", routes, "--token-file", token, "--host-claims-namespace", "ebb"}, "go with routes from the cluster"},
		"a grant of any host":           {[]string{"--token-file", token, "--host-grant", "edge=*"}, "not \"*\""},
		"a grant without a namespace":   {[]string{"--token-file", token, "--host-grant", "*.example.com"}, "expected namespace="},
		"a pin without an address":      {[]string{"--token-file", token, "--resolve", "web.shop.svc.cluster.local:80"}, "expected host:port=address:port"},
	} {
		err := run(context.Background(), tc.args, io.Discard, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, tc.want)
		}
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}
