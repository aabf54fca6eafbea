// SPDX-License-Identifier: Apache-2.0

package controller

import (
	"fmt"
	"time"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/scale"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/http/hostclaims"
)

// Options configure the controller.
type Options struct {
	// Registry holds the trigger types.
	Registry *scalers.Registry
	// OperatorNamespace holds the Secrets of ClusterTriggerAuthentications.
	OperatorNamespace string
	// CTAOpenByDefault lets every namespace use a ClusterTriggerAuthentication
	// that sets neither allowedNamespaces nor namespaceSelector (KEDA's
	// behaviour); off, such a ClusterTriggerAuthentication serves none.
	CTAOpenByDefault bool
	// MaxConcurrentReconciles: ScaledObjects reconciled at once.
	MaxConcurrentReconciles int
	// PollWorkers: trigger polls run at once.
	PollWorkers int
	// HPASyncPeriod is the cluster's HPA sync period: it bounds the age of
	// a value the adapter serves while the target runs (Servable). Zero:
	// DefaultHPASyncPeriod.
	HPASyncPeriod time.Duration
	// Webhook registers the admission webhook with the manager's server.
	Webhook bool
	// DisableScaledJobs leaves ScaledJobs out: no reconciler, no job loop,
	// no watch of ScaledJobs, Jobs or pods (so the operator needs none of
	// their permissions), and the webhook refuses new ScaledJobs saying so.
	DisableScaledJobs bool
	// HostClaims, when set, keeps the interceptor routes' host claims in
	// OperatorNamespace (hostclaims.go) and has the webhook refuse a host
	// another namespace owns.
	HostClaims *HostClaimsOptions
}

// HostClaimsOptions configure the host claims.
type HostClaimsOptions struct {
	Grace  time.Duration
	Grants hostclaims.Grants
}

// Setup wires the reconciler, the scale loop, the ScaledJob reconciler and
// job loop and (optionally) the admission webhooks into a manager, and returns the loop, which the metrics adapter
// reads.
func Setup(mgr ctrl.Manager, o Options) (*ScaleLoop, error) {
	cfg := mgr.GetConfig()
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("discovery client: %w", err)
	}
	sc, err := scale.NewForConfig(cfg, mgr.GetRESTMapper(), dynamic.LegacyAPIPathResolverFunc, scale.NewDiscoveryScaleKindResolver(dc))
	if err != nil {
		return nil, fmt.Errorf("scale client: %w", err)
	}
	scales := NewScaleClient(sc, dc)
	targets, err := NewTargetWatch(cfg)
	if err != nil {
		return nil, err
	}
	status := NewStatusWriter(mgr.GetClient())
	// Every Event goes through the sanitizer status text goes through.
	events := NewEventRecorder(mgr.GetEventRecorderFor("ebb"))
	loop := &ScaleLoop{
		Status:        status,
		Scales:        scales,
		Targets:       targets,
		Events:        events,
		Workers:       o.PollWorkers,
		HPASyncPeriod: o.HPASyncPeriod,
		Log:           mgr.GetLogger().WithName("scaleloop"),
	}
	if err := mgr.Add(loop); err != nil {
		return nil, err
	}
	r := &Reconciler{
		Client:                  mgr.GetClient(),
		Mapper:                  mgr.GetRESTMapper(),
		Scales:                  scales,
		Targets:                 targets,
		Registry:                o.Registry,
		Auth:                    &scalers.AuthResolver{Reader: mgr.GetAPIReader(), OperatorNamespace: o.OperatorNamespace, ClusterAuthOpenByDefault: o.CTAOpenByDefault},
		Loop:                    loop,
		Events:                  events,
		Status:                  status,
		MaxConcurrentReconciles: o.MaxConcurrentReconciles,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return nil, err
	}
	loop.Recheck = r.recheck
	// Replicas that are not the leader still serve the metrics adapter.
	if err := (&mirror{r: r}).setup(mgr); err != nil {
		return nil, err
	}
	if !o.DisableScaledJobs {
		if err := setupJobs(mgr, o, r, loop); err != nil {
			return nil, err
		}
	}
	if hc := o.HostClaims; hc != nil {
		if err := mgr.Add(&HostClaims{Objects: mgr.GetClient(), Informers: mgr.GetCache(), Reader: mgr.GetAPIReader(), Writer: mgr.GetClient(), Namespace: o.OperatorNamespace,
			Grace: hc.Grace, Grants: hc.Grants, Log: mgr.GetLogger().WithName("hostclaims")}); err != nil {
			return nil, err
		}
	}
	if o.Webhook {
		v := &Validator{Registry: o.Registry, Client: mgr.GetClient(), Auth: r.Auth}
		if o.HostClaims != nil {
			v.Claims, v.ClaimsNamespace, v.Grants = mgr.GetAPIReader(), o.OperatorNamespace, o.HostClaims.Grants
		}
		if err := v.SetupWebhookWithManager(mgr); err != nil {
			return nil, err
		}
		jv := &JobValidator{Registry: o.Registry, Auth: r.Auth, Disabled: o.DisableScaledJobs}
		if err := jv.SetupWebhookWithManager(mgr); err != nil {
			return nil, err
		}
	}
	return loop, nil
}

// setupJobs wires ScaledJobs: Jobs on events, on the leader only. The job
// loop shares the scale loop's metrics and the reconciler's credentials.
func setupJobs(mgr ctrl.Manager, o Options, r *Reconciler, loop *ScaleLoop) error {
	jobs := &JobLoop{
		Client: mgr.GetClient(),
		Reader: mgr.GetAPIReader(),
		Events: r.Events,
		Log:    mgr.GetLogger().WithName("jobloop"),
		scale:  loop, // its Metrics, which the operator sets after Setup
	}
	if err := mgr.Add(jobs); err != nil {
		return err
	}
	jr := &JobReconciler{
		Client:   mgr.GetClient(),
		Reader:   mgr.GetAPIReader(),
		Registry: o.Registry,
		Auth:     r.Auth,
		Loop:     jobs,
		Events:   r.Events,
	}
	if err := jr.SetupWithManager(mgr); err != nil {
		return err
	}
	jobs.Recheck = jr.recheck
	return nil
}
