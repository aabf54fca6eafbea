// SPDX-License-Identifier: Apache-2.0

package http

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/http/interceptor"
)

// Interceptor replicas: an interceptorURL whose host resolves to several
// addresses (a headless Service: one A record per ready pod) names several
// interceptors. Each read asks every one of them and sums their counters;
// the activation watcher long-polls every one. A host that resolves to one
// address (a ClusterIP Service) is one interceptor, read at that address
// as before. An IP address or localhost in the URL is read as written.

// resolveTTL is how long a host's addresses are reused before they are
// looked up again; a failed read looks them up again at once. CoreDNS
// answers for a headless Service with a TTL of 5 s.
const resolveTTL = 5 * time.Second

// maxResolved bounds the resolver's cache: the hosts come from tenants'
// interceptorURLs, so their number is not Ebb's to choose. Past it, expired
// entries are dropped first, then the oldest.
const maxResolved = 4096

// lookupFunc returns a host's addresses, like net.Resolver.LookupHost.
type lookupFunc func(ctx context.Context, host string) ([]string, error)

// resolver caches the addresses of interceptor hosts; concurrent lookups
// of one host are merged. It is safe for concurrent use.
type resolver struct {
	lookup  lookupFunc
	ttl     time.Duration
	max     int
	now     func() time.Time
	lookups scalers.Coalescer[[]string]

	mu    sync.Mutex
	cache map[string]resolved // host → its addresses
}

type resolved struct {
	addrs []string
	at    time.Time
}

func newResolver(lookup lookupFunc) *resolver {
	return &resolver{lookup: lookup, ttl: resolveTTL, max: maxResolved, now: time.Now, cache: map[string]resolved{}}
}

// addrs returns host's addresses, sorted and without duplicates, from the
// cache while they are younger than the TTL. An IP address and localhost
// (which may resolve to both 127.0.0.1 and ::1 of one process) are not
// looked up: they return nil, read as one interceptor.
func (r *resolver) addrs(ctx context.Context, host string) ([]string, error) {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") || net.ParseIP(host) != nil {
		return nil, nil
	}
	r.mu.Lock()
	c, ok := r.cache[host]
	r.mu.Unlock()
	if ok && r.now().Sub(c.at) < r.ttl {
		return c.addrs, nil
	}
	return r.lookups.Do(ctx, host, func(ctx context.Context) ([]string, error) {
		addrs, err := r.lookup(ctx, host)
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", host, err)
		}
		addrs = slices.Clone(addrs)
		slices.Sort(addrs)
		addrs = slices.Compact(addrs)
		if len(addrs) == 0 {
			return nil, fmt.Errorf("resolve %s: no address", host)
		}
		r.store(host, addrs)
		return addrs, nil
	})
}

// store caches host's addresses, keeping the cache within r.max entries.
func (r *resolver) store(host string, addrs []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if _, ok := r.cache[host]; !ok && len(r.cache) >= r.max {
		oldest, at := "", now
		for h, c := range r.cache {
			if now.Sub(c.at) >= r.ttl {
				delete(r.cache, h)
			} else if !c.at.After(at) {
				oldest, at = h, c.at
			}
		}
		if len(r.cache) >= r.max {
			delete(r.cache, oldest)
		}
	}
	r.cache[host] = resolved{addrs: addrs, at: now}
}

// forget drops host's addresses, so the next read looks them up again.
func (r *resolver) forget(host string) {
	r.mu.Lock()
	delete(r.cache, host)
	r.mu.Unlock()
}

// replica is one interceptor to read: a URL and the Host header to send.
type replica struct {
	// addr is the address read ("" when the URL is read as written).
	addr string
	url  string
	// host is the Host header for a URL rewritten to addr ("" otherwise).
	host string
}

// replicas returns the interceptors that rawURL names: one per address of
// its host, with the URL's host replaced by the address (same scheme, port,
// path and query; the Host header and the TLS server name keep the name),
// or rawURL alone for a host that is not looked up.
func (r *resolver) replicas(ctx context.Context, rawURL string) ([]replica, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	addrs, err := r.addrs(ctx, u.Hostname())
	if err != nil {
		return nil, err
	}
	if len(addrs) == 0 {
		return []replica{{url: rawURL}}, nil
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	out := make([]replica, 0, len(addrs))
	for _, a := range addrs {
		v := *u
		v.Host = net.JoinHostPort(a, port)
		out = append(out, replica{addr: v.Host, url: v.String(), host: u.Host})
	}
	return out, nil
}

// hostName is the name of a URL's host[:port].
func hostName(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// replicaRoutes is one interceptor's answer.
type replicaRoutes struct {
	addr   string
	routes []interceptor.RouteStats
}

// fetchAll GETs the routes' counters from every interceptor that u (a
// /v1/routes URL) names, concurrently, within the trigger's timeout. Any
// interceptor that cannot be read fails the whole read, naming its address:
// a sum without it would under-count.
func (s *scaler) fetchAll(ctx context.Context, u string) ([]replicaRoutes, error) {
	ctx, cancel := context.WithTimeout(ctx, s.set.cfg.Timeout)
	defer cancel()
	reps, err := s.typ.resolver.replicas(ctx, u)
	if err != nil {
		return nil, err
	}
	out := make([]replicaRoutes, len(reps))
	errs := make([]error, len(reps))
	var wg sync.WaitGroup
	for i, r := range reps {
		out[i].addr = r.addr
		wg.Go(func() { out[i].routes, errs[i] = s.fetchRoutes(ctx, r) })
	}
	wg.Wait()
	var failed []string
	var first error
	for i, err := range errs {
		if err == nil {
			continue
		}
		if reps[i].addr == "" {
			return nil, err
		}
		if first == nil {
			first = err
		}
		failed = append(failed, fmt.Sprintf("interceptor replica %s: %v", reps[i].addr, err))
	}
	if first != nil {
		// The replicas may have changed: look the host up again next time.
		if pu, perr := url.Parse(u); perr == nil {
			s.typ.resolver.forget(pu.Hostname())
		}
		msg := strings.Join(failed, "; ")
		if len(reps) > 1 {
			msg += fmt.Sprintf(" (%d of %d replicas failed; a sum without them would under-count)", len(failed), len(reps))
		}
		return nil, &replicaError{msg: msg, err: first}
	}
	return out, nil
}

// replicaError is the failure of some replicas; it unwraps to the first
// one's error (e.g. a timeout).
type replicaError struct {
	msg string
	err error
}

func (e *replicaError) Error() string { return e.msg }
func (e *replicaError) Unwrap() error { return e.err }

// pickAll finds the trigger's route in every replica's answer and sums it:
// request rate, requests, in flight and held are summed, the ready
// endpoints are the largest any replica sees. A replica without the route
// fails the read, naming its address.
func (s *scaler) pickAll(reps []replicaRoutes) (interceptor.RouteStats, error) {
	var sum interceptor.RouteStats
	for i, r := range reps {
		st, err := s.pickRoute(r.routes)
		if err != nil {
			if r.addr != "" {
				return interceptor.RouteStats{}, fmt.Errorf("interceptor replica %s: %w", r.addr, err)
			}
			return interceptor.RouteStats{}, err
		}
		if i == 0 {
			sum = st
			continue
		}
		sum.RequestRate += st.RequestRate
		sum.RequestsTotal += st.RequestsTotal
		sum.InFlight += st.InFlight
		sum.Held += st.Held
		sum.ReadyEndpoints = max(sum.ReadyEndpoints, st.ReadyEndpoints)
	}
	if len(reps) == 0 {
		return interceptor.RouteStats{}, errors.New("no interceptor to read")
	}
	return sum, nil
}
