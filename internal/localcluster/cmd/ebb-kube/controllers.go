// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/wait"
	cacheddiscovery "k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/scale"
	"k8s.io/client-go/tools/clientcmd"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/controller-manager/pkg/informerfactory"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/controller/deployment"
	"k8s.io/kubernetes/pkg/controller/garbagecollector"
	"k8s.io/kubernetes/pkg/controller/podautoscaler"
	hpametrics "k8s.io/kubernetes/pkg/controller/podautoscaler/metrics"
	"k8s.io/kubernetes/pkg/controller/replicaset"
	resourceclient "k8s.io/metrics/pkg/client/clientset/versioned/typed/metrics/v1beta1"
	"k8s.io/metrics/pkg/client/custom_metrics"
	"k8s.io/metrics/pkg/client/external_metrics"
)

// The controllers this program runs as kube-controller-manager, by their
// kube-controller-manager names: what a control plane without a node needs
// (internal/localcluster's ControllerManagerControllers and the garbage
// collector).
const (
	deploymentController = "deployment-controller"
	replicaSetController = "replicaset-controller"
	hpaController        = "horizontal-pod-autoscaler-controller"
	gcController         = "garbage-collector-controller"
)

var ownControllers = []string{deploymentController, replicaSetController, hpaController, gcController}

// controllerManager is kube-controller-manager for a control plane without a
// node: the deployment, replicaset, horizontal-pod-autoscaler and
// garbage-collector controllers of Kubernetes v1.37.2, wired as
// kube-controller-manager wires them and with its defaults, without the
// hundreds of other controllers (and the kubelet, volume and cloud packages
// they bring) that make kube-controller-manager a third of the control
// plane's compile. Asked for a controller it lacks (a control plane with a
// node), it hands over to the full kube-controller-manager in ebb-kube-node.
//
// It takes the flags internal/localcluster passes.
func controllerManager(args []string) int {
	fs := flag.NewFlagSet("kube-controller-manager", flag.ContinueOnError)
	klog.InitFlags(fs)
	var (
		kubeconfig  = fs.String("kubeconfig", "", "kubeconfig of the API server")
		controllers = fs.String("controllers", strings.Join(ownControllers, ","), "controllers to run, comma-separated")
		hpaSync     = fs.Duration("horizontal-pod-autoscaler-sync-period", 15*time.Second, "how often the HPA controller syncs")
		leaderElect = fs.Bool("leader-elect", false, "must be false: one instance runs")
		bindAddress = fs.String("bind-address", "127.0.0.1", "address of /healthz")
		securePort  = fs.Int("secure-port", 10257, "HTTPS port of /healthz")
		_           = fs.Bool("use-service-account-credentials", false, "ignored: the kubeconfig's credentials are used")
		_           = fs.String("cert-dir", "", "ignored: the serving certificate is made in memory")
	)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	want := strings.Split(*controllers, ",")
	for _, c := range want {
		if !slices.Contains(ownControllers, c) {
			return fullControllerManager()
		}
	}
	if *leaderElect {
		fmt.Fprintln(os.Stderr, "kube-controller-manager (ebb-kube): --leader-elect is not supported")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := runControllers(ctx, *kubeconfig, want, *hpaSync, net.JoinHostPort(*bindAddress, strconv.Itoa(*securePort))); err != nil {
		klog.ErrorS(err, "kube-controller-manager (ebb-kube)")
		klog.Flush()
		return 1
	}
	klog.Flush()
	return 0
}

// fullControllerManager replaces this process with kube-controller-manager
// from ebb-kube-node, beside this program in the tools folder.
func fullControllerManager() int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "kube-controller-manager (ebb-kube): %v\n", err)
		return 1
	}
	full := filepath.Join(filepath.Dir(self), "ebb-kube-node")
	err = syscall.Exec(full, os.Args, os.Environ())
	fmt.Fprintf(os.Stderr, "kube-controller-manager (ebb-kube): the controllers asked for are in ebb-kube-node, "+
		"which a node's tools include (make tools, EBB_TOOLS_NODE=1): exec %s: %v\n", full, err)
	return 1
}

func runControllers(ctx context.Context, kubeconfig string, want []string, hpaSync time.Duration, healthz string) error {
	base, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	// kube-controller-manager's client defaults.
	base.QPS, base.Burst = 20, 30
	base.ContentType = "application/vnd.kubernetes.protobuf"
	base.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	configFor := func(name string) *rest.Config { return rest.AddUserAgent(rest.CopyConfig(base), name) }
	clientFor := func(name string) (*kubernetes.Clientset, error) { return kubernetes.NewForConfig(configFor(name)) }

	shared, err := clientFor("shared-informers")
	if err != nil {
		return err
	}
	const resync = 12 * time.Hour
	sharedInformers := informers.NewSharedInformerFactory(shared, resync)
	metadataClient, err := metadata.NewForConfig(configFor("metadata-informers"))
	if err != nil {
		return err
	}
	metadataInformers := metadatainformer.NewSharedInformerFactoryWithOptions(metadataClient, resync, metadatainformer.WithTransform(dropManagedFields))

	discovery, err := clientFor("controller-discovery")
	if err != nil {
		return err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(cacheddiscovery.NewMemCacheClient(discovery.Discovery()))
	go wait.Until(mapper.Reset, 30*time.Second, ctx.Done())

	informersStarted := make(chan struct{})
	var runs []func(context.Context)
	for _, name := range want {
		run, err := newController(ctx, name, controllerEnv{
			clientFor: clientFor, configFor: configFor, mapper: mapper, hpaSync: hpaSync,
			informers: sharedInformers, objectOrMetadata: informerfactory.NewInformerFactory(sharedInformers, metadataInformers),
			informersStarted: informersStarted,
		})
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		runs = append(runs, run)
	}
	for _, run := range runs {
		go run(ctx)
	}
	sharedInformers.Start(ctx.Done())
	metadataInformers.Start(ctx.Done())
	close(informersStarted)

	return serveHealthz(ctx, healthz)
}

// controllerEnv is what the controllers are built from: kube-controller-
// manager's ControllerContext, reduced to what these four use.
type controllerEnv struct {
	clientFor        func(name string) (*kubernetes.Clientset, error)
	configFor        func(name string) *rest.Config
	mapper           *restmapper.DeferredDiscoveryRESTMapper
	hpaSync          time.Duration
	informers        informers.SharedInformerFactory
	objectOrMetadata informerfactory.InformerFactory
	informersStarted chan struct{}
}

// newController builds one controller as kube-controller-manager's
// descriptor for it does, with its default worker count, and returns its
// run function.
func newController(ctx context.Context, name string, env controllerEnv) (func(context.Context), error) {
	client, err := env.clientFor(name)
	if err != nil {
		return nil, err
	}
	switch name {
	case deploymentController:
		dc, err := deployment.NewDeploymentController(ctx, env.informers.Apps().V1().Deployments(), env.informers.Apps().V1().ReplicaSets(), env.informers.Core().V1().Pods(), client)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) { dc.Run(ctx, 5) }, nil
	case replicaSetController:
		rsc := replicaset.NewReplicaSetController(ctx, env.informers.Apps().V1().ReplicaSets(), env.informers.Core().V1().Pods(), client, replicaset.BurstReplicas)
		return func(ctx context.Context) { rsc.Run(ctx, 5) }, nil
	case hpaController:
		return newHPAController(ctx, client, env)
	case gcController:
		return newGarbageCollector(ctx, client, env)
	}
	return nil, fmt.Errorf("not a controller of ebb-kube")
}

func newHPAController(ctx context.Context, client *kubernetes.Clientset, env controllerEnv) (func(context.Context), error) {
	config := env.configFor(hpaController)
	scaleClient, err := scale.NewForConfig(config, env.mapper, dynamic.LegacyAPIPathResolverFunc, scale.NewDiscoveryScaleKindResolver(client.Discovery()))
	if err != nil {
		return nil, err
	}
	resources, err := resourceclient.NewForConfig(config)
	if err != nil {
		return nil, err
	}
	external, err := external_metrics.NewForConfig(config)
	if err != nil {
		return nil, err
	}
	apis := custom_metrics.NewAvailableAPIsGetter(client.Discovery())
	metricsClient := hpametrics.NewRESTMetricsClient(resources, custom_metrics.NewForConfig(config, env.mapper, apis), external)
	// kube-controller-manager's defaults: downscale stabilization 5 min,
	// tolerance 0.1, CPU initialization 5 min, initial readiness 30 s, 5
	// workers.
	hpa := podautoscaler.NewHorizontalController(ctx, client.CoreV1(), scaleClient, client.AutoscalingV2(), env.mapper, metricsClient,
		env.informers.Autoscaling().V2().HorizontalPodAutoscalers(), env.informers.Core().V1().Pods(),
		env.hpaSync, 5*time.Minute, 0.1, 5*time.Minute, 30*time.Second)
	return func(ctx context.Context) {
		go custom_metrics.PeriodicallyInvalidate(apis, env.hpaSync, ctx.Done())
		hpa.Run(ctx, 5)
	}, nil
}

func newGarbageCollector(ctx context.Context, client *kubernetes.Clientset, env controllerEnv) (func(context.Context), error) {
	config := env.configFor("generic-garbage-collector")
	// Two requests per deletion: kube-controller-manager doubles the
	// collector's rate.
	config.QPS *= 2
	metadataClient, err := metadata.NewForConfig(config)
	if err != nil {
		return nil, err
	}
	gc, err := garbagecollector.NewGarbageCollector(ctx, client, metadataClient, env.mapper,
		garbagecollector.DefaultIgnoredResources(), env.objectOrMetadata, env.informersStarted)
	if err != nil {
		return nil, err
	}
	const syncPeriod = 30 * time.Second
	return func(ctx context.Context) {
		go gc.Sync(ctx, client.Discovery(), syncPeriod)
		gc.Run(ctx, 20, syncPeriod)
	}, nil
}

// dropManagedFields is kube-controller-manager's transform of metadata
// informers' objects: the managed fields are never read.
func dropManagedFields(obj any) (any, error) {
	if m, err := meta.Accessor(obj); err == nil && m.GetManagedFields() != nil {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

// serveHealthz answers GET /healthz with 200 over HTTPS on addr, with a
// certificate made in memory, until ctx ends.
func serveHealthz(ctx context.Context, addr string) error {
	host, _, _ := net.SplitHostPort(addr)
	certPEM, keyPEM, err := certutil.GenerateSelfSignedCertKey(host, nil, nil)
	if err != nil {
		return err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	srv := &http.Server{
		Addr:              addr,
		Handler:           mux,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServeTLS("", ""); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
