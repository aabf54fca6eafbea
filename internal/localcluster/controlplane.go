// SPDX-License-Identifier: Apache-2.0

package localcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	ebbv1alpha1 "github.com/ebbscale/ebb/apis/v1alpha1"
)

// Options says what New starts and where.
type Options struct {
	// Dir holds the control plane's data, certificates, kubeconfig and logs.
	// Empty: a new temporary folder, removed by Stop.
	Dir string
	// ToolsDir holds etcd, kube-apiserver and kube-controller-manager.
	// Empty: ToolsDir().
	ToolsDir string
	// CRDDir holds the CRDs to install. Empty: deploy/crds of the repository.
	CRDDir string
	// ControllerManager starts kube-controller-manager with the deployment,
	// replicaset and horizontal-pod-autoscaler controllers.
	ControllerManager bool
	// GarbageCollector adds the garbage collector to kube-controller-manager's
	// controllers (with ControllerManager): dependents go with their owners.
	GarbageCollector bool
	// Aggregator sets up the API server's aggregation layer: a front-proxy CA
	// and client certificate, and the request-header flags.
	Aggregator bool
	// StartTimeout bounds the start of each component. Zero: 60 s.
	StartTimeout time.Duration
	// HPASyncPeriod is kube-controller-manager's
	// --horizontal-pod-autoscaler-sync-period. Zero: 1 s.
	HPASyncPeriod time.Duration
	// Node, when set, starts a real node too (see Node), with the
	// aggregation layer and kube-controller-manager running the
	// NodeControllers. The API server then listens on NodeIP instead of
	// loopback, so that pods reach it.
	Node *NodeOptions
}

// Option changes the Options of Start.
type Option func(*Options)

// WithControllerManager runs the real kube-controller-manager too, with the
// deployment, replicaset and horizontal-pod-autoscaler controllers and a 1 s
// HPA sync period.
func WithControllerManager() Option {
	return func(o *Options) { o.ControllerManager = true }
}

// WithHPASyncPeriod runs kube-controller-manager (as WithControllerManager
// does) with the HPA sync period d instead of 1 s (its own default is 15 s).
func WithHPASyncPeriod(d time.Duration) Option {
	return func(o *Options) { o.ControllerManager, o.HPASyncPeriod = true, d }
}

// WithGarbageCollector runs kube-controller-manager (as
// WithControllerManager does) with the garbage collector too.
func WithGarbageCollector() Option {
	return func(o *Options) { o.ControllerManager, o.GarbageCollector = true, true }
}

// WithNode starts a real node as well: see Options.Node.
func WithNode(o NodeOptions) Option {
	return func(opts *Options) { opts.Node = &o }
}

// WithAggregator sets up the API server's aggregation layer so that an
// APIService can route to an aggregated API server (Ebb's metrics adapter).
func WithAggregator() Option {
	return func(o *Options) { o.Aggregator = true }
}

// ControlPlane is a running etcd and kube-apiserver with Ebb's CRDs
// installed, and optionally kube-controller-manager.
type ControlPlane struct {
	// Config reaches the API server as a member of system:masters.
	Config *rest.Config
	// Client is a controller-runtime client with Scheme.
	Client client.Client
	// Scheme holds client-go's types, apiextensions/v1 and Ebb's v1alpha1.
	Scheme *runtime.Scheme
	// Kubeconfig is the path of a kubeconfig file for the same user, for
	// kubectl and child processes.
	Kubeconfig string
	// Dir holds the data, certificates, kubeconfig and logs.
	Dir string
	// FrontProxy holds the aggregation layer's certificates; nil unless
	// WithAggregator.
	FrontProxy *FrontProxy
	// Node is the real node; nil unless WithNode.
	Node *Node

	env       *envtest.Environment
	kcm       *controllerManager
	guard     *guard
	logs      []*os.File
	removeDir bool

	stopOnce sync.Once
	stopErr  error
	// apiMu serializes StopAPIServer and StartAPIServer.
	apiMu   sync.Mutex
	apiDown bool
}

// New starts a control plane. The caller must Stop it, also when ctx ends:
// ctx bounds only the start.
func New(ctx context.Context, o Options) (_ *ControlPlane, retErr error) {
	if o.ToolsDir == "" {
		o.ToolsDir = ToolsDir()
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 60 * time.Second
	}
	if o.Node != nil {
		o.ControllerManager, o.GarbageCollector, o.Aggregator = true, true, true
	}
	names := []string{"etcd", "kube-apiserver"}
	if o.ControllerManager {
		names = append(names, "kube-controller-manager")
	}
	if o.Node != nil {
		names = append(names, NodeBinaries...)
	}
	bins, err := findBinaries(o.ToolsDir, names...)
	if err != nil {
		return nil, err
	}
	if o.CRDDir == "" {
		if o.CRDDir, err = CRDDir(); err != nil {
			return nil, err
		}
	}
	if fi, err := os.Stat(o.CRDDir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("CRD folder %s not found: run from the repository, or run `make generate`", o.CRDDir)
	}

	cp := &ControlPlane{}
	if o.Dir == "" {
		if cp.Dir, err = os.MkdirTemp("", "ebb-controlplane-"); err != nil {
			return nil, fmt.Errorf("control plane folder: %w", err)
		}
		cp.removeDir = true
	} else {
		if cp.Dir, err = filepath.Abs(o.Dir); err != nil {
			return nil, fmt.Errorf("control plane folder: %w", err)
		}
	}
	defer func() {
		if retErr != nil {
			logs := cp.Logs(40)
			_ = cp.Stop()
			if logs != "" {
				retErr = fmt.Errorf("%w\n%s", retErr, logs)
			}
		}
	}()
	for _, d := range []string{"etcd", "kube-apiserver"} {
		if err := os.MkdirAll(filepath.Join(cp.Dir, d), 0o700); err != nil {
			return nil, fmt.Errorf("control plane folder: %w", err)
		}
	}

	if cp.Scheme, err = NewScheme(); err != nil {
		return nil, err
	}
	if cp.guard, err = startGuard(); err != nil {
		return nil, err
	}

	etcdLog, err := cp.openLog("etcd.log")
	if err != nil {
		return nil, err
	}
	apiLog, err := cp.openLog("kube-apiserver.log")
	if err != nil {
		return nil, err
	}
	cp.env = &envtest.Environment{
		ControlPlane: envtest.ControlPlane{
			Etcd: &envtest.Etcd{
				Path:    bins["etcd"],
				DataDir: filepath.Join(cp.Dir, "etcd"),
				Out:     etcdLog,
				Err:     etcdLog,
			},
			APIServer: &envtest.APIServer{
				Path:    bins["kube-apiserver"],
				CertDir: filepath.Join(cp.Dir, "kube-apiserver"),
				Out:     apiLog,
				Err:     apiLog,
			},
		},
		Scheme:                   cp.Scheme,
		BinaryAssetsDirectory:    o.ToolsDir,
		CRDDirectoryPaths:        []string{o.CRDDir},
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: o.StartTimeout,
		ControlPlaneStopTimeout:  20 * time.Second,
		CRDInstallOptions:        envtest.CRDInstallOptions{MaxTime: o.StartTimeout},
	}
	if o.Aggregator {
		if cp.FrontProxy, err = newFrontProxy(filepath.Join(cp.Dir, "front-proxy")); err != nil {
			return nil, err
		}
		cp.FrontProxy.configure(cp.env.ControlPlane.GetAPIServer().Configure())
	}
	if o.Node != nil {
		if cp.Node, err = acquireNode(ctx); err != nil {
			return nil, err
		}
		api := cp.env.ControlPlane.GetAPIServer()
		if api.SecureServing.CA, err = writeNodeAPIServerCerts(api.CertDir); err != nil {
			return nil, err
		}
		port, err := freePortOn(NodeIP)
		if err != nil {
			return nil, err
		}
		api.SecureServing.Address, api.SecureServing.Port = NodeIP, strconv.Itoa(port)
		args := api.Configure()
		args.Set("advertise-address", NodeIP)
		args.Set("service-cluster-ip-range", ServiceCIDR)
		// Pod logs, exec and port-forward: the API server reaches the
		// kubelet at the node's InternalIP (its hostname resolves nowhere)
		// with a certificate the kubelet trusts (writeNodeAPIServerCerts).
		args.Set("kubelet-client-certificate", filepath.Join(api.CertDir, kubeletClientCert))
		args.Set("kubelet-client-key", filepath.Join(api.CertDir, kubeletClientKey))
		args.Set("kubelet-preferred-address-types", "InternalIP")
		// envtest turns the ServiceAccount admission plugin off; pods need
		// it for their tokens.
		args.Disable("disable-admission-plugins")
	}

	if err := ctx.Err(); err != nil {
		return nil, err
	}
	_, startErr := cp.env.Start()
	// Whatever started, the guard learns of it, also when the start failed
	// half way (Stop then stops it).
	if pids, err := Processes(cp.Dir); err == nil {
		if err := cp.guard.watch(pids...); err != nil {
			return nil, err
		}
	}
	if startErr != nil {
		return nil, fmt.Errorf("start etcd and kube-apiserver from %s: %w", o.ToolsDir, startErr)
	}

	user, err := cp.env.AddUser(envtest.User{Name: "ebb-admin", Groups: []string{"system:masters"}},
		&rest.Config{QPS: 1000, Burst: 2000})
	if err != nil {
		return nil, fmt.Errorf("add the admin user: %w", err)
	}
	cp.Config = user.Config()
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	cp.Kubeconfig = filepath.Join(cp.Dir, "kubeconfig")
	if err := os.WriteFile(cp.Kubeconfig, kubeconfig, 0o600); err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	if cp.Client, err = client.New(cp.Config, client.Options{Scheme: cp.Scheme}); err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}

	if o.ControllerManager {
		startCtx, cancel := context.WithTimeout(ctx, o.StartTimeout)
		defer cancel()
		controllers := ControllerManagerControllers
		if o.GarbageCollector {
			controllers += "," + GarbageCollectorController
		}
		if o.Node != nil {
			controllers = NodeControllers
		}
		hpaSync := o.HPASyncPeriod
		if hpaSync <= 0 {
			hpaSync = time.Second
		}
		cp.kcm, err = startControllerManager(startCtx, bins["kube-controller-manager"], cp.Kubeconfig, cp.Dir, controllers, hpaSync)
		if err != nil {
			return nil, err
		}
		if err := cp.guard.watch(cp.kcm.pid()); err != nil {
			return nil, err
		}
	}
	if o.Node != nil {
		startCtx, cancel := context.WithTimeout(ctx, 2*o.StartTimeout)
		defer cancel()
		err := cp.Node.start(startCtx, cp, o.Node, bins)
		if werr := cp.guard.watch(cp.Node.pids()...); werr != nil && err == nil {
			err = werr
		}
		if err != nil {
			return nil, err
		}
	}
	return cp, nil
}

// NewScheme is client-go's scheme with apiextensions/v1 and Ebb's v1alpha1.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme,
		apiextensionsv1.AddToScheme,
		ebbv1alpha1.AddToScheme,
	} {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("scheme: %w", err)
		}
	}
	return s, nil
}

// ClientCAFile is the PEM CA that signs the certificates of the control
// plane's users (Config's among them): a kubelet that trusts it accepts
// them.
func (cp *ControlPlane) ClientCAFile() string {
	// envtest's certificate authentication keeps it in the API server's
	// certificate folder under this name.
	return filepath.Join(cp.env.ControlPlane.APIServer.CertDir, "client-cert-auth-ca.crt")
}

// URL is the API server's address, https://127.0.0.1:<port>.
func (cp *ControlPlane) URL() string { return strings.TrimSuffix(cp.Config.Host, "/") }

// Stop stops kube-controller-manager, kube-apiserver and etcd, and waits
// for them to exit. It is safe to call more than once.
func (cp *ControlPlane) Stop() error {
	cp.stopOnce.Do(func() {
		var errs []error
		if cp.Node != nil {
			errs = append(errs, cp.Node.stop())
			// The bridge and the rest go once the API server, which listens
			// on the bridge's address, has stopped.
			defer func() { cp.stopErr = errors.Join(cp.stopErr, cp.Node.cleanup()) }()
		}
		if cp.kcm != nil {
			errs = append(errs, cp.kcm.stop(10*time.Second))
		}
		if cp.env != nil {
			if err := cp.env.Stop(); err != nil {
				errs = append(errs, fmt.Errorf("stop etcd and kube-apiserver: %w", err))
			}
		}
		// Only now nothing is left for the guard to kill.
		if cp.guard != nil {
			errs = append(errs, cp.guard.disarm())
		}
		for _, f := range cp.logs {
			errs = append(errs, f.Close())
		}
		if cp.removeDir {
			errs = append(errs, os.RemoveAll(cp.Dir))
		}
		cp.stopErr = errors.Join(errs...)
	})
	return cp.stopErr
}

// StopAPIServer stops kube-apiserver, keeping etcd and kube-controller-manager
// running: clients see the API server go away as in a control-plane upgrade
// or crash. It sends SIGTERM and waits 20 s for a graceful exit, then sends
// SIGKILL; graceful says which it was. StartAPIServer brings the server back
// on the same address with the same certificates, so every Config and
// kubeconfig stays valid. Stopping a stopped API server does nothing.
func (cp *ControlPlane) StopAPIServer() (graceful bool, err error) {
	cp.apiMu.Lock()
	defer cp.apiMu.Unlock()
	if cp.apiDown {
		return true, nil
	}
	stopErr := cp.env.ControlPlane.APIServer.Stop()
	if stopErr == nil {
		cp.apiDown = true
		return true, nil
	}
	// envtest sent SIGKILL after its stop timeout: wait for the exit.
	deadline := time.Now().Add(10 * time.Second)
	for cp.apiServerRunning() {
		if time.Now().After(deadline) {
			return false, fmt.Errorf("stop kube-apiserver: %w", stopErr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cp.apiDown = true
	return false, nil
}

// apiServerRunning says whether a kube-apiserver of this control plane
// runs.
func (cp *ControlPlane) apiServerRunning() bool {
	pids, err := Processes(cp.Dir)
	if err != nil {
		return true
	}
	for _, pid := range pids {
		cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
		if err != nil {
			continue
		}
		if name, _, _ := strings.Cut(string(cmdline), "\x00"); strings.HasSuffix(name, "/kube-apiserver") {
			stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
			if err == nil && strings.Contains(string(stat), ") Z ") {
				continue // exited, not yet reaped
			}
			return true
		}
	}
	return false
}

// StartAPIServer starts kube-apiserver again after StopAPIServer, on the same
// port, with the same serving and client certificates and the same etcd,
// and waits until it is healthy. Starting a running API server does
// nothing.
func (cp *ControlPlane) StartAPIServer() error {
	cp.apiMu.Lock()
	defer cp.apiMu.Unlock()
	if !cp.apiDown {
		return nil
	}
	// The certificate folder is the control plane's own (not envtest's
	// temporary one), so envtest keeps its serving certificate, its client
	// CA and the secure port: the restarted server is the same server.
	if err := cp.env.ControlPlane.APIServer.Start(); err != nil {
		return fmt.Errorf("start kube-apiserver again: %w", err)
	}
	cp.apiDown = false
	if pids, err := Processes(cp.Dir); err == nil {
		if err := cp.guard.watch(pids...); err != nil {
			return err
		}
	}
	return nil
}

// Logs is the last n lines of each component's log.
func (cp *ControlPlane) Logs(n int) string {
	if cp.Dir == "" {
		return ""
	}
	var b strings.Builder
	for _, name := range []string{"etcd.log", "kube-apiserver.log", "kube-controller-manager.log"} {
		tailFile(&b, filepath.Join(cp.Dir, name), name, n)
	}
	if cp.Node != nil {
		b.WriteString(cp.Node.Logs(n))
	}
	return b.String()
}

// tailFile writes the last n lines of the file at path to b, under a
// heading that names it; nothing when it is missing or empty.
func tailFile(b *strings.Builder, path, name string, n int) {
	data, err := os.ReadFile(path)
	if err != nil || len(data) == 0 {
		return
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	fmt.Fprintf(b, "==> %s (last %d lines) <==\n%s\n", name, len(lines), strings.Join(lines, "\n"))
}

func (cp *ControlPlane) openLog(name string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(cp.Dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	cp.logs = append(cp.logs, f)
	return f, nil
}
