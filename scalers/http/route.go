// SPDX-License-Identifier: Apache-2.0

package http

import (
	"net"
	"net/netip"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/http/interceptor"
)

// RouteName is the name of the route an interceptor-mode trigger with a
// host publishes: <namespace>/<scaledobject>/<trigger name>.
func RouteName(t scalers.Trigger) string {
	return t.Namespace + "/" + t.ScaledObject + "/" + t.Name
}

// RouteOf returns the route a trigger publishes to interceptors that read
// their routes from the cluster: an http trigger in interceptor mode with a
// host. ok is false for any other trigger. The metadata is parsed by the
// same parser as at admission (credentials are not needed: t.AuthPending is
// taken as true), so an error names the trigger and the key.
func RouteOf(t scalers.Trigger) (r interceptor.Route, ok bool, err error) {
	if t.Type != TypeName || t.Metadata["host"] == "" {
		return interceptor.Route{}, false, nil
	}
	t.AuthPending = true
	s, err := parse(t)
	if err != nil {
		return interceptor.Route{}, false, err
	}
	if s.route == nil {
		return interceptor.Route{}, false, nil
	}
	return *s.route, true, nil
}

// parseRoute checks the keys that publish a route and builds it.
func parseRoute(t scalers.Trigger, cfg Config, bad func(key, format string, args ...any)) *interceptor.Route {
	r := &interceptor.Route{
		Name:            RouteName(t),
		Host:            strings.ToLower(strings.TrimSpace(cfg.Host)),
		PathPrefix:      cfg.PathPrefix,
		BackendProtocol: cfg.BackendProtocol,
		Namespace:       t.Namespace,
		Service:         cfg.Service,
	}
	switch {
	case r.Host == "*":
		bad("host", "\"*\" (any host) is not published from a ScaledObject: a host belongs to one namespace; expected a host name such as shop.example.com")
	case strings.HasPrefix(r.Host, "*."):
		if errs := validation.IsWildcardDNS1123Subdomain(r.Host); len(errs) > 0 {
			bad("host", "expected a host name such as shop.example.com, or *.example.com where an administrator grants it, found %q", cfg.Host)
		}
	default:
		if errs := validation.IsDNS1123Subdomain(r.Host); len(errs) > 0 {
			bad("host", "expected a host name such as shop.example.com, found %q", cfg.Host)
		}
	}
	if r.PathPrefix == "" {
		r.PathPrefix = "/"
	}
	if why := interceptor.CheckPathPrefix(r.PathPrefix); why != "" {
		bad("pathPrefix", "expected a path starting with /, such as /api, in the normal form requests are matched in (%s), found %q", why, cfg.PathPrefix)
	}
	switch {
	case cfg.Service == "":
		bad("service", "is required with host: the Service, in the ScaledObject's namespace, whose ready endpoints gate the route")
	case len(validation.IsDNS1035Label(cfg.Service)) > 0:
		bad("service", "expected a Service name such as web, found %q", cfg.Service)
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		if _, set := t.Metadata["port"]; !set {
			bad("port", "is required with host: the Service's port number, e.g. 8080")
		} else {
			bad("port", "expected a port number from 1 to 65535, found %d", cfg.Port)
		}
	}
	port := cfg.Port
	svc := cfg.Service
	if cfg.Backend != "" {
		bsvc, bport, why := parseBackend(cfg.Backend, t.Namespace)
		if why != "" {
			bad("backend", "expected a Service of the ScaledObject's namespace: <service>[.%s[.svc[.cluster.local]]][:port], optionally after http://, %s; found %q", t.Namespace, why, scalers.RedactString(cfg.Backend))
		}
		svc = bsvc
		if bport != 0 {
			port = bport
		}
	}
	r.Backend = ServiceURL(svc, t.Namespace, port)
	if t.Namespace == "" {
		bad("host", "needs the ScaledObject's namespace, to name the route and its Service")
	}
	return r
}

// ServiceURL is the backend URL of a route to port of Service svc in
// namespace ns: http://<svc>.<ns>.svc:<port>. An interceptor that reads its
// routes from the cluster dials it as a fully qualified name in its
// cluster's domain (clusterroutes), so no DNS search path applies.
func ServiceURL(svc, ns string, port int) string {
	return "http://" + svc + "." + ns + ".svc:" + strconv.Itoa(port)
}

// parseBackend reads a backend key: a Service of namespace ns, written
// <service>[.<ns>[.svc[.cluster.local]]][:port], optionally after http://.
// Nothing else is accepted: no IP address, no other namespace's Service, no
// host outside the cluster, no credentials, path, query or fragment. why
// says what is wrong, "" when nothing is; port is 0 when not given.
func parseBackend(v, ns string) (svc string, port int, why string) {
	hostport := v
	if scheme, rest, ok := strings.Cut(v, "://"); ok {
		if scheme != "http" {
			return "", 0, "not " + scheme + "://"
		}
		hostport = rest
	}
	if strings.ContainsAny(hostport, "/?#@") {
		return "", 0, "without credentials, path, query or fragment"
	}
	host := hostport
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return "", 0, "with a port from 1 to 65535"
		}
		host, port = h, n
	}
	host = strings.ToLower(host)
	if _, err := netip.ParseAddr(host); err == nil || strings.ContainsAny(host, "[]:") {
		return "", 0, "not an IP address"
	}
	svc, rest, _ := strings.Cut(host, ".")
	if len(validation.IsDNS1035Label(svc)) > 0 {
		return "", 0, "with a Service name such as web"
	}
	switch rest {
	case "", ns, ns + ".svc", ns + ".svc.cluster.local":
		return svc, port, ""
	}
	return "", 0, "not a host in another namespace or outside the cluster"
}
