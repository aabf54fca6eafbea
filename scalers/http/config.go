// SPDX-License-Identifier: Apache-2.0

package http

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/http/interceptor"
)

// Config is an http trigger's metadata.
type Config struct {
	// CounterURL is an http:// or https:// URL serving the Prometheus text
	// format, e.g. http://ingress-nginx-controller-metrics.ingress:10254/metrics.
	// Exactly one of counterURL and interceptorURL.
	CounterURL string `meta:"counterURL,optional,endpoint=url"`
	// CounterName is the metric: a counter of requests (targetRequestRate)
	// or a gauge of requests in flight (targetConcurrency). A histogram's or
	// summary's "<name>_count" is read as a counter. Required with
	// counterURL.
	CounterName string `meta:"counterName,optional"`
	// InterceptorURL is the admin endpoint of an ebb-interceptor, e.g.
	// http://ebb-interceptor-admin.ebb:9090; the trigger reads its Route's
	// counters there with the bearerToken.
	InterceptorURL string `meta:"interceptorURL,optional,endpoint=url"`
	// Route is the name of the interceptor's route from its --routes file,
	// e.g. shop/web. With interceptorURL, exactly one of route and host.
	Route string `meta:"route,optional"`
	// Host publishes a route to the interceptors that take their routes
	// from the cluster: requests for this host (and PathPrefix) go to the
	// Service. The route is named <namespace>/<scaledobject>/<trigger>.
	Host string `meta:"host,optional,from=metadata"`
	// PathPrefix limits the published route to a path prefix; default "/".
	PathPrefix string `meta:"pathPrefix,optional,from=metadata"`
	// Service is the Service, in the ScaledObject's namespace, whose ready
	// endpoints gate the route and that requests go to. Required with host.
	Service string `meta:"service,optional,from=metadata"`
	// Port is the Service's port. Required with host.
	Port int `meta:"port,optional,from=metadata"`
	// BackendProtocol is http1 (default) or h2c.
	BackendProtocol string `meta:"backendProtocol,default=http1,enum=http1|h2c,from=metadata"`
	// Backend overrides the URL requests go to; default
	// http://<service>.<namespace>.svc:<port>.
	Backend string `meta:"backend,optional,from=metadata"`
	// Labels select the series to sum: "k=v" (equal) or "k!=v" (not equal),
	// separated by commas. No labels: every series of the metric.
	Labels map[string]string `meta:"labels,optional"`
	// TargetRequestRate is the request rate (per second) one replica
	// handles. Exactly one of targetRequestRate and targetConcurrency.
	TargetRequestRate float64 `meta:"targetRequestRate,optional"`
	// TargetConcurrency is the number of requests in flight one replica
	// handles.
	TargetConcurrency float64 `meta:"targetConcurrency,optional"`
	// ActivationRequestRate: with targetRequestRate, the trigger is active
	// when the rate is above it.
	ActivationRequestRate float64 `meta:"activationRequestRate,optional,min=0"`
	// ActivationConcurrency: with targetConcurrency, the trigger is active
	// when the requests in flight are above it.
	ActivationConcurrency float64 `meta:"activationConcurrency,optional,min=0"`
	// Window is the span the rate is computed over.
	Window time.Duration `meta:"window,default=1m"`
	// IgnoreNullValues reads "no matching series" as 0 instead of an error.
	IgnoreNullValues bool `meta:"ignoreNullValues,default=false"`
	// Timeout bounds one scrape.
	Timeout time.Duration `meta:"timeout,default=10s,ms"`
	// BearerToken, from the TriggerAuthentication only, is sent as
	// "Authorization: Bearer <token>".
	BearerToken string `meta:"bearerToken,optional,secret,from=auth"`
}

// Bounds of the window.
const (
	minWindow = 2 * time.Second
	maxWindow = time.Hour
)

// Kinds of value.
const (
	kindRate        = "rate"
	kindConcurrency = "concurrency"
)

// Sources of the value.
const (
	modeCounter     = "counter"
	modeInterceptor = "interceptor"
)

// matcher is one label matcher.
type matcher struct {
	name  string
	value string
	not   bool
}

// settings is a checked Config in the form the scaler uses.
type settings struct {
	cfg        Config
	mode       string             // modeCounter or modeInterceptor
	route      *interceptor.Route // the route the trigger publishes (host set)
	url        string             // the counterURL, or the interceptor's /v1/routes URL for the route
	probeURL   string             // interceptor mode: /v1/routes for every route, shared by probes
	base       string             // interceptor mode: the admin endpoint, without a trailing /
	shown      string             // the counterURL as shown in errors: scheme://host/path
	kind       string             // kindRate or kindConcurrency
	target     float64
	activation float64
	matchers   []matcher
}

// parse reads and checks a trigger's metadata without I/O; Validate and New
// both run it.
func parse(t scalers.Trigger) (settings, error) {
	var cfg Config
	if err := scalers.ParseMetadata(t, &cfg); err != nil {
		return settings{}, err
	}
	s := settings{cfg: cfg}
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &scalers.FieldError{Trigger: t.String(), Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if _, ok := t.Metadata["bearerToken"]; ok {
		bad("bearerToken", "is a credential: set it in a TriggerAuthentication, not in the trigger's metadata")
	}

	switch {
	case cfg.InterceptorURL != "" && cfg.CounterURL != "":
		bad("interceptorURL", "and counterURL are both set; expected one of them")
	case cfg.InterceptorURL != "":
		s.mode = modeInterceptor
		parseInterceptor(t, &s, bad)
	case cfg.CounterURL == "":
		bad("counterURL", "is required (a Prometheus-format endpoint such as http://app.shop:8080/metrics), or interceptorURL (an ebb-interceptor's admin endpoint)")
	default:
		s.mode = modeCounter
		parseCounter(&s, bad)
		for _, key := range []string{"route", "host", "pathPrefix", "service", "port", "backend", "backendProtocol"} {
			if _, ok := t.Metadata[key]; ok {
				bad(key, "goes with interceptorURL; with counterURL the counter endpoint is read directly")
			}
		}
	}

	rate, conc := cfg.TargetRequestRate != 0, cfg.TargetConcurrency != 0
	switch {
	case rate && conc:
		bad("targetRequestRate", "and targetConcurrency are both set; expected one of them")
	case rate:
		if !(cfg.TargetRequestRate > 0) {
			bad("targetRequestRate", "expected a number greater than 0, found %g", cfg.TargetRequestRate)
		}
		if _, ok := t.Metadata["activationConcurrency"]; ok {
			bad("activationConcurrency", "goes with targetConcurrency; with targetRequestRate set activationRequestRate")
		}
		s.kind, s.target, s.activation = kindRate, cfg.TargetRequestRate, cfg.ActivationRequestRate
	case conc:
		if !(cfg.TargetConcurrency > 0) {
			bad("targetConcurrency", "expected a number greater than 0, found %g", cfg.TargetConcurrency)
		}
		if _, ok := t.Metadata["activationRequestRate"]; ok {
			bad("activationRequestRate", "goes with targetRequestRate; with targetConcurrency set activationConcurrency")
		}
		s.kind, s.target, s.activation = kindConcurrency, cfg.TargetConcurrency, cfg.ActivationConcurrency
	default:
		bad("targetRequestRate", "is required (requests per second per replica), or targetConcurrency (requests in flight per replica)")
	}

	if cfg.Window < minWindow || cfg.Window > maxWindow {
		bad("window", "expected a duration from %s to %s, found %s", minWindow, maxWindow, cfg.Window)
	}
	if cfg.Timeout <= 0 || cfg.Timeout > time.Minute {
		bad("timeout", "expected a duration greater than 0 and at most 1m, found %s", cfg.Timeout)
	}
	if len(errs) > 0 {
		return settings{}, errors.Join(errs...)
	}
	return s, nil
}

// parseCounter checks the keys of counter-endpoint mode.
func parseCounter(s *settings, bad func(key, format string, args ...any)) {
	cfg := s.cfg
	u, err := url.Parse(cfg.CounterURL)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		bad("counterURL", "expected an http:// or https:// URL such as http://app.shop:8080/metrics, found %q", scalers.RedactString(cfg.CounterURL))
	case u.Scheme != "http" && u.Scheme != "https":
		bad("counterURL", "expected an http:// or https:// URL, found scheme %q", u.Scheme)
	case u.User != nil:
		bad("counterURL", "must not carry credentials (user:password@); put a bearerToken in a TriggerAuthentication")
	case u.Fragment != "":
		bad("counterURL", "must not have a fragment")
	default:
		s.url = u.String()
		shown := *u
		shown.RawQuery = ""
		s.shown = shown.String()
	}

	if !validMetricName(cfg.CounterName) {
		bad("counterName", "expected a metric name such as http_requests_total, found %q", cfg.CounterName)
	}
	for _, k := range sortedKeys(cfg.Labels) {
		name, not := strings.CutSuffix(k, "!")
		name = strings.TrimSpace(name)
		if !validLabelName(name) {
			bad("labels", "has %q, which is not a label name; expected name=value or name!=value pairs separated by commas", k)
			continue
		}
		s.matchers = append(s.matchers, matcher{name: name, value: cfg.Labels[k], not: not})
	}
}

// parseInterceptor checks the keys of interceptor mode and sets the URL of
// the route's counters.
func parseInterceptor(t scalers.Trigger, s *settings, bad func(key, format string, args ...any)) {
	cfg := s.cfg
	switch {
	case cfg.Host != "" && cfg.Route != "":
		bad("route", "and host are both set; expected one of them: host publishes a route named %s to interceptors that read routes from the cluster, route names one from an interceptor's --routes file", RouteName(t))
	case cfg.Host != "":
		s.route = parseRoute(t, cfg, bad)
		s.cfg.Route = RouteName(t)
	case strings.TrimSpace(cfg.Route) == "":
		bad("route", "is required with interceptorURL: the name of the interceptor's route, e.g. shop/web (or set host to publish a route from this trigger)")
	default:
		for _, key := range []string{"pathPrefix", "service", "port", "backend", "backendProtocol"} {
			if _, ok := t.Metadata[key]; ok {
				bad(key, "goes with host; with route the interceptor's --routes file says where requests go")
			}
		}
	}
	u, err := url.Parse(cfg.InterceptorURL)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		bad("interceptorURL", "expected an http:// or https:// URL such as http://ebb-interceptor-admin.ebb:9090, found %q", scalers.RedactString(cfg.InterceptorURL))
	case u.Scheme != "http" && u.Scheme != "https":
		bad("interceptorURL", "expected an http:// or https:// URL, found scheme %q", u.Scheme)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		bad("interceptorURL", "expected scheme://host[:port][/path] without credentials, query or fragment; the token goes in a TriggerAuthentication as bearerToken")
	default:
		s.base = strings.TrimSuffix(u.String(), "/")
		q := url.Values{"route": {s.cfg.Route}, "window": {cfg.Window.String()}}
		s.url = strings.TrimSuffix(u.String(), "/") + "/v1/routes?" + q.Encode()
		s.probeURL = strings.TrimSuffix(u.String(), "/") + "/v1/routes?" + url.Values{"window": {cfg.Window.String()}}.Encode()
		s.shown = strings.TrimSuffix(u.String(), "/") + "/v1/routes"
	}
	if cfg.BearerToken == "" && !t.AuthPending {
		bad("bearerToken", "is required with interceptorURL: the interceptor's admin token, from a TriggerAuthentication")
	}
	for _, key := range []string{"counterName", "labels", "ignoreNullValues"} {
		if _, ok := t.Metadata[key]; ok {
			bad(key, "goes with counterURL; with interceptorURL the route key selects the counters")
		}
	}
}

// validMetricName accepts the classic metric name syntax
// [a-zA-Z_:][a-zA-Z0-9_:]*.
func validMetricName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c == ':':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// validLabelName accepts [a-zA-Z_][a-zA-Z0-9_]*.
func validLabelName(s string) bool {
	return validMetricName(s) && !strings.Contains(s, ":")
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
