// SPDX-License-Identifier: Apache-2.0

package interceptor

import (
	"strings"
)

// routeSet is one version of the route table. It is never modified once
// published: SetRoutes builds a new one and swaps it in.
type routeSet struct {
	routes []*route // in the order given
	table  *table
}

// service names a Kubernetes Service.
type service struct{ namespace, name string }

// Place is where a route serves, normalized as the interceptor matches it:
// the lower-case host, a space, and the path prefix ("/" when empty). Two
// routes with the same Place cannot both be served.
func (r Route) Place() string {
	p := r.PathPrefix
	if p == "" {
		p = "/"
	}
	return strings.ToLower(strings.TrimSpace(r.Host)) + " " + p
}

// SetRoutes replaces the route table at once; requests in progress finish on
// the routes they matched. A route whose name was already served keeps its
// counters, its request-rate window, its held requests and its readiness (or
// takes the ready count of its new Service, if that changed). A route with a
// new name starts with zero counters, not ready until SetReadyEndpoints
// reports its Service (ready at once without a Service). Routes that are
// gone stop matching; their held requests still wait for their gate, or time
// out.
//
// The routes are checked as New checks them; on an error the table is left
// as it was. SetRoutes is safe to call concurrently with everything else;
// the request path never waits for it.
func (ic *Interceptor) SetRoutes(routes []Route) error {
	routes = append([]Route(nil), routes...)
	backends, err := checkRoutes(routes)
	if err != nil {
		return err
	}
	ic.mu.Lock()
	defer ic.mu.Unlock()
	old := map[string]*route{}
	if cur := ic.set.Load(); cur != nil {
		for _, r := range cur.routes {
			old[r.cfg.Name] = r
		}
	}
	start := ic.now()
	set := &routeSet{routes: make([]*route, 0, len(routes))}
	for i, rc := range routes {
		r := &route{cfg: rc}
		prev := old[rc.Name]
		if prev != nil {
			r.counters = prev.counters
		} else {
			r.counters = &counters{win: newWindow(ic.cfg.Window, ic.cfg.Bucket, start)}
			r.gate.open = make(chan struct{})
		}
		switch {
		case rc.Service == "":
			r.gate.set(1)
		case prev == nil || prev.cfg.Namespace != rc.Namespace || prev.cfg.Service != rc.Service:
			r.gate.set(ic.ready[service{rc.Namespace, rc.Service}])
		}
		if prev != nil && prev.cfg.Backend == rc.Backend && prev.cfg.BackendProtocol == rc.BackendProtocol {
			r.proxy = prev.proxy
		} else {
			tr := ic.h1
			if rc.BackendProtocol == "h2c" {
				tr = ic.h2
			}
			r.proxy = newProxy(backends[i], tr, ic.buffers)
		}
		set.routes = append(set.routes, r)
	}
	set.table = newTable(set.routes)
	ic.set.Store(set)
	// Forget the counts of Services no route waits on any more.
	want := map[service]bool{}
	for _, r := range set.routes {
		want[service{r.cfg.Namespace, r.cfg.Service}] = true
	}
	for s := range ic.ready {
		if !want[s] {
			delete(ic.ready, s)
		}
	}
	return nil
}

// Routes returns the routes served now, as given to SetRoutes (or New) with
// their defaults filled in.
func (ic *Interceptor) Routes() []Route {
	cur := ic.set.Load()
	out := make([]Route, len(cur.routes))
	for i, r := range cur.routes {
		out[i] = r.cfg
	}
	return out
}

// SetReadyEndpoints sets the number of ready endpoints of a Service: the
// routes to it hold requests while it is 0 and release them when it is not.
// The count is remembered for routes to the Service that SetRoutes adds
// later, as long as some route waits on it.
func (ic *Interceptor) SetReadyEndpoints(namespace, name string, n int) {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	s := service{namespace, name}
	found := false
	for _, r := range ic.set.Load().routes {
		if r.cfg.Namespace == namespace && r.cfg.Service == name {
			r.gate.set(n)
			found = true
		}
	}
	if found {
		ic.ready[s] = n
	}
}

// Services lists the (namespace, service) pairs the routes wait on.
func (ic *Interceptor) Services() [][2]string {
	seen := map[[2]string]bool{}
	var out [][2]string
	for _, r := range ic.set.Load().routes {
		k := [2]string{r.cfg.Namespace, r.cfg.Service}
		if r.cfg.Service != "" && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}
