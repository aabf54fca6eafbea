// SPDX-License-Identifier: Apache-2.0

package demo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/ebbscale/ebb/cmd/internal/triggers"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/ebbscale/ebb/controller"
	"github.com/ebbscale/ebb/internal/localcluster"
	"github.com/ebbscale/ebb/metricsadapter"
	"github.com/ebbscale/ebb/scalers"
)

// The operator's namespace and the Service the adapter's APIService points
// at, as the Helm chart and the end-to-end tests have them.
const (
	operatorNamespace = "ebb-system"
	adapterService    = "ebb-metrics-adapter"
)

// operator is Ebb's operator running in this process: the controller (the
// reconciler and the scale loop) and the metrics adapter in one
// controller-runtime manager, as cmd/ebb-operator runs them.
type operator struct {
	adapter localcluster.LoopbackAPIService
	cancel  context.CancelFunc
	done    chan error // receives mgr.Start's result
}

// newRegistry holds every trigger type the operator serves, so the demo's
// operator is the real one.
func newRegistry() (*scalers.Registry, error) { return triggers.Registry(scalers.DefaultEgress()) }

// startOperator starts the operator against cfg, its adapter on a free
// port of 127.0.0.1, and registers the adapter with the API server as
// v1beta1.external.metrics.k8s.io (a Service of type ExternalName
// localhost; the adapter puts its generated CA into the APIService's
// caBundle). It logs to log. Stop it with stop.
func startOperator(cp *localcluster.ControlPlane, scheme *runtime.Scheme, log logr.Logger) (*operator, error) {
	reg, err := newRegistry()
	if err != nil {
		return nil, err
	}
	triggers.SetLogger(log.WithName("scalers")) // not onto the demo's display
	return startOperatorWith(cp, scheme, log, reg)
}

// startOperatorWith is startOperator with the given trigger types.
func startOperatorWith(cp *localcluster.ControlPlane, scheme *runtime.Scheme, log logr.Logger, reg *scalers.Registry) (_ *operator, retErr error) {
	cfg := rest.CopyConfig(cp.Config)
	cfg.UserAgent = "ebb-demo-operator"
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Logger:                 log,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		// Controller names are unique per process; a test may run the demo
		// more than once.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		return nil, fmt.Errorf("operator: %w", err)
	}
	loop, err := controller.Setup(mgr, controller.Options{
		Registry:                reg,
		OperatorNamespace:       operatorNamespace,
		MaxConcurrentReconciles: 2,
		PollWorkers:             4,
	})
	if err != nil {
		return nil, fmt.Errorf("operator: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("metrics adapter: %w", err)
	}
	adapter, err := metricsadapter.NewServer(cfg, loop, metricsadapter.ServerOptions{
		Listener:         l,
		ServiceName:      adapterService,
		ServiceNamespace: operatorNamespace,
		APIService:       metricsadapter.DefaultAPIService,
		Log:              log.WithName("adapter"),
	})
	if err != nil {
		_ = l.Close()
		return nil, err
	}
	if err := mgr.Add(adapter); err != nil {
		_ = l.Close()
		return nil, err
	}
	op := &operator{
		adapter: localcluster.LoopbackAPIService{
			GroupVersion: externalMetrics,
			Namespace:    operatorNamespace,
			Service:      adapterService,
			Port:         adapter.Port(),
		},
		done: make(chan error, 1),
	}
	ctx, cancel := context.WithCancel(context.Background())
	op.cancel = cancel
	go func() { op.done <- mgr.Start(ctx) }()
	defer func() {
		if retErr != nil {
			_ = op.stop()
		}
	}()

	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	defer rcancel()
	if err := op.adapter.Register(rctx, cp.Client); err != nil {
		return nil, err
	}
	return op, nil
}

// waitAvailable waits until the API server's aggregator reaches the
// adapter: the APIService has the adapter's CA and is Available.
func (op *operator) waitAvailable(ctx context.Context, cp *localcluster.ControlPlane, timeout time.Duration) error {
	return poll(ctx, timeout, 250*time.Millisecond, "the API server to reach the metrics adapter", func(ctx context.Context) (bool, string, error) {
		select {
		case err := <-op.done:
			op.done <- err // for stop
			return false, "", fmt.Errorf("the operator stopped: %v", err)
		default:
		}
		ok, why, err := op.adapter.Available(ctx, cp.Client)
		return ok, why, err
	})
}

// stop stops the operator and waits for it: the manager gives its
// runnables 30 s to end.
func (op *operator) stop() error {
	op.cancel()
	select {
	case err := <-op.done:
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	case <-time.After(45 * time.Second):
		return errors.New("the operator did not stop within 45 s")
	}
}
