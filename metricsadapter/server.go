// SPDX-License-Identifier: Apache-2.0

package metricsadapter

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authentication/request/headerrequest"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	"k8s.io/apiserver/pkg/authorization/path"
	"k8s.io/apiserver/pkg/authorization/union"
	openapinamer "k8s.io/apiserver/pkg/endpoints/openapi"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	openapicommon "k8s.io/kube-openapi/pkg/common"
	"k8s.io/utils/clock"
	cmapiserver "sigs.k8s.io/custom-metrics-apiserver/pkg/apiserver"
	generatedcore "sigs.k8s.io/custom-metrics-apiserver/pkg/generated/openapi/core"
	generatedexternal "sigs.k8s.io/custom-metrics-apiserver/pkg/generated/openapi/externalmetrics"
)

// DefaultAPIService is the APIService through which the HPA reads external
// metrics.
const DefaultAPIService = "v1beta1.external.metrics.k8s.io"

// ServerOptions configure the adapter's API server.
type ServerOptions struct {
	// BindAddress is the address to listen on; empty: all addresses.
	BindAddress string
	// Port is the port to listen on (6443 when zero and Listener is nil).
	Port int
	// Listener, when set, is used instead of BindAddress and Port.
	Listener net.Listener

	// CertDir holds tls.crt and tls.key, reloaded when they change. Empty:
	// the adapter makes its own CA and serving certificate, renews the
	// certificate before it expires, and puts the CA into APIService.
	CertDir string
	// CertValidity is the validity of a generated serving certificate;
	// zero: DefaultCertValidity.
	CertValidity time.Duration
	// ServiceName and ServiceNamespace name the Service the APIService
	// points at: the aggregator checks the serving certificate against
	// <name>.<namespace>.svc, so a generated certificate carries that name.
	ServiceName      string
	ServiceNamespace string
	// APIService is the APIService whose caBundle the adapter keeps equal
	// to its generated CA; empty: none is touched. Unused with CertDir.
	APIService string
	// CASecret is the Secret in ServiceNamespace that keeps the generated
	// CA, shared by the replicas and kept across restarts; empty: a new CA
	// in memory at each start (one replica only). Unused with CertDir.
	CASecret string
	// CASecretOwners are its owner references when it is made (package
	// internal/owner).
	CASecretOwners []metav1.OwnerReference

	// Delegate, when set, answers the reads no ScaledObject serves, and its
	// metrics are listed with Ebb's (see Provider.SetDelegate).
	Delegate Delegator

	// Registerer receives the adapter's request metrics; nil: none.
	Registerer prometheus.Registerer
	// Log is the adapter's logger.
	Log logr.Logger
}

// Server is the metrics adapter: an aggregated API server serving
// external.metrics.k8s.io from a Source over TLS, authenticating callers
// through the API server (the aggregator's front-proxy client certificate,
// or a token by TokenReview) and authorizing them by SubjectAccessReview.
// It is a controller-runtime Runnable that runs on every replica.
type Server struct {
	generic  *genericapiserver.GenericAPIServer
	gen      *generatedCert // nil with given certificates
	injector *caInjector    // nil unless a generated CA goes into an APIService
	addr     net.Addr
	provider *Provider
}

// NewServer builds the adapter for the API server of cfg, listening at once
// (so the port is known and taken before Start).
func NewServer(cfg *rest.Config, src Source, o ServerOptions) (*Server, error) {
	prov, err := NewProvider(src, o.Registerer, o.Log.WithName("provider"))
	if err != nil {
		return nil, err
	}
	if o.Delegate != nil {
		prov.SetDelegate(o.Delegate)
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "ebb-operator/metrics-adapter"
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("metrics adapter client: %w", err)
	}

	s := &Server{provider: prov}
	gc := genericapiserver.NewConfig(cmapiserver.Codecs)
	gc.EnableProfiling = false
	gc.EnableMetrics = false // Ebb's metrics are on the operator's metrics endpoint

	// Serving.
	serving := genericoptions.NewSecureServingOptions()
	serving.Listener = o.Listener
	if o.Listener == nil {
		serving.BindPort = o.Port
		if serving.BindPort == 0 {
			serving.BindPort = 6443
		}
		serving.BindAddress = net.ParseIP("0.0.0.0")
		if o.BindAddress != "" {
			if serving.BindAddress = net.ParseIP(o.BindAddress); serving.BindAddress == nil {
				return nil, fmt.Errorf("metrics adapter bind address %q is not an IP address", o.BindAddress)
			}
		}
	}
	if o.CertDir != "" {
		crt, key := filepath.Join(o.CertDir, "tls.crt"), filepath.Join(o.CertDir, "tls.key")
		for _, f := range []string{crt, key} {
			if _, err := os.Stat(f); err != nil {
				return nil, fmt.Errorf("metrics adapter certificate: %w (--adapter-cert-dir must hold tls.crt and tls.key)", err)
			}
		}
		serving.ServerCert.CertKey.CertFile, serving.ServerCert.CertKey.KeyFile = crt, key
	} else {
		var ca *authority
		if o.CASecret != "" && o.ServiceNamespace == "" {
			return nil, fmt.Errorf("metrics adapter: a CA Secret needs the Service's namespace")
		}
		if o.CASecret != "" {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			ca, err = sharedAuthority(ctx, kc, o.ServiceNamespace, o.CASecret, o.CASecretOwners, time.Now())
			cancel()
			if err != nil {
				return nil, err
			}
		}
		if s.gen, err = newGeneratedCert(clock.RealClock{}, ca, o.CertValidity, serviceDNSNames(o.ServiceName, o.ServiceNamespace),
			[]net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, o.Log.WithName("certificate")); err != nil {
			return nil, err
		}
		serving.ServerCert.GeneratedCert = s.gen
		if o.APIService != "" {
			dc, err := dynamic.NewForConfig(cfg)
			if err != nil {
				return nil, fmt.Errorf("metrics adapter client: %w", err)
			}
			s.injector = &caInjector{client: dc, name: o.APIService, ca: s.gen.CAPEM(), clock: clock.RealClock{}, log: o.Log.WithName("cabundle")}
		}
	}
	if err := serving.WithLoopback().ApplyTo(&gc.SecureServing, &gc.LoopbackClientConfig); err != nil {
		return nil, fmt.Errorf("metrics adapter serving: %w", err)
	}
	s.addr = gc.SecureServing.Listener.Addr()
	closeListener := func() { _ = gc.SecureServing.Listener.Close() }

	if err := delegatedAuthentication(gc, kc, o.Log); err != nil {
		closeListener()
		return nil, err
	}
	if gc.Authorization.Authorizer, err = delegatedAuthorizer(kc); err != nil {
		closeListener()
		return nil, err
	}

	defs := func(ref openapicommon.ReferenceCallback) map[string]openapicommon.OpenAPIDefinition {
		out := generatedcore.GetOpenAPIDefinitions(ref)
		for k, v := range generatedexternal.GetOpenAPIDefinitions(ref) {
			out[k] = v
		}
		return out
	}
	namer := openapinamer.NewDefinitionNamer(cmapiserver.Scheme)
	gc.OpenAPIConfig = genericapiserver.DefaultOpenAPIConfig(defs, namer)
	gc.OpenAPIConfig.Info.Title, gc.OpenAPIConfig.Info.Version = "ebb-metrics-adapter", "v1beta1"
	gc.OpenAPIV3Config = genericapiserver.DefaultOpenAPIV3Config(defs, namer)
	gc.OpenAPIV3Config.Info.Title, gc.OpenAPIV3Config.Info.Version = "ebb-metrics-adapter", "v1beta1"

	srv, err := (&cmapiserver.Config{GenericConfig: gc}).Complete(nil).New("ebb-metrics-adapter", nil, prov)
	if err != nil {
		closeListener()
		return nil, fmt.Errorf("metrics adapter server: %w", err)
	}
	s.generic = srv.GenericAPIServer
	return s, nil
}

// serviceDNSNames are the names a Service is reached by, and localhost.
func serviceDNSNames(name, namespace string) []string {
	var out []string
	if name != "" && namespace != "" {
		out = append(out, name+"."+namespace+".svc", name, name+"."+namespace, name+"."+namespace+".svc.cluster.local")
	}
	return append(out, "localhost")
}

// Addr is the address the adapter listens on.
func (s *Server) Addr() net.Addr { return s.addr }

// Port is the port the adapter listens on.
func (s *Server) Port() int {
	_, p, _ := net.SplitHostPort(s.addr.String())
	n, _ := strconv.Atoi(p)
	return n
}

// CAPEM is the generated CA in PEM, what an APIService's caBundle must hold;
// nil when the certificate was given.
func (s *Server) CAPEM() []byte {
	if s.gen == nil {
		return nil
	}
	return s.gen.CAPEM()
}

// Provider is the external metrics provider the server serves.
func (s *Server) Provider() *Provider { return s.provider }

// Start serves until ctx ends, then drains in-flight requests.
func (s *Server) Start(ctx context.Context) error {
	if s.injector != nil {
		go s.injector.run(ctx)
	}
	if err := s.generic.PrepareRun().RunWithContext(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("metrics adapter: %w", err)
	}
	return nil
}

// ReadyCheck is a readiness check (a controller-runtime healthz.Checker):
// it passes once the adapter answers its own /readyz, which the API
// server's library passes only when it serves and its authentication
// configuration is loaded. Before that the Service must not send it the
// aggregator's requests.
func (s *Server) ReadyCheck(req *http.Request) error {
	host, port, err := net.SplitHostPort(s.addr.String())
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(req.Context(), 2*time.Second)
	defer cancel()
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+net.JoinHostPort(host, port)+"/readyz", nil)
	if err != nil {
		return err
	}
	// The adapter's own listener on this host: nothing to authenticate.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec
	defer client.CloseIdleConnections()
	resp, err := client.Do(r)
	if err != nil {
		return fmt.Errorf("the metrics adapter does not answer yet: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the metrics adapter is not ready: /readyz answered %d", resp.StatusCode)
	}
	return nil
}

// NeedLeaderElection is false: every replica serves the adapter.
func (s *Server) NeedLeaderElection() bool { return false }

// The ConfigMap in which the API server publishes how aggregated API servers
// authenticate it.
const (
	authConfigMapNamespace = "kube-system"
	authConfigMapName      = "extension-apiserver-authentication"
)

// requestHeaderController keeps the front-proxy CA and the request-header
// settings the API server publishes in its ConfigMap; the API server's
// serving loop runs it (it is the client CA of the TLS configuration).
type requestHeaderController struct {
	*dynamiccertificates.ConfigMapCAController
	*headerrequest.RequestHeaderAuthRequestController
}

var (
	_ dynamiccertificates.ControllerRunner  = (*requestHeaderController)(nil)
	_ dynamiccertificates.CAContentProvider = (*requestHeaderController)(nil)
)

func (c *requestHeaderController) RunOnce(ctx context.Context) error {
	return errors.Join(c.ConfigMapCAController.RunOnce(ctx), c.RequestHeaderAuthRequestController.RunOnce(ctx))
}

func (c *requestHeaderController) Run(ctx context.Context, workers int) {
	go c.ConfigMapCAController.Run(ctx, workers)
	go c.RequestHeaderAuthRequestController.Run(ctx, workers)
	<-ctx.Done()
}

// delegatedAuthentication trusts the aggregator's front-proxy client
// certificate (with the names and headers the API server publishes) and
// bearer tokens through TokenReview.
func delegatedAuthentication(gc *genericapiserver.Config, kc kubernetes.Interface, log logr.Logger) error {
	ca, err := dynamiccertificates.NewDynamicCAFromConfigMapController("requestheader-client-ca", authConfigMapNamespace, authConfigMapName, "requestheader-client-ca-file", kc)
	if err != nil {
		return fmt.Errorf("metrics adapter authentication: %w", err)
	}
	rh := &requestHeaderController{
		ConfigMapCAController: ca,
		RequestHeaderAuthRequestController: headerrequest.NewRequestHeaderAuthRequestController(authConfigMapName, authConfigMapNamespace, kc,
			"requestheader-username-headers", "requestheader-uid-headers", "requestheader-group-headers",
			"requestheader-extra-headers-prefix", "requestheader-allowed-names"),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := rh.RunOnce(ctx); err != nil {
		// Kept up to date from here on: the API server may publish it later.
		log.Info("The API server's front-proxy settings are not readable yet; the aggregator cannot reach the adapter until they are",
			"configMap", authConfigMapNamespace+"/"+authConfigMapName, "error", err.Error())
	}
	header := &authenticatorfactory.RequestHeaderConfig{
		CAContentProvider:   rh,
		UsernameHeaders:     headerrequest.StringSliceProviderFunc(rh.UsernameHeaders),
		UIDHeaders:          headerrequest.StringSliceProviderFunc(rh.UIDHeaders),
		GroupHeaders:        headerrequest.StringSliceProviderFunc(rh.GroupHeaders),
		ExtraHeaderPrefixes: headerrequest.StringSliceProviderFunc(rh.ExtraHeaderPrefixes),
		AllowedClientNames:  headerrequest.StringSliceProviderFunc(rh.AllowedClientNames),
	}
	gc.Authentication.RequestHeaderConfig = header
	if err := gc.Authentication.ApplyClientCert(rh, gc.SecureServing); err != nil {
		return fmt.Errorf("metrics adapter authentication: %w", err)
	}
	authn, _, err := authenticatorfactory.DelegatingAuthenticatorConfig{
		Anonymous:                &apiserver.AnonymousAuthConfig{Enabled: true},
		TokenAccessReviewClient:  kc.AuthenticationV1(),
		TokenAccessReviewTimeout: 10 * time.Second,
		WebhookRetryBackoff:      genericoptions.DefaultAuthWebhookRetryBackoff(),
		CacheTTL:                 10 * time.Second,
		RequestHeaderConfig:      header,
	}.New()
	if err != nil {
		return fmt.Errorf("metrics adapter authentication: %w", err)
	}
	gc.Authentication.Authenticator = authn
	return nil
}

// delegatedAuthorizer allows health checks to all, everything to
// system:masters, and asks the API server (SubjectAccessReview, cached) for
// everyone else.
func delegatedAuthorizer(kc kubernetes.Interface) (authorizer.Authorizer, error) {
	paths, err := path.NewAuthorizer([]string{"/healthz", "/livez", "/readyz"})
	if err != nil {
		return nil, err
	}
	sar, err := authorizerfactory.DelegatingAuthorizerConfig{
		SubjectAccessReviewClient: kc.AuthorizationV1(),
		AllowCacheTTL:             10 * time.Second,
		DenyCacheTTL:              10 * time.Second,
		WebhookRetryBackoff:       genericoptions.DefaultAuthWebhookRetryBackoff(),
	}.New()
	if err != nil {
		return nil, fmt.Errorf("metrics adapter authorization: %w", err)
	}
	return union.New(
		union.NamedAuthorizer{AuthorizerName: "ebb.dev/always-allow-masters", Authorizer: authorizerfactory.NewPrivilegedGroups("system:masters")},
		union.NamedAuthorizer{AuthorizerName: "ebb.dev/always-allow-health", Authorizer: paths},
		union.NamedAuthorizer{AuthorizerName: "ebb.dev/delegated", Authorizer: sar},
	)
}
