// SPDX-License-Identifier: Apache-2.0

package scalers

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// NewTransport returns an HTTP transport of its own for one pooled client of
// a source's HTTP API, so that closing the client (CloseIdleConnections)
// closes its connections: http.DefaultTransport's settings, at most
// maxIdlePerHost idle connections per host kept for 90 s, and dials that
// time out after 30 s. onDial, when not nil, runs after each connection it
// opens (tests and benchmarks count them).
func NewTransport(maxIdlePerHost int, onDial func()) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = maxIdlePerHost
	tr.IdleConnTimeout = 90 * time.Second
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err == nil && onDial != nil {
			onDial()
		}
		return c, err
	}
	return tr
}

// StripURL drops the request URL from an HTTP client's transport error (it
// repeats the endpoint and the query, and may hold credentials); what
// remains says what failed. Other errors are returned as they are.
func StripURL(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return fmt.Errorf("%s: %w", strings.ToLower(ue.Op), ue.Err)
	}
	return err
}
