// SPDX-License-Identifier: Apache-2.0

// Command ebb-operator runs Ebb's controller, scale loop, metrics adapter and
// admission webhook in one process.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/cmd/internal/triggers"
	"github.com/ebbscale/ebb/controller"
	"github.com/ebbscale/ebb/internal/owner"
	"github.com/ebbscale/ebb/metricsadapter"
	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/http/hostclaims"
)

// version is the operator's version, set at build time with
// -ldflags "-X main.version=v1.2.3"; ebb_build_info reports it.
var version = "dev"

func main() {
	if err := run(ctrl.SetupSignalHandler(), os.Args[1:], os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "ebb-operator:", err)
		os.Exit(1)
	}
}

// config holds the operator's flags.
type config struct {
	kubeconfig     string
	namespace      string
	metricsAddr    string
	metricsSecure  bool
	metricsCertDir string
	enableHTTP2    bool
	scaledJobs     bool
	workload       bool
	probeAddr      string
	leaderElect    bool
	qps            float64
	burst          int
	reconciles     int
	pollWorkers    int
	hpaSyncPeriod  time.Duration
	webhook        bool
	webhookPort    int
	webhookHost    string
	webhookCertDir string
	// The generated webhook certificate (no --webhook-cert-dir).
	webhookCASecret      string
	ownerDeployment      string
	webhookServiceName   string
	webhookConfiguration string
	webhookCertValidity  time.Duration

	interceptorTokenSecret string
	ctaOpenByDefault       bool
	hostClaims             bool
	hostClaimsGrace        time.Duration
	hostGrants             hostclaims.Grants
	logDevelopment         bool
	logVerbosity           int

	adapter             bool
	adapterBindAddress  string
	adapterPort         int
	adapterCertDir      string
	adapterCertValidity time.Duration
	adapterServiceName  string
	adapterAPIService   string
	adapterCASecret     string

	// Delegation of the external metrics no ScaledObject serves.
	delegateAddress    string
	delegateServerName string
	delegateCAFile     string
	delegateInsecure   bool
	delegateClientCert string
	delegateTimeout    time.Duration

	// The egress policy of the scalers' connections.
	egressAllow          []string
	egressDeny           []string
	egressAllowLinkLocal bool
}

func parseFlags(args []string, out io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("ebb-operator", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.kubeconfig, "kubeconfig", "", "kubeconfig file; in-cluster config or $KUBECONFIG when empty")
	fs.StringVar(&c.namespace, "namespace", envOr("POD_NAMESPACE", "ebb-system"), "the operator's namespace: ClusterTriggerAuthentication secrets and the leader lease live here")
	fs.StringVar(&c.metricsAddr, "metrics-bind-address", ":8080", "address of the Prometheus metrics endpoint; 0 disables it")
	fs.BoolVar(&c.metricsSecure, "metrics-secure", false, "serve the metrics endpoint over HTTPS to authenticated and authorized callers only: "+
		"a bearer token checked with a TokenReview, then a SubjectAccessReview for GET on the non-resource URL /metrics")
	fs.StringVar(&c.metricsCertDir, "metrics-cert-dir", "", "folder with tls.crt and tls.key for the secure metrics endpoint, reloaded when they change; a self-signed certificate when empty")
	fs.BoolVar(&c.enableHTTP2, "enable-http2", false, "offer HTTP/2 on the webhook and the secure metrics endpoint (off: HTTP/1.1 only, which the API server's webhook client uses, and no exposure to HTTP/2 stream attacks)")
	fs.BoolVar(&c.workload, "kubernetes-workload", true, "serve kubernetes-workload triggers (needs the permission to list and watch pods); when false, the webhook refuses them")
	fs.BoolVar(&c.scaledJobs, "scaled-jobs", true, "run ScaledJobs (needs the permissions to create Jobs and list pods); when false, the webhook refuses new ScaledJobs")
	fs.StringVar(&c.probeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz; 0 disables them")
	fs.BoolVar(&c.leaderElect, "leader-elect", false, "elect a leader among replicas; only the leader reconciles and scales")
	fs.Float64Var(&c.qps, "kube-api-qps", 200, "queries per second to the API server")
	fs.IntVar(&c.burst, "kube-api-burst", 400, "burst of queries to the API server")
	fs.IntVar(&c.reconciles, "max-concurrent-reconciles", 32, "ScaledObjects reconciled at once")
	fs.IntVar(&c.pollWorkers, "poll-workers", 64, "trigger polls run at once")
	fs.DurationVar(&c.hpaSyncPeriod, "hpa-sync-period", controller.DefaultHPASyncPeriod, "the cluster's --horizontal-pod-autoscaler-sync-period: while a target runs, the metrics adapter reads its source again "+
		"when the HPA asks for a value older than a sixteenth of it, so that a burst reaches the HPA within one sync")
	fs.BoolVar(&c.webhook, "webhook", true, "serve the admission webhook")
	fs.IntVar(&c.webhookPort, "webhook-port", 9443, "port of the admission webhook")
	fs.StringVar(&c.webhookHost, "webhook-host", "", "address the admission webhook listens on; all when empty")
	fs.StringVar(&c.webhookCertDir, "webhook-cert-dir", "", "folder with tls.crt and tls.key for the webhook (cert-manager's, say); "+
		"when empty the operator makes a serving certificate signed by the CA in --webhook-ca-secret and puts the CA into --webhook-configuration")
	fs.StringVar(&c.ownerDeployment, "owner-deployment", "", "the operator's Deployment in --namespace, made the owner of what the operator makes there at run time (its CA Secrets, the interceptor's token, the host claims, the leader Lease), so that they go with it; empty: they have no owner")
	fs.StringVar(&c.webhookCASecret, "webhook-ca-secret", "ebb-webhook-ca", "Secret in --namespace that keeps the webhook's generated CA, shared by the replicas and kept across restarts")
	fs.StringVar(&c.webhookServiceName, "webhook-service-name", "ebb-webhook", "name of the webhook's Service in --namespace; a generated certificate is made for <name>.<namespace>.svc")
	fs.StringVar(&c.webhookConfiguration, "webhook-configuration", "ebb-operator", "ValidatingWebhookConfiguration whose caBundle the operator keeps equal to its generated CA; empty: none")
	fs.DurationVar(&c.webhookCertValidity, "webhook-cert-validity", metricsadapter.DefaultCertValidity, "validity of a generated webhook certificate; renewed after two thirds of it")
	fs.StringVar(&c.interceptorTokenSecret, "interceptor-token-secret", "", "Secret in --namespace with ebb-interceptor's admin token (key token): made with a random token when absent; empty: none")
	fs.BoolVar(&c.hostClaims, "host-claims", false, "keep the host claims of ebb-interceptor's routes from the cluster (ConfigMap "+hostclaims.Name+" in --namespace; docs/interceptor.md) and refuse at admission a host another namespace owns")
	fs.DurationVar(&c.hostClaimsGrace, "host-claims-grace", hostclaims.DefaultGrace, "with --host-claims: how long a namespace keeps a host after its last route on it goes")
	fs.Func("host-grant", "with --host-claims: namespace=host[,host...]: let a namespace publish routes for these host globs (*.example.com), which no other namespace may then use (repeatable; as the interceptors' --host-grant)", func(v string) error {
		g, err := hostclaims.ParseGrant(v)
		if err == nil {
			c.hostGrants = append(c.hostGrants, g)
		}
		return err
	})
	fs.BoolVar(&c.adapter, "adapter", true, "serve the metrics adapter (external.metrics.k8s.io) the HPAs read")
	fs.StringVar(&c.adapterBindAddress, "adapter-bind-address", "", "IP address the metrics adapter listens on; all when empty")
	fs.IntVar(&c.adapterPort, "adapter-port", 6443, "port of the metrics adapter")
	fs.StringVar(&c.adapterCertDir, "adapter-cert-dir", "", "folder with tls.crt and tls.key for the metrics adapter, reloaded when they change; "+
		"when empty the operator makes a CA and a serving certificate, renews the certificate, and puts the CA into --adapter-apiservice")
	fs.DurationVar(&c.adapterCertValidity, "adapter-cert-validity", metricsadapter.DefaultCertValidity, "validity of a generated serving certificate; renewed after two thirds of it")
	fs.StringVar(&c.adapterServiceName, "adapter-service-name", "ebb-metrics-adapter", "name of the Service in --namespace the APIService points at; a generated certificate is made for <name>.<namespace>.svc")
	fs.StringVar(&c.adapterAPIService, "adapter-apiservice", metricsadapter.DefaultAPIService, "APIService whose caBundle the operator keeps equal to its generated CA; empty: none")
	fs.StringVar(&c.adapterCASecret, "adapter-ca-secret", "ebb-metrics-adapter-ca", "Secret in --namespace that keeps the generated CA, shared by the replicas and kept across restarts; "+
		"empty: a new CA in memory at each start (one replica only)")
	fs.StringVar(&c.delegateAddress, "adapter-delegate-address", "", "host:port of another external metrics adapter (the backend of the APIService Ebb replaced, KEDA's metrics server say, "+
		"at <service>.<namespace>.svc:<port>) that answers every external metric no ScaledObject serves, and whose metrics are listed with Ebb's (docs/migrating-from-keda.md); empty: none")
	fs.StringVar(&c.delegateServerName, "adapter-delegate-server-name", "", "name the delegated adapter's serving certificate is checked against; empty: the host of --adapter-delegate-address")
	fs.StringVar(&c.delegateCAFile, "adapter-delegate-ca-file", "", "PEM CA bundle that verifies the delegated adapter (the caBundle of its APIService)")
	fs.BoolVar(&c.delegateInsecure, "adapter-delegate-insecure-skip-tls-verify", false, "do not verify the delegated adapter's certificate (when its APIService had insecureSkipTLSVerify)")
	fs.StringVar(&c.delegateClientCert, "adapter-delegate-client-cert-dir", "", "folder with tls.crt and tls.key: a client certificate signed by the API server's front-proxy CA with a name in --requestheader-allowed-names; "+
		"the caller's identity then goes to the delegated adapter in the front-proxy headers, so its authorization applies to the caller. "+
		"Empty: the operator's ServiceAccount token, and the delegated adapter sees the operator")
	fs.DurationVar(&c.delegateTimeout, "adapter-delegate-timeout", metricsadapter.DefaultDelegateTimeout, "bound on one read from the delegated adapter")
	fs.BoolVar(&c.ctaOpenByDefault, "cta-open-by-default", false, "let every namespace use a ClusterTriggerAuthentication that sets neither spec.allowedNamespaces nor spec.namespaceSelector (KEDA's behaviour); "+
		"off, such a ClusterTriggerAuthentication serves no namespace")
	fs.Func("egress-allow", "destinations the scalers may connect to, comma-separated, repeatable: CIDRs, IP addresses, host names, *.suffix; "+
		"when set, only these are reachable (docs/security.md)", func(v string) error {
		c.egressAllow = append(c.egressAllow, scalers.SplitDestinations(v)...)
		return nil
	})
	fs.Func("egress-deny", "destinations the scalers must not connect to, comma-separated, repeatable: CIDRs, IP addresses, host names, *.suffix; "+
		"deny wins over allow; link-local addresses ("+strings.Join(scalers.LinkLocalDestinations(), ", ")+") are always refused unless --egress-allow-link-local", func(v string) error {
		c.egressDeny = append(c.egressDeny, scalers.SplitDestinations(v)...)
		return nil
	})
	fs.BoolVar(&c.egressAllowLinkLocal, "egress-allow-link-local", false, "let scalers connect to link-local addresses, where the cloud metadata service answers")
	fs.BoolVar(&c.logDevelopment, "log-development", false, "human-readable logs")
	fs.IntVar(&c.logVerbosity, "v", 0, "log verbosity: 0 or 1")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if c.delegateAddress == "" && (c.delegateCAFile != "" || c.delegateInsecure || c.delegateClientCert != "" || c.delegateServerName != "") {
		return c, errors.New("the --adapter-delegate-... flags need --adapter-delegate-address")
	}
	if c.delegateTimeout <= 0 || c.delegateTimeout >= 25*time.Second {
		return c, fmt.Errorf("--adapter-delegate-timeout must be positive and below the adapter's own 25 s bound, not %s", c.delegateTimeout)
	}
	if c.hpaSyncPeriod <= 0 {
		return c, fmt.Errorf("--hpa-sync-period must be positive, not %s", c.hpaSyncPeriod)
	}
	if _, err := c.egress(); err != nil {
		return c, err
	}
	return c, nil
}

// egress is the policy the flags describe.
func (c config) egress() (*scalers.Egress, error) {
	return scalers.NewEgress(scalers.EgressRules{Allow: c.egressAllow, Deny: c.egressDeny, AllowLinkLocal: c.egressAllowLinkLocal})
}

// metricsOptions configure the metrics endpoint: plain HTTP, or with
// --metrics-secure HTTPS behind the API server's authentication and
// authorization (controller-runtime's filter: the caller's bearer token is
// checked with a TokenReview, then GET /metrics with a SubjectAccessReview).
func metricsOptions(c config) metricsserver.Options {
	o := metricsserver.Options{BindAddress: c.metricsAddr}
	if !c.metricsSecure {
		return o
	}
	o.SecureServing = true
	o.FilterProvider = filters.WithAuthenticationAndAuthorization
	o.CertDir = c.metricsCertDir
	if !c.enableHTTP2 {
		o.TLSOpts = append(o.TLSOpts, http1Only)
	}
	return o
}

// http1Only offers HTTP/1.1 alone in a TLS server's ALPN: HTTP/2's stream
// handling (rapid reset, CVE-2023-44487, and its kin) stays out of the
// operator's reach unless --enable-http2 asks for it.
func http1Only(t *tls.Config) { t.NextProtos = []string{"http/1.1"} }

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// run starts the operator and blocks until ctx ends. restCfg, when set,
// replaces the kubeconfig lookup (tests).
func run(ctx context.Context, args []string, logOut io.Writer, restCfg *rest.Config) error {
	c, err := parseFlags(args, logOut)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(logOut), zap.UseDevMode(c.logDevelopment), zap.Level(zapLevel(c.logVerbosity))))
	// The metrics adapter's API server library logs through klog.
	klog.SetLogger(ctrl.Log.WithName("apiserver"))
	log := ctrl.Log.WithName("ebb-operator")
	triggers.SetLogger(ctrl.Log.WithName("scalers"))

	if restCfg == nil {
		if c.kubeconfig != "" {
			os.Setenv("KUBECONFIG", c.kubeconfig)
		}
		if restCfg, err = ctrl.GetConfig(); err != nil {
			return fmt.Errorf("finding the API server: %w", err)
		}
	}
	restCfg = rest.CopyConfig(restCfg)
	restCfg.QPS, restCfg.Burst = float32(c.qps), c.burst
	restCfg.UserAgent = "ebb-operator"

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	opts := ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsOptions(c),
		HealthProbeBindAddress:  c.probeAddr,
		LeaderElection:          c.leaderElect,
		LeaderElectionID:        "ebb-operator.ebb.dev",
		LeaderElectionNamespace: c.namespace,
		// Managed fields are never read here; dropping them from the cache
		// saves memory per ScaledObject and per HPA.
		Cache: cache.Options{DefaultTransform: cache.TransformStripManagedFields()},
	}
	kc, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return fmt.Errorf("creating a client: %w", err)
	}
	octx, cancel := context.WithTimeout(ctx, 30*time.Second)
	owners, err := owner.Deployment(octx, kc, c.namespace, c.ownerDeployment)
	if err == nil && c.leaderElect {
		err = ensureLease(octx, kc, c.namespace, opts.LeaderElectionID, owners)
	}
	cancel()
	if err != nil {
		return err
	}
	var webhookCert *metricsadapter.WebhookCert
	if c.webhook {
		wo := webhook.Options{Host: c.webhookHost, Port: c.webhookPort, CertDir: c.webhookCertDir}
		if !c.enableHTTP2 {
			wo.TLSOpts = append(wo.TLSOpts, http1Only)
		}
		if c.webhookCertDir == "" {
			sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			webhookCert, err = metricsadapter.NewWebhookCert(sctx, kc, metricsadapter.WebhookCertOptions{
				Namespace: c.namespace, CASecret: c.webhookCASecret, Owners: owners, ServiceName: c.webhookServiceName,
				Configuration: c.webhookConfiguration, Validity: c.webhookCertValidity, Log: ctrl.Log.WithName("webhook"),
			})
			cancel()
			if err != nil {
				return err
			}
			wo.TLSOpts = append(wo.TLSOpts, func(t *tls.Config) { t.GetCertificate = webhookCert.GetCertificate })
		}
		opts.WebhookServer = webhook.NewServer(wo)
	}
	if c.interceptorTokenSecret != "" {
		tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		created, err := ensureInterceptorToken(tctx, kc, c.namespace, c.interceptorTokenSecret, owners)
		cancel()
		if err != nil {
			return err
		}
		if created {
			log.Info("Made the interceptor's admin token", "secret", c.namespace+"/"+c.interceptorTokenSecret)
		}
	}
	mgr, err := ctrl.NewManager(restCfg, opts)
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	if webhookCert != nil {
		if err := mgr.Add(webhookCert); err != nil {
			return err
		}
	}
	egress, err := c.egress()
	if err != nil {
		return err
	}
	reg, err := triggers.RegistryWithCluster(egress, triggers.Cluster{Kube: kc, NoWorkload: !c.workload})
	if err != nil {
		return err
	}
	copts := controller.Options{
		Registry:                reg,
		OperatorNamespace:       c.namespace,
		CTAOpenByDefault:        c.ctaOpenByDefault,
		MaxConcurrentReconciles: c.reconciles,
		PollWorkers:             c.pollWorkers,
		HPASyncPeriod:           c.hpaSyncPeriod,
		Webhook:                 c.webhook,
		DisableScaledJobs:       !c.scaledJobs,
	}
	if c.hostClaims {
		copts.HostClaims = &controller.HostClaimsOptions{Grace: c.hostClaimsGrace, Grants: c.hostGrants, Owners: owners}
	}
	loop, err := controller.Setup(mgr, copts)
	if err != nil {
		return err
	}
	// Ebb's metrics go on controller-runtime's registry, which the manager's
	// metrics endpoint serves with the reconcile and work queue metrics.
	if loop.Metrics, err = controller.NewMetrics(ctrlmetrics.Registry, mgr.GetCache(), version); err != nil {
		return fmt.Errorf("registering the metrics: %w", err)
	}
	if c.adapter {
		var delegate *metricsadapter.Delegate
		if c.delegateAddress != "" {
			do := metricsadapter.DelegateOptions{
				Address: c.delegateAddress, ServerName: c.delegateServerName,
				CAFile: c.delegateCAFile, InsecureSkipTLSVerify: c.delegateInsecure,
				BearerToken: restCfg.BearerToken, BearerTokenFile: restCfg.BearerTokenFile,
				Timeout: c.delegateTimeout, Log: ctrl.Log.WithName("adapter").WithName("delegate"),
			}
			if c.delegateClientCert != "" {
				do.ClientCertFile, do.ClientKeyFile = filepath.Join(c.delegateClientCert, "tls.crt"), filepath.Join(c.delegateClientCert, "tls.key")
				do.BearerToken, do.BearerTokenFile = "", ""
			}
			if delegate, err = metricsadapter.NewDelegate(do); err != nil {
				return err
			}
			if err := mgr.Add(delegate); err != nil {
				return err
			}
			log.Info("Delegating the external metrics no ScaledObject serves", "address", c.delegateAddress, "callerIdentity", delegate.ForwardsIdentity())
		}
		so := metricsadapter.ServerOptions{
			BindAddress:      c.adapterBindAddress,
			Port:             c.adapterPort,
			CertDir:          c.adapterCertDir,
			CertValidity:     c.adapterCertValidity,
			ServiceName:      c.adapterServiceName,
			ServiceNamespace: c.namespace,
			APIService:       c.adapterAPIService,
			CASecret:         c.adapterCASecret,
			CASecretOwners:   owners,
			Registerer:       ctrlmetrics.Registry,
			Log:              ctrl.Log.WithName("adapter"),
		}
		if delegate != nil {
			so.Delegate = delegate
		}
		adapter, err := metricsadapter.NewServer(restCfg, loop, so)
		if err != nil {
			return err
		}
		if err := mgr.Add(adapter); err != nil {
			return err
		}
		if err := mgr.AddReadyzCheck("adapter", adapter.ReadyCheck); err != nil {
			return err
		}
		log.Info("Serving the metrics adapter", "address", adapter.Addr().String(), "generatedCertificate", c.adapterCertDir == "")
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	// Ready only when this replica can do its work: its caches are
	// synced, and the webhook and the adapter serve (a new pod must not
	// take their traffic earlier).
	if err := mgr.AddReadyzCheck("caches", controller.CachesSynced(mgr.GetCache())); err != nil {
		return err
	}
	if c.webhook {
		if err := mgr.AddReadyzCheck("webhook", mgr.GetWebhookServer().StartedChecker()); err != nil {
			return err
		}
	}
	log.Info("Starting", "namespace", c.namespace, "triggerTypes", reg.Names())
	return mgr.Start(ctx)
}

func zapLevel(v int) zapcore.Level { return zapcore.Level(-v) }
