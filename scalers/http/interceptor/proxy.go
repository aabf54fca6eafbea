// SPDX-License-Identifier: Apache-2.0

package interceptor

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"
)

// newTransports returns the interceptor's transports to backends: h1 speaks
// HTTP/1.1, h2 HTTP/2 without TLS (h2c). Both keep up to 1,024 idle
// connections per backend, so that a client load of hundreds of keep-alive
// connections reuses backend connections rather than dialing (measured in
// tests/bench/interceptor: 64 client connections hold about 70 backend
// connections, none re-dialed), and leave Accept-Encoding as the client sent
// it: the proxy neither asks backends for gzip nor decompresses answers.
func newTransports(responseHeaderTimeout time.Duration, dial func(ctx context.Context, network, addr string) (net.Conn, error)) (h1, h2 *http.Transport) {
	if dial == nil {
		dial = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	h1 = &http.Transport{
		DialContext:           dial,
		MaxIdleConns:          4096,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: responseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
	h2 = h1.Clone()
	h2.Protocols = new(http.Protocols)
	h2.Protocols.SetUnencryptedHTTP2(true)
	return h1, h2
}

func newProxy(backend *url.URL, tr http.RoundTripper, buffers httputil.BufferPool) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			// Keep the chain of proxies in front of this one.
			if xff, ok := pr.In.Header["X-Forwarded-For"]; ok {
				pr.Out.Header["X-Forwarded-For"] = xff
			}
			pr.SetURL(backend)
			pr.SetXForwarded()
			pr.Out.Host = pr.In.Host // the backend sees the host the client asked for
		},
		Transport:  tr,
		BufferPool: buffers,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
				// The client went away; nobody reads this answer.
				w.WriteHeader(499)
				return
			}
			http.Error(w, "ebb-interceptor: the backend did not answer", http.StatusBadGateway)
		},
	}
}

// bufferPool recycles the 32 KiB buffers the proxies copy bodies through;
// the routes of one Interceptor share it.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

func (b *bufferPool) Get() []byte    { return *(b.p.Get().(*[]byte)) }
func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }
