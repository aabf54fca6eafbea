// SPDX-License-Identifier: Apache-2.0

// Command ebb-interceptor is the reverse proxy in front of HTTP workloads
// scaled by Ebb: it routes by Host and path prefix, counts each route's
// request rate and requests in flight, holds requests while a route's
// Service has no ready endpoint, signals the operator when a request is
// held, and serves its counters to the operator. Its routes come from a
// file (--routes) or, without one, from the ScaledObjects in the cluster
// (package scalers/http/clusterroutes). Package scalers/http/interceptor is
// its library; this is flags and wiring.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"

	"github.com/ebbscale/ebb/scalers/http/clusterroutes"
	"github.com/ebbscale/ebb/scalers/http/hostclaims"
	"github.com/ebbscale/ebb/scalers/http/interceptor"
	"github.com/ebbscale/ebb/scalers/http/interceptor/readiness"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "ebb-interceptor:", err)
		os.Exit(1)
	}
}

// flags are the command line.
type flags struct {
	routesFile  string
	namespace   string
	noEvents    bool
	proxyAddr   string
	adminAddr   string
	tokenFile   string
	kubeconfig  string
	window      time.Duration
	bucket      time.Duration
	holdTimeout time.Duration
	maxHeld     int
	maxPerRoute int
	retryAfter  time.Duration
	respTimeout time.Duration
	drain       time.Duration
	domain      string
	pins        map[string]string
	claimsNS    string
	grants      hostclaims.Grants
	// metricsSecure puts /metrics behind the API server's authentication
	// and authorization.
	metricsSecure bool
}

func parseFlags(args []string, out io.Writer) (flags, error) {
	var f flags
	fs := flag.NewFlagSet("ebb-interceptor", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&f.routesFile, "routes", "", `JSON file of the routes: {"routes": [{"name", "host", "pathPrefix", "backend", "backendProtocol", "namespace", "service"}]}; without it the routes come from the ScaledObjects in the cluster (http triggers with a host)`)
	fs.StringVar(&f.namespace, "namespace", "", "with routes from the cluster: watch ScaledObjects in this namespace only; empty: all namespaces")
	fs.BoolVar(&f.noEvents, "no-events", false, "with routes from the cluster: do not record Events on ScaledObjects whose route is left out (they are logged either way)")
	fs.StringVar(&f.proxyAddr, "proxy-address", ":8080", "address the proxy listens on (HTTP/1.1 and h2c)")
	fs.StringVar(&f.adminAddr, "admin-address", ":9090", "address of the admin endpoint: /v1/routes and /v1/activations (bearer token), /metrics, /healthz")
	fs.StringVar(&f.tokenFile, "token-file", "", "file holding the bearer token /v1/routes requires (required; e.g. a mounted Secret)")
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig for watching ScaledObjects and EndpointSlices; empty: in-cluster config. Unused when a --routes file names no Service")
	fs.DurationVar(&f.window, "window", time.Minute, "span of the request rate")
	fs.DurationVar(&f.bucket, "bucket", time.Second, "bucket of the request rate's sliding window")
	fs.DurationVar(&f.holdTimeout, "hold-timeout", 30*time.Second, "how long a request waits for a ready endpoint before a 503")
	fs.IntVar(&f.maxHeld, "max-held", 10000, "requests held at once, all routes")
	fs.IntVar(&f.maxPerRoute, "max-held-per-route", 1000, "requests held at once per route")
	fs.DurationVar(&f.retryAfter, "retry-after", time.Second, "Retry-After of the interceptor's 503s (whole seconds)")
	fs.DurationVar(&f.respTimeout, "response-header-timeout", 0, "bound on a backend's response headers; 0: none (the client's own timeout applies)")
	fs.BoolVar(&f.metricsSecure, "metrics-secure", false, "serve /metrics only to callers whose bearer token passes a TokenReview and who may GET the non-resource URL /metrics (a SubjectAccessReview); needs a Kubernetes client config")
	fs.DurationVar(&f.drain, "shutdown-timeout", 25*time.Second, "on SIGTERM, how long requests in flight may finish")
	fs.StringVar(&f.domain, "cluster-domain", "cluster.local", "with routes from the cluster: the cluster's DNS domain; a route's Service is dialed as <service>.<namespace>.svc.<domain>.")
	fs.StringVar(&f.claimsNS, "host-claims-namespace", "", "with routes from the cluster: the namespace of the operator's host claims (ConfigMap "+hostclaims.Name+"), which give each host to one namespace across restarts; empty: a host belongs to the namespace of its oldest ScaledObject with a route on it")
	fs.Func("host-grant", "with routes from the cluster: namespace=host[,host...]: let a namespace publish routes for these host globs (*.example.com), which no other namespace may then use (repeatable)", func(v string) error {
		g, err := hostclaims.ParseGrant(v)
		if err == nil {
			f.grants = append(f.grants, g)
		}
		return err
	})
	f.pins = map[string]string{}
	fs.Func("resolve", "pin a backend host:port to an address, as host:port=address:port (like curl's --resolve; repeatable). A pinned address is dialed even where routes from the cluster may not reach it (loopback, link-local)", func(v string) error {
		from, to, err := interceptor.ParsePin(v)
		if err == nil {
			f.pins[from] = to
		}
		return err
	})
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if f.routesFile != "" && (f.namespace != "" || f.noEvents || f.domain != "cluster.local" || f.claimsNS != "" || f.grants != nil) {
		return f, errors.New("--namespace, --no-events, --cluster-domain, --host-claims-namespace and --host-grant go with routes from the cluster; with --routes the file gives the routes")
	}
	if f.tokenFile == "" {
		return f, errors.New("--token-file is required: the operator reads the counters with that token")
	}
	return f, nil
}

// routesFile is the --routes file.
type routesFile struct {
	Routes []interceptor.Route `json:"routes"`
}

// run serves until ctx ends. ready, if not nil, gets the proxy's and the
// admin endpoint's addresses once both listen (for tests).
func run(ctx context.Context, args []string, logOut io.Writer, ready func(proxy, admin net.Addr)) error {
	f, err := parseFlags(args, logOut)
	if err != nil {
		return err
	}
	log := zap.New(zap.WriteTo(logOut))

	var rf routesFile
	if f.routesFile != "" {
		raw, err := os.ReadFile(f.routesFile)
		if err != nil {
			return fmt.Errorf("read --routes: %w", err)
		}
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rf); err != nil {
			return fmt.Errorf("--routes %s: %w", f.routesFile, err)
		}
	}
	tok, err := os.ReadFile(f.tokenFile)
	if err != nil {
		return fmt.Errorf("read --token-file: %w", err)
	}
	token := strings.TrimSpace(string(tok))
	if token == "" {
		return fmt.Errorf("--token-file %s is empty", f.tokenFile)
	}

	ic, err := interceptor.New(interceptor.Config{
		Routes: rf.Routes, Window: f.window, Bucket: f.bucket,
		HoldTimeout: f.holdTimeout, MaxHeld: f.maxHeld, MaxHeldPerRoute: f.maxPerRoute,
		RetryAfter: f.retryAfter, ResponseHeaderTimeout: f.respTimeout,
		// Routes from the cluster are tenants': their connections may not
		// reach loopback or link-local addresses (the cloud metadata
		// service), whatever a name resolves to.
		Dial: (&interceptor.Dialer{Guard: f.routesFile == "", Pins: f.pins}).DialContext,
	})
	if err != nil {
		return fmt.Errorf("--routes %s: %w", f.routesFile, err)
	}
	defer ic.CloseIdleConnections()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var collectors []prometheus.Collector // besides the routes' counters
	switch svcs := ic.Services(); {
	case f.routesFile == "":
		cfg, err := restConfig(f.kubeconfig, "routes come from the ScaledObjects in the cluster without --routes")
		if err != nil {
			return err
		}
		kc, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return err
		}
		rw := readiness.NewWatcher(kc, ic, nil)
		if err := rw.Run(ctx); err != nil {
			return err
		}
		sy := &clusterroutes.Syncer{Config: cfg, Namespace: f.namespace, Interceptor: ic, Readiness: rw, Log: log, NoEvents: f.noEvents, ClusterDomain: f.domain,
			ClaimsNamespace: f.claimsNS, Grants: f.grants}
		if err := sy.Run(ctx); err != nil {
			return err
		}
		collectors = append(collectors, sy)
		where := "all namespaces"
		if f.namespace != "" {
			where = "namespace " + f.namespace
		}
		log.Info("Taking routes from the ScaledObjects", "in", where, "routes", len(ic.Routes()))
	case len(svcs) > 0:
		cfg, err := restConfig(f.kubeconfig, "routes name Services, whose EndpointSlices gate them")
		if err != nil {
			return err
		}
		kc, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return err
		}
		if err := readiness.NewWatcher(kc, ic, svcs).Run(ctx); err != nil {
			return err
		}
		log.Info("Watching EndpointSlices", "services", len(svcs))
	}

	proxyLn, err := net.Listen("tcp", f.proxyAddr)
	if err != nil {
		return fmt.Errorf("--proxy-address: %w", err)
	}
	adminLn, err := net.Listen("tcp", f.adminAddr)
	if err != nil {
		proxyLn.Close()
		return fmt.Errorf("--admin-address: %w", err)
	}
	proxy := interceptor.NewServer("", ic)
	adminHandler := ic.AdminHandler(token, collectors...)
	if f.metricsSecure {
		if adminHandler, err = secureMetrics(f.kubeconfig, log, adminHandler); err != nil {
			proxyLn.Close()
			adminLn.Close()
			return err
		}
	}
	admin := &http.Server{Handler: adminHandler, ReadHeaderTimeout: 10 * time.Second}

	errc := make(chan error, 2)
	go func() { errc <- serve(proxy, proxyLn, "proxy") }()
	go func() { errc <- serve(admin, adminLn, "admin endpoint") }()
	log.Info("Serving", "proxy", proxyLn.Addr().String(), "admin", adminLn.Addr().String(), "routes", len(ic.Routes()))
	if ready != nil {
		ready(proxyLn.Addr(), adminLn.Addr())
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	cancel()
	shutdown(log, proxy, admin, f.drain)
	return serveErr
}

// secureMetrics puts the admin endpoint's /metrics behind the API server's
// authentication and authorization (controller-runtime's filter, as the
// operator's --metrics-secure): a TokenReview of the caller's bearer token,
// then a SubjectAccessReview for GET /metrics. The other paths keep their
// own checks (/v1/ the admin token; /healthz none).
func secureMetrics(kubeconfig string, log logr.Logger, admin http.Handler) (http.Handler, error) {
	cfg, err := restConfig(kubeconfig, "--metrics-secure")
	if err != nil {
		return nil, err
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("--metrics-secure: %w", err)
	}
	filter, err := filters.WithAuthenticationAndAuthorization(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("--metrics-secure: %w", err)
	}
	metrics, err := filter(log.WithName("metrics"), admin)
	if err != nil {
		return nil, fmt.Errorf("--metrics-secure: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", metrics)
	mux.Handle("/", admin)
	return mux, nil
}

func serve(s *http.Server, ln net.Listener, what string) error {
	if err := s.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// shutdown lets requests in flight finish for up to drain, then closes what
// is left (held requests, WebSockets, streams).
func shutdown(log logr.Logger, proxy, admin *http.Server, drain time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := proxy.Shutdown(ctx); err != nil {
		log.Info("Closing connections still open at shutdown", "reason", err.Error())
		_ = proxy.Close()
	}
	_ = admin.Close()
}

func restConfig(kubeconfig, why string) (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	if kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
	} else {
		cfg, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes client config (%s): %w", why, err)
	}
	cfg.UserAgent = "ebb-interceptor"
	return cfg, nil
}
