// SPDX-License-Identifier: Apache-2.0

package interceptor

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Route sends the requests for one host (and path prefix) to one backend.
type Route struct {
	// Name identifies the route to the operator, e.g. "shop/web"; the http
	// trigger's route key names it.
	Name string `json:"name"`
	// Host is the request host it serves, without port, e.g.
	// shop.example.com. A glob *.example.com serves the hosts one label
	// below example.com that no route names; "*" serves any host not served
	// by another route.
	Host string `json:"host"`
	// PathPrefix limits the route to paths under it; default "/". Of
	// several routes for a host, the longest matching prefix wins.
	PathPrefix string `json:"pathPrefix,omitempty"`
	// Backend is the URL requests go to, e.g. http://web.shop.svc:8080. Its
	// path is prepended to the request's path.
	Backend string `json:"backend"`
	// BackendProtocol is "http1" (default) or "h2c" (HTTP/2 without TLS,
	// e.g. for gRPC backends).
	BackendProtocol string `json:"backendProtocol,omitempty"`
	// Namespace and Service name the Kubernetes Service whose ready
	// endpoints gate the route: while it has none, requests are held. Empty
	// Service: the route is always ready.
	Namespace string `json:"namespace,omitempty"`
	Service   string `json:"service,omitempty"`
}

// Config is the interceptor's configuration.
type Config struct {
	Routes []Route `json:"routes"`
	// Window is the span of the request rate (default 1m), counted in
	// buckets of Bucket (default 1s).
	Window time.Duration `json:"window,omitempty"`
	Bucket time.Duration `json:"bucket,omitempty"`
	// HoldTimeout is how long a request waits for a ready endpoint (default
	// 30s).
	HoldTimeout time.Duration `json:"holdTimeout,omitempty"`
	// MaxHeldPerRoute and MaxHeld bound the requests held at once, per
	// route and in total (defaults 1,000 and 10,000).
	MaxHeldPerRoute int `json:"maxHeldPerRoute,omitempty"`
	MaxHeld         int `json:"maxHeld,omitempty"`
	// RetryAfter is the Retry-After of a 503 (default 1s, rounded up to
	// whole seconds).
	RetryAfter time.Duration `json:"retryAfter,omitempty"`
	// ResponseHeaderTimeout bounds the wait for a backend's response
	// headers; 0 leaves it to the client (its cancellation reaches the
	// backend).
	ResponseHeaderTimeout time.Duration `json:"responseHeaderTimeout,omitempty"`
	// Dial, when set, opens the connections to backends (a Dialer's
	// DialContext); nil: a plain dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error) `json:"-"`
}

func (c *Config) defaults() {
	if c.Window <= 0 {
		c.Window = time.Minute
	}
	if c.Bucket <= 0 {
		c.Bucket = time.Second
	}
	if c.HoldTimeout <= 0 {
		c.HoldTimeout = 30 * time.Second
	}
	if c.MaxHeldPerRoute <= 0 {
		c.MaxHeldPerRoute = 1000
	}
	if c.MaxHeld <= 0 {
		c.MaxHeld = 10000
	}
	if c.RetryAfter <= 0 {
		c.RetryAfter = time.Second
	}
}

// validate checks the window; SetRoutes checks the routes.
func (c *Config) validate() error {
	if c.Bucket > c.Window {
		return fmt.Errorf("bucket %s is longer than window %s", c.Bucket, c.Window)
	}
	if c.Window/c.Bucket > 3600 {
		return fmt.Errorf("window %s holds more than 3,600 buckets of %s", c.Window, c.Bucket)
	}
	return nil
}

// checkRoutes checks routes, fills in their defaults (lower-case host,
// pathPrefix "/") and returns their backends parsed.
func checkRoutes(routes []Route) ([]*url.URL, error) {
	names := map[string]bool{}
	places := map[string]string{}
	backends := make([]*url.URL, len(routes))
	for i := range routes {
		r := &routes[i]
		if r.Name == "" {
			return nil, fmt.Errorf("route %d: name is required", i)
		}
		if names[r.Name] {
			return nil, fmt.Errorf("route %q: the name is used twice", r.Name)
		}
		names[r.Name] = true
		r.Host = strings.ToLower(strings.TrimSpace(r.Host))
		if r.Host == "" {
			return nil, fmt.Errorf("route %q: host is required (\"*\" for any host)", r.Name)
		}
		if r.PathPrefix == "" {
			r.PathPrefix = "/"
		}
		if why := CheckPathPrefix(r.PathPrefix); why != "" {
			return nil, fmt.Errorf("route %q: pathPrefix %q %s", r.Name, r.PathPrefix, why)
		}
		place := r.Host + r.PathPrefix
		if other, dup := places[place]; dup {
			return nil, fmt.Errorf("route %q: host %s and pathPrefix %s are already served by route %q", r.Name, r.Host, r.PathPrefix, other)
		}
		places[place] = r.Name
		u, err := url.Parse(r.Backend)
		if err != nil || (u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" {
			return nil, fmt.Errorf("route %q: backend %q must be an http:// URL with a host and no credentials or query", r.Name, r.Backend)
		}
		switch r.BackendProtocol {
		case "", "http1", "h2c":
		default:
			return nil, fmt.Errorf("route %q: backendProtocol %q: expected http1 or h2c", r.Name, r.BackendProtocol)
		}
		if (r.Service == "") != (r.Namespace == "") {
			return nil, fmt.Errorf("route %q: namespace and service go together", r.Name)
		}
		backends[i] = u
	}
	return backends, nil
}

// table finds the route of a request: by host, then the longest path prefix.
type table struct {
	byHost map[string][]*route // each sorted by descending prefix length
}

func newTable(routes []*route) *table {
	t := &table{byHost: map[string][]*route{}}
	for _, r := range routes {
		t.byHost[r.cfg.Host] = append(t.byHost[r.cfg.Host], r)
	}
	for _, rs := range t.byHost {
		sort.Slice(rs, func(i, j int) bool { return len(rs[i].cfg.PathPrefix) > len(rs[j].cfg.PathPrefix) })
	}
	return t
}

func (t *table) match(host, path string) *route {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if r := matchPrefix(t.byHost[host], path); r != nil {
		return r
	}
	// A host glob *.example.com matches one more label: a.example.com,
	// not example.com or a.b.example.com (as in an Ingress).
	if i := strings.IndexByte(host, '.'); i > 0 && len(t.byHost) > 1 {
		if r := matchPrefix(t.byHost["*"+host[i:]], path); r != nil {
			return r
		}
	}
	return matchPrefix(t.byHost["*"], path)
}

func matchPrefix(rs []*route, path string) *route {
	for _, r := range rs {
		p := r.cfg.PathPrefix
		if p == "/" || path == p || strings.HasPrefix(path, strings.TrimSuffix(p, "/")+"/") {
			return r
		}
	}
	return nil
}
