// SPDX-License-Identifier: Apache-2.0

package http

import (
	"net/url"
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
	if r.Host != "*" {
		if errs := validation.IsDNS1123Subdomain(r.Host); len(errs) > 0 {
			bad("host", "expected a host name such as shop.example.com (or \"*\" for any host), found %q", cfg.Host)
		}
	}
	if r.PathPrefix == "" {
		r.PathPrefix = "/"
	}
	if !strings.HasPrefix(r.PathPrefix, "/") || strings.ContainsAny(r.PathPrefix, "?# ") {
		bad("pathPrefix", "expected a path starting with /, such as /api, found %q", cfg.PathPrefix)
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
	r.Backend = "http://" + cfg.Service + "." + t.Namespace + ".svc:" + strconv.Itoa(cfg.Port)
	if cfg.Backend != "" {
		u, err := url.Parse(cfg.Backend)
		if err != nil || u.Scheme != "http" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			bad("backend", "expected an http:// URL with a host and no credentials, query or fragment, such as http://web.shop.svc:8080, found %q", scalers.RedactString(cfg.Backend))
		}
		r.Backend = cfg.Backend
	}
	if t.Namespace == "" {
		bad("host", "needs the ScaledObject's namespace, to name the route and its Service")
	}
	return r
}
