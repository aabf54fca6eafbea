// SPDX-License-Identifier: Apache-2.0

package interceptor

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// The interceptor passes Accept-Encoding and Content-Encoding through as
// they are: it does not ask a backend for gzip on behalf of a client that
// did not, and does not decompress what a client did ask for.
func TestContentEncodingPassesThroughUntouched(t *testing.T) {
	var mu sync.Mutex
	var seen []string // Accept-Encoding of each request the backend got
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = io.WriteString(zw, "hello, compressed")
	_ = zw.Close()
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Accept-Encoding"))
		mu.Unlock()
		if r.Header.Get("Accept-Encoding") == "gzip" {
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = w.Write(gz.Bytes())
			return
		}
		_, _ = io.WriteString(w, "hello, plain")
	}))
	t.Cleanup(be.Close)
	f := startFront(t, Config{Routes: []Route{rt("enc", "*", "/", be.URL)}})
	// A client that sends exactly the headers it is given.
	c := &http.Client{Transport: &http.Transport{DisableCompression: true}}

	for _, tc := range []struct {
		name, accept, wantSeen, wantEncoding string
		wantBody                             []byte
	}{
		{"a client that asks for no encoding gets the plain answer", "", "", "", []byte("hello, plain")},
		{"a client that asks for gzip gets the backend's gzip bytes", "gzip", "gzip", "gzip", gz.Bytes()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, f.url+"/", nil)
			if tc.accept != "" {
				req.Header.Set("Accept-Encoding", tc.accept)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			mu.Lock()
			last := seen[len(seen)-1]
			mu.Unlock()
			if last != tc.wantSeen {
				t.Errorf("the backend saw Accept-Encoding %q, want %q", last, tc.wantSeen)
			}
			if got := resp.Header.Get("Content-Encoding"); got != tc.wantEncoding {
				t.Errorf("Content-Encoding %q, want %q", got, tc.wantEncoding)
			}
			if !bytes.Equal(body, tc.wantBody) {
				t.Errorf("body %q, want %q", body, tc.wantBody)
			}
		})
	}
}
