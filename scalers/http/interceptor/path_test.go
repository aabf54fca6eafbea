// SPDX-License-Identifier: Apache-2.0

package interceptor

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestPathsAreNormalisedBeforeMatching(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/", "/"},
		{"/api/orders", "/api/orders"},
		{"/api/orders/", "/api/orders/"},
		{"/api/../admin", "/admin"},
		{"/api/%2e%2e/admin", "/admin"},
		{"/api/%2E%2e/admin", "/admin"},
		{"/api/.%2e/admin", "/admin"},
		{"/api/./orders", "/api/orders"},
		{"/api/%2e/orders", "/api/orders"},
		{"//admin", "/admin"},
		{"/api//orders///x", "/api/orders/x"},
		{"/api/orders/.", "/api/orders/"},
		{"/api/orders/..", "/api/"},
		{"/api/..", "/"},
		{"/a/b/../../c", "/c"},
		{"/..x/.y/x..", "/..x/.y/x.."},
		{"/caf%C3%A9/a%20b", "/caf%C3%A9/a%20b"},
		{"/a;b=c/%3B", "/a;b=c/%3B"},
		{"/.well-known/acme", "/.well-known/acme"},
	} {
		got, ok := normalizePath(tc.in)
		if !ok || got != tc.want {
			t.Errorf("normalizePath(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
}

func TestPathsThatCannotBeNormalisedSafelyAreRefused(t *testing.T) {
	for _, in := range []string{
		"", "*", "api", // not absolute
		"/..", "/../admin", "/api/../../admin", "/%2e%2e/admin", // above the root
		"/api%2Fadmin", "/api%2f..%2fadmin", "/api/%2F", // encoded slash
		"/api\\..\\admin", "/api%5C..%5Cadmin", "/api%5c", // backslash
		"/api%00", "/api%zz", "/api%2", "/api%", // NUL, bad escapes
	} {
		if got, ok := normalizePath(in); ok {
			t.Errorf("normalizePath(%q) = %q, accepted", in, got)
		}
	}
}

// A clean path is returned as it is, without an allocation.
func TestACleanPathIsNotCopied(t *testing.T) {
	p := "/api/v2/orders/12345?"[:20]
	if n := testing.AllocsPerRun(100, func() { _, _ = normalizePath(p) }); n != 0 {
		t.Errorf("%v allocations for a clean path", n)
	}
}

func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"/", "/api/../admin", "/a//b/./c/..", "/%2e%2E/x", "/a%2Fb", "/a\\b", "/caf%C3%A9", "/./", "/a/.%2e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, ok := normalizePath(in)
		if !ok {
			return
		}
		// Normal: a fixed point, absolute, no empty segment but a
		// trailing one, no dot segment, no backslash or encoded slash.
		if again, ok := normalizePath(out); !ok || again != out {
			t.Fatalf("normalizePath(%q) = %q, which normalises again to %q, %v", in, out, again, ok)
		}
		if !strings.HasPrefix(out, "/") || strings.Contains(out, "//") || strings.Contains(out, "\\") {
			t.Fatalf("normalizePath(%q) = %q", in, out)
		}
		dec, err := url.PathUnescape(out)
		if err != nil {
			t.Fatalf("normalizePath(%q) = %q, not unescapable: %v", in, out, err)
		}
		for _, seg := range strings.Split(dec, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("normalizePath(%q) = %q keeps a dot segment", in, out)
			}
		}
		if strings.Count(dec, "/") != strings.Count(out, "/") || strings.ContainsRune(dec, 0) {
			t.Fatalf("normalizePath(%q) = %q decodes to %q: an encoded slash or NUL got through", in, out, dec)
		}
		// A prefix match on the result cannot be escaped: every
		// route prefix the result starts with is one of its own
		// segments' prefixes, so a backend sees nothing above it.
		if strings.HasPrefix(out, "/api/") && !strings.HasPrefix(dec, "/api/") {
			t.Fatalf("%q matched /api/ but decodes to %q", out, dec)
		}
	})
}

func TestPathPrefixesMustBeNormal(t *testing.T) {
	for _, p := range []string{"/api", "/api/", "/", "/api/v2"} {
		if why := CheckPathPrefix(p); why != "" {
			t.Errorf("%q refused: %s", p, why)
		}
	}
	for _, p := range []string{"api", "/api/../admin", "//api", "/api/.", "/a%2Fb", "/a\\b", "/a b", "/a?b"} {
		if CheckPathPrefix(p) == "" {
			t.Errorf("%q accepted", p)
		}
	}
}

// Through the proxy: a dot segment cannot reach a route through another
// route's backend, the backend receives the normalised path (escapes
// kept), and what cannot be normalised is answered 400.
func TestRequestPathsAreNormalisedThroughTheProxy(t *testing.T) {
	api, admin := startBackend(t, "api"), startBackend(t, "admin")
	f := startFront(t, Config{Routes: []Route{
		rt("shop/api", "shop.example", "/api", api.srv.URL),
		rt("shop/admin", "shop.example", "/admin", admin.srv.URL),
	}})
	addr := strings.TrimPrefix(f.url, "http://")
	for _, tc := range []struct {
		path       string
		status     int
		body, seen string // the answer and the raw path the backend saw
	}{
		{"/api/../admin/users", 200, "admin /admin/users", "/admin/users"},
		{"/admin/../api/x", 200, "api /api/x", "/api/x"},
		{"/api/%2e%2e/admin", 200, "admin /admin", "/admin"},
		{"//api//x", 200, "api /api/x", "/api/x"},
		{"/api/a%20b/%3B", 200, "api /api/a b/;", "/api/a%20b/%3B"},
		{"/api/..%2fadmin", 400, "", ""},
		{"/api%2F..%2Fadmin", 400, "", ""},
		{"/api\\..\\admin", 400, "", ""},
		{"/api/../../admin", 400, "", ""},
	} {
		status, body := rawGet(t, addr, "shop.example", tc.path)
		if status != tc.status || (tc.status == 200 && body != tc.body) {
			t.Errorf("GET %s → %d %q, want %d %q", tc.path, status, body, tc.status, tc.body)
			continue
		}
		if tc.seen == "" {
			continue
		}
		var seen *http.Request
		if strings.HasPrefix(tc.body, "api") {
			seen = api.last.Load()
		} else {
			seen = admin.last.Load()
		}
		if seen.RequestURI != tc.seen {
			t.Errorf("GET %s: the backend was asked for %q, want %q", tc.path, seen.RequestURI, tc.seen)
		}
	}
}

// rawGet sends a GET with the request target written as given, which Go's
// client would not always do.
func rawGet(t *testing.T, addr, host, target string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target, host)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
