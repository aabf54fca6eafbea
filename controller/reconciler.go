// SPDX-License-Identifier: Apache-2.0

package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/scalers"
)

// Finalizer lets Ebb restore the target's replicas (and remove its HPA)
// before a ScaledObject goes. Only ScaledObjects that ask for the restore get
// it: otherwise nothing needs Ebb at deletion, the HPA goes with its owner by
// garbage collection, and the patch that adds the finalizer is the costliest
// request of a new ScaledObject after its first status write.
const Finalizer = "ebb.dev/finalizer"

// needsFinalizer says whether Ebb must act before so goes.
func needsFinalizer(so *v1alpha1.ScaledObject) bool {
	a := so.Spec.Advanced
	return a != nil && a.RestoreToOriginalReplicaCount
}

// Field indexes.
const (
	indexSOTarget  = "ebb.spec.scaleTarget"
	indexHPATarget = "ebb.hpa.scaleTarget"
)

// Reconciler reconciles ScaledObjects: it resolves the target, builds the
// triggers' scalers, keeps the owned HPA as desired, hands the object to the
// ScaleLoop and writes the Ready condition.
type Reconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// Mapper resolves scale targets' kinds to resources.
	Mapper meta.RESTMapper
	Scales ScaleClient
	// Targets, when set, gives the counts of the targets it watches
	// (targets.go), so that building an object on one reads no /scale.
	Targets *TargetWatch
	// Registry builds scalers; Auth resolves their credentials by GET.
	Registry *scalers.Registry
	Auth     *scalers.AuthResolver
	Loop     *ScaleLoop
	Events   record.EventRecorder
	Status   StatusWriter
	// MaxConcurrentReconciles: ScaledObjects reconciled at once.
	MaxConcurrentReconciles int

	mu    sync.Mutex
	built map[types.NamespacedName]builtState
	// writing holds the HPAs being applied, until their generation is in
	// built: the watch event of Ebb's own write may come before the response.
	writing map[types.NamespacedName]*hpaWrite

	// keyer digests resolved credentials (authrefresh.go); recheckQueue
	// carries the loop's requests to reconcile an object whose credentials
	// changed.
	keyer        authKeyer
	recheckQueue chan event.GenericEvent
}

// hpaWrite collects the generations of an HPA's events that arrived while
// Ebb's apply of it was in flight.
type hpaWrite struct {
	name string
	seen []int64
}

// builtState remembers what was handed to the loop, so an unchanged
// ScaledObject is not rebuilt, and the HPA generation Ebb last wrote, so an
// edit by someone else is noticed and reverted.
type builtState struct {
	uid         types.UID
	generation  int64
	annotations string
	hpaGen      int64
	hpaName     string
	auth        authState
}

// authState is what a built object's credentials resolved to
// (authrefresh.go).
type authState struct {
	// uses: the object has credentials to resolve again.
	uses bool
	// digest of the values the built scalers have.
	digest authDigest
	// resolvedAt: the last resolution; gap: the least time between
	// resolutions a failing read asks for.
	resolvedAt time.Time
	gap        time.Duration
	// failed is the message of the Event last sent for credentials that
	// no longer resolve; "" while they do.
	failed string
}

// SetupWithManager registers the reconciler, its watches and field indexes.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	ctx := context.Background()
	if err := mgr.GetFieldIndexer().IndexField(ctx, &v1alpha1.ScaledObject{}, indexSOTarget, func(o client.Object) []string {
		so := o.(*v1alpha1.ScaledObject)
		return []string{targetKey(so.Spec.ScaleTargetRef.APIVersion, so.Spec.ScaleTargetRef.Kind, so.Spec.ScaleTargetRef.Name)}
	}); err != nil {
		return err
	}
	// Only HPAs that no ScaledObject controls are indexed: findConflict
	// passes over the others, and an index entry costs memory per HPA.
	if err := mgr.GetFieldIndexer().IndexField(ctx, &autoscalingv2.HorizontalPodAutoscaler{}, indexHPATarget, func(o client.Object) []string {
		h := o.(*autoscalingv2.HorizontalPodAutoscaler)
		if owner := metav1.GetControllerOfNoCopy(h); owner != nil && owner.Kind == "ScaledObject" && owner.APIVersion == v1alpha1.GroupVersion.String() {
			return nil
		}
		return []string{targetKey(h.Spec.ScaleTargetRef.APIVersion, h.Spec.ScaleTargetRef.Kind, h.Spec.ScaleTargetRef.Name)}
	}); err != nil {
		return err
	}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &v1alpha1.ScaledObject{}, indexAuthRef, func(o client.Object) []string {
		return authRefKeys(o.(*v1alpha1.ScaledObject).Spec.Triggers)
	}); err != nil {
		return err
	}
	if r.MaxConcurrentReconciles <= 0 {
		r.MaxConcurrentReconciles = 16
	}
	r.keyer = newAuthKeyer()
	r.recheckQueue = make(chan event.GenericEvent, 1024)
	b := ctrl.NewControllerManagedBy(mgr)
	if r.Targets != nil {
		// A target created after its ScaledObject makes it Ready at once.
		b = b.WatchesRawSource(r.Targets.Source(r.scaledObjectsOn))
	}
	return b.
		Named("scaledobject").
		For(&v1alpha1.ScaledObject{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		// Edits of an owned HPA's spec are reverted; its status updates, and
		// the HPA as Ebb just wrote it, are not worth a reconcile.
		Owns(&autoscalingv2.HorizontalPodAutoscaler{}, builder.WithPredicates(predicate.Funcs{
			CreateFunc: func(e event.CreateEvent) bool { return !r.wroteLast(e.Object) },
			UpdateFunc: func(e event.UpdateEvent) bool {
				return e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration() && !r.wroteLast(e.ObjectNew)
			},
		})).
		// A foreign HPA appearing on a target is a conflict to notice.
		Watches(&autoscalingv2.HorizontalPodAutoscaler{}, handler.EnqueueRequestsFromMapFunc(r.scaledObjectsOfTarget),
			builder.WithPredicates(predicate.Funcs{
				UpdateFunc: func(event.UpdateEvent) bool { return false },
			})).
		// Credentials: a changed TriggerAuthentication or cluster one
		// reconciles the objects that name it; the loop asks for the
		// objects whose credentials changed under a failing trigger.
		Watches(&v1alpha1.TriggerAuthentication{}, handler.EnqueueRequestsFromMapFunc(r.objectsOfAuth),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&v1alpha1.ClusterTriggerAuthentication{}, handler.EnqueueRequestsFromMapFunc(r.objectsOfAuth),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WatchesRawSource(source.Channel(r.recheckQueue, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Complete(r)
}

// objectsOfAuth maps a TriggerAuthentication (or cluster one) to the
// ScaledObjects that name it.
func (r *Reconciler) objectsOfAuth(ctx context.Context, o client.Object) []reconcile.Request {
	var list v1alpha1.ScaledObjectList
	if err := r.Client.List(ctx, &list, authRefSelector(o)...); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, len(list.Items))
	for i, so := range list.Items {
		reqs[i] = reconcile.Request{NamespacedName: types.NamespacedName{Namespace: so.Namespace, Name: so.Name}}
	}
	return reqs
}

// recheck resolves the credentials of a built ScaledObject whose trigger
// failed (ScaleLoop.Recheck), at most once every auth.gap, and says whether
// they changed; it then has the object reconciled, which rebuilds it. A
// reference that no longer resolves is reconciled too (for its Event).
func (r *Reconciler) recheck(ctx context.Context, key types.NamespacedName) bool {
	r.mu.Lock()
	b, ok := r.built[key]
	r.mu.Unlock()
	if !ok || !b.auth.uses || time.Since(b.auth.resolvedAt) < b.auth.gap {
		return false
	}
	var so v1alpha1.ScaledObject
	if err := r.Client.Get(ctx, key, &so); err != nil || so.UID != b.uid || so.Generation != b.generation {
		return false
	}
	res, errs, err := resolveAll(ctx, len(so.Spec.Triggers), func(ctx context.Context, i int) (scalers.Resolved, error) { return r.Auth.Resolve(ctx, &so, i) })
	r.mu.Lock()
	if cur, ok := r.built[key]; ok && cur.uid == b.uid {
		cur.auth.resolvedAt = time.Now()
		r.built[key] = cur
	}
	r.mu.Unlock()
	if err == nil && r.keyer.digest(res) == b.auth.digest {
		r.Loop.SetAuthErrors(key, nil)
		return false
	}
	if err != nil {
		r.Loop.SetAuthErrors(key, errs)
	}
	select {
	case r.recheckQueue <- event.GenericEvent{Object: &so}:
	default: // full: the periodic resolution will do
	}
	return err == nil
}

// wroteLast says whether an owned HPA's event shows it as Ebb last wrote it
// (its generation is the one Ebb's apply returned), or comes while Ebb's apply
// of it is in flight: such an event needs no reconcile. Without it, creating
// an HPA would cost every ScaledObject a second reconcile pass.
func (r *Reconciler) wroteLast(o client.Object) bool {
	owner := metav1.GetControllerOfNoCopy(o)
	if owner == nil || owner.Kind != "ScaledObject" {
		return false
	}
	key := types.NamespacedName{Namespace: o.GetNamespace(), Name: owner.Name}
	r.mu.Lock()
	defer r.mu.Unlock()
	if w := r.writing[key]; w != nil && w.name == o.GetName() {
		// The reconcile that applies it looks at these when the apply
		// returns, and goes again if someone else's write came after.
		w.seen = append(w.seen, o.GetGeneration())
		return true
	}
	b, ok := r.built[key]
	return ok && b.uid == owner.UID && b.hpaName == o.GetName() && b.hpaGen == o.GetGeneration()
}

// scaledObjectsOfTarget maps a (foreign) HPA to the ScaledObjects on its target.
func (r *Reconciler) scaledObjectsOfTarget(ctx context.Context, o client.Object) []reconcile.Request {
	h, ok := o.(*autoscalingv2.HorizontalPodAutoscaler)
	if !ok || metav1.GetControllerOf(h) != nil && metav1.GetControllerOf(h).Kind == "ScaledObject" {
		return nil
	}
	return r.requestsForTarget(ctx, h.Namespace, targetKey(h.Spec.ScaleTargetRef.APIVersion, h.Spec.ScaleTargetRef.Kind, h.Spec.ScaleTargetRef.Name))
}

// Reconcile brings one ScaledObject to its desired state.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	logger := log.FromContext(ctx)
	var so v1alpha1.ScaledObject
	if err := r.Client.Get(ctx, req.NamespacedName, &so); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName)
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	if !so.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, r.finalize(ctx, &so)
	}
	annotations := pauseKey(&so)
	r.mu.Lock()
	prev, known := r.built[req.NamespacedName]
	r.mu.Unlock()
	known = known && prev.uid == so.UID
	// A repeat pass over a generation this reconciler finished may read a
	// cached copy from before its finalizer patch: no second patch then.
	sameGeneration := known && prev.generation == so.Generation
	if needsFinalizer(&so) && !controllerutil.ContainsFinalizer(&so, Finalizer) && !sameGeneration {
		patch := client.MergeFrom(so.DeepCopy())
		controllerutil.AddFinalizer(&so, Finalizer)
		if err := r.Client.Patch(ctx, &so, patch); err != nil {
			return reconcile.Result{}, err
		}
	}

	base := StatusBase{
		ObservedGeneration:   so.Generation,
		HPAName:              so.HPAName(),
		OriginalReplicaCount: so.Status.OriginalReplicaCount,
	}
	target, err := r.resolveTarget(&so)
	if err != nil {
		return r.targetNotFound(ctx, &so, base, err.Error(), 30*time.Second)
	}
	base.ScaleTargetKind = target.Resource.GroupVersion().WithKind(target.Kind).String()

	if msg, err := findConflict(ctx, r.Client, &so, true); err != nil {
		return reconcile.Result{}, err
	} else if msg != "" {
		r.Events.Event(&so, corev1.EventTypeWarning, ReasonConflict, msg)
		return r.notReady(ctx, &so, base, ReasonConflict, msg, 0)
	}

	rebuild := !sameGeneration || prev.annotations != annotations || !r.Loop.Has(req.NamespacedName)
	if !known {
		prev = builtState{}
	}

	// Credentials: resolved again on every pass that does not rebuild; the
	// object is rebuilt when they changed.
	auth := prev.auth
	auth.uses = usesCredentials(so.Spec.Triggers)
	interval := so.Spec.PollingIntervalDuration()
	auth.gap = recheckGap(interval)
	var resolved []scalers.Resolved
	if !rebuild && auth.uses {
		res, errs, err := resolveAll(ctx, len(so.Spec.Triggers), func(ctx context.Context, i int) (scalers.Resolved, error) { return r.Auth.Resolve(ctx, &so, i) })
		auth.resolvedAt = time.Now()
		switch {
		case err != nil && revoked(errs):
			// A ClusterTriggerAuthentication no longer allows the
			// namespace: rebuilt, which fails, closing the scalers that
			// hold its credentials (authrefresh.go).
			rebuild = true
		case err != nil:
			// The last built scalers stay; the triggers whose references
			// fail read as failing (unknown, never zero).
			r.Loop.SetAuthErrors(req.NamespacedName, errs)
			if msg := sanitize("credentials no longer resolve, the last ones are kept but the trigger is not read: "+err.Error(), maxEventMessage); msg != auth.failed {
				r.Events.Event(&so, corev1.EventTypeWarning, ReasonAuthError, msg)
				auth.failed = msg
			}
		case r.keyer.digest(res) != prev.auth.digest:
			rebuild, resolved = true, res
			logger.Info("Rebuilding the triggers: their credentials changed")
		default:
			r.Loop.SetAuthErrors(req.NamespacedName, nil)
			auth.failed = ""
		}
	}

	// The target's replica count: for the loop and the original count when
	// (re)building; otherwise only when a paused HPA must be rewritten at the
	// current count, so that a pass with nothing to do costs no request.
	// Taken from the target watch where it covers the target, else read
	// from /scale (scaleRead).
	var current int32
	haveCurrent, scaleRead := false, false
	getCurrent := func() (int32, error) {
		if !haveCurrent {
			n, fromScale, err := r.currentReplicas(ctx, so.Namespace, target)
			if err != nil {
				return 0, err
			}
			current, haveCurrent, scaleRead = n, true, fromScale
		}
		return current, nil
	}
	if rebuild {
		if _, err := getCurrent(); err != nil {
			switch {
			case apierrors.IsNotFound(err):
				return r.targetNotFound(ctx, &so, base, fmt.Sprintf("%s %q not found", target.Kind, target.Name), 15*time.Second)
			case errors.Is(err, ErrNoScaleSubresource):
				return r.targetNotFound(ctx, &so, base, fmt.Sprintf("%s %q cannot be scaled: %s has no /scale subresource", target.Kind, target.Name, target.Resource.GroupResource()), time.Minute)
			}
			return reconcile.Result{}, err
		}
		if base.OriginalReplicaCount == nil {
			base.OriginalReplicaCount = &current
		}
	}

	var st ObjectState
	if rebuild {
		st, auth.digest, err = r.build(ctx, &so, target, current, scaleRead, resolved)
		if resolved == nil {
			auth.resolvedAt = time.Now()
		}
		auth.failed = ""
		if err != nil {
			msg := sanitize(err.Error(), maxEventMessage)
			r.Events.Event(&so, corev1.EventTypeWarning, ReasonScalerError, msg)
			retry := time.Minute
			if auth.uses {
				// A missing Secret, say: tried again as often as
				// credentials are resolved.
				retry = refreshAfter(interval)
			}
			return r.notReady(ctx, &so, base, ReasonScalerError, msg, retry)
		}
	}

	// The owned HPA.
	var metrics []scalers.MetricSpec
	var metricNames []string
	if rebuild {
		metrics = st.metricSpecs()
		for _, m := range metrics {
			if m.Resource == nil {
				metricNames = append(metricNames, m.Name)
			}
		}
	}
	hpaGen, err := r.ensureHPA(ctx, &so, target, prev, rebuild, metrics, getCurrent)
	if err != nil {
		closeTriggers(st.Triggers)
		msg := "writing the HPA: " + apiReason(err)
		r.Events.Event(&so, corev1.EventTypeWarning, ReasonHPAError, msg)
		return r.notReady(ctx, &so, base, ReasonHPAError, msg, 0)
	}
	r.mu.Lock()
	if r.built == nil {
		r.built = map[types.NamespacedName]builtState{}
	}
	r.built[req.NamespacedName] = builtState{uid: so.UID, generation: so.Generation, annotations: annotations, hpaGen: hpaGen, hpaName: so.HPAName(), auth: auth}
	// An event held back during the apply that shows a later write than
	// Ebb's (an edit right after it) is reconciled now.
	var again time.Duration
	if w := r.writing[req.NamespacedName]; w != nil {
		for _, g := range w.seen {
			if g > hpaGen {
				again = time.Millisecond
			}
		}
		delete(r.writing, req.NamespacedName)
	}
	r.mu.Unlock()

	if rebuild {
		base.ExternalMetricNames = metricNames
		base.Ready = metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: ReasonReady,
			Message: fmt.Sprintf("scaling %s %s with HPA %s", target.Kind, target.Name, so.HPAName())}
		st.Base = base
		r.Loop.Upsert(st)
		logger.V(1).Info("Handed the ScaledObject to the scale loop", "triggers", len(st.Triggers))
	}
	if auth.uses && again == 0 {
		again = refreshAfter(interval)
	}
	return reconcile.Result{RequeueAfter: again}, nil
}

// build resolves each trigger's parameters (unless resolved holds them
// already) and builds its scaler. It returns the digest of the resolved
// credentials.
func (r *Reconciler) build(ctx context.Context, so *v1alpha1.ScaledObject, target Target, current int32, scaleRead bool, resolved []scalers.Resolved) (ObjectState, authDigest, error) {
	// The loop keeps this copy as long as it scales the object: without the
	// managed fields, which it never reads.
	obj := so.DeepCopy()
	obj.ManagedFields = nil
	st := ObjectState{Object: obj, Target: target, Current: current, ScaleRead: scaleRead}
	names := make([]string, len(so.Spec.Triggers))
	for i := range so.Spec.Triggers {
		names[i] = so.Spec.TriggerName(i)
	}
	if resolved == nil {
		var err error
		if resolved, _, err = resolveAll(ctx, len(so.Spec.Triggers), func(ctx context.Context, i int) (scalers.Resolved, error) { return r.Auth.Resolve(ctx, so, i) }); err != nil {
			return st, authDigest{}, err
		}
	}
	digest := r.keyer.digest(resolved)
	var err error
	st.Triggers, st.Resources, err = buildTriggers(ctx, r.Registry, so.Namespace, so.Name, so.Spec.Triggers, names,
		func(_ context.Context, i int) (scalers.Resolved, error) { return resolved[i], nil })
	if err != nil {
		return st, digest, err
	}
	if a := so.Spec.Advanced; a != nil && a.ScalingModifiers != nil {
		c, err := CompileTriggersComposite(r.Registry, a.ScalingModifiers, so.Spec.Triggers, names)
		if err != nil {
			closeTriggers(st.Triggers)
			return st, digest, err
		}
		st.Composite = c
	}
	return st, digest, nil
}

// metricSpecs are the metrics of the object's HPA: its triggers' (or the
// composite one), then its resource metrics.
func (st ObjectState) metricSpecs() []scalers.MetricSpec {
	var out []scalers.MetricSpec
	if st.Composite != nil {
		out = append(out, st.Composite.Spec)
	} else {
		for _, t := range st.Triggers {
			out = append(out, t.Scaler.Metric())
		}
	}
	return append(out, st.Resources...)
}

// buildTriggers resolves each trigger's references (resolve) and builds its
// scaler, for the ScaledObject or ScaledJob name in namespace; names are the
// triggers' names. A resource trigger (cpu, memory) gives only its metric,
// for the HPA: the loop never reads it. On an error it closes the scalers
// already built.
func buildTriggers(ctx context.Context, reg *scalers.Registry, namespace, name string, triggers []v1alpha1.Trigger, names []string,
	resolve func(context.Context, int) (scalers.Resolved, error)) ([]LoopTrigger, []scalers.MetricSpec, error) {
	var out []LoopTrigger
	var resources []scalers.MetricSpec
	for i, trig := range triggers {
		res, err := resolve(ctx, i)
		if err != nil {
			closeTriggers(out)
			return out, nil, err
		}
		sc, err := reg.New(scalers.Trigger{
			Namespace: namespace, ScaledObject: name, Index: i, Name: names[i], Type: trig.Type,
			Metadata: trig.Metadata, AuthParams: res.AuthParams, Env: res.Env, MetricType: trig.MetricType, Pin: res.Pin,
		})
		if err != nil {
			closeTriggers(out)
			return out, nil, err
		}
		if m := sc.Metric(); m.Resource != nil {
			_ = sc.Close()
			resources = append(resources, m)
			continue
		}
		out = append(out, LoopTrigger{Name: names[i], Type: trig.Type, Scaler: sc})
	}
	return out, resources, nil
}

func closeTriggers(ts []LoopTrigger) {
	for _, t := range ts {
		_ = t.Scaler.Close()
	}
}

// resolveTarget maps scaleTargetRef to a resource through the RESTMapper.
func (r *Reconciler) resolveTarget(so *v1alpha1.ScaledObject) (Target, error) {
	apiVersion, kind, name := targetOf(so)
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return Target{}, fmt.Errorf("scaleTargetRef.apiVersion %q: %v", apiVersion, err)
	}
	m, err := r.Mapper.RESTMapping(gv.WithKind(kind).GroupKind(), gv.Version)
	if err != nil {
		return Target{}, fmt.Errorf("scaleTargetRef: kind %s in %s is not served by the API server", kind, apiVersion)
	}
	return Target{Resource: m.Resource, APIVersion: apiVersion, Kind: kind, Name: name}, nil
}

// ensureHPA applies the desired HPA when the ScaledObject changed, when the
// HPA is missing, or when someone else changed its spec (its generation is not
// the one Ebb wrote). It returns the HPA's generation after Ebb's write.
func (r *Reconciler) ensureHPA(ctx context.Context, so *v1alpha1.ScaledObject, t Target, prev builtState, rebuild bool, metrics []scalers.MetricSpec, current func() (int32, error)) (int64, error) {
	var existing autoscalingv2.HorizontalPodAutoscaler
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: so.Namespace, Name: so.HPAName()}, &existing)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return 0, err
	default:
		owner := metav1.GetControllerOf(&existing)
		switch {
		case owner != nil && owner.UID == so.UID:
			if !rebuild && existing.Generation == prev.hpaGen {
				return prev.hpaGen, nil
			}
		case owner != nil && owner.Kind == "ScaledObject" && owner.APIVersion == v1alpha1.GroupVersion.String() && owner.Name == so.Name:
			// The HPA of a deleted ScaledObject of the same name, not yet
			// garbage-collected: it goes now.
			if err := r.Client.Delete(ctx, &existing, client.Preconditions{UID: &existing.UID}); err != nil && !apierrors.IsNotFound(err) {
				return 0, err
			}
		default:
			return 0, fmt.Errorf("HPA %s exists and is not owned by this ScaledObject", existing.Name)
		}
	}
	if metrics == nil {
		// The spec did not change but the HPA did: rebuild its metrics from
		// the loop's copy.
		metrics = r.Loop.MetricSpecs(types.NamespacedName{Namespace: so.Namespace, Name: so.Name})
	}
	var frozen *int32
	if paused, n := PauseOf(so); n != nil {
		frozen = n
	} else if paused {
		c, err := current()
		if err != nil {
			return 0, err
		}
		frozen = &c
	}
	hpa := DesiredHPA(so, t, metrics, frozen)
	if prev.hpaName != "" && prev.hpaName != hpa.Name {
		old := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Namespace: so.Namespace, Name: prev.hpaName}}
		if err := r.Client.Delete(ctx, old); err != nil && !apierrors.IsNotFound(err) {
			return 0, err
		}
	}
	body := struct {
		APIVersion string                                    `json:"apiVersion"`
		Kind       string                                    `json:"kind"`
		Metadata   metav1.ObjectMeta                         `json:"metadata"`
		Spec       autoscalingv2.HorizontalPodAutoscalerSpec `json:"spec"`
	}{"autoscaling/v2", "HorizontalPodAutoscaler", hpa.ObjectMeta, hpa.Spec}
	data, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	out := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Namespace: hpa.Namespace, Name: hpa.Name}}
	r.mu.Lock()
	if r.writing == nil {
		r.writing = map[types.NamespacedName]*hpaWrite{}
	}
	r.writing[types.NamespacedName{Namespace: so.Namespace, Name: so.Name}] = &hpaWrite{name: hpa.Name}
	r.mu.Unlock()
	if err := r.Client.Patch(ctx, out, client.RawPatch(types.ApplyPatchType, data), client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return 0, err
	}
	return out.Generation, nil
}

// currentReplicas is the target's replica count: from the target watch when
// it covers the target's kind and holds the target, else (another kind, or a
// target created a moment ago or missing) from /scale, which fromScale says.
// A target missing from both is a NotFound error.
func (r *Reconciler) currentReplicas(ctx context.Context, namespace string, t Target) (n int32, fromScale bool, err error) {
	if n, found, _ := r.Targets.Replicas(namespace, t); found {
		return n, false, nil
	}
	s, err := r.Scales.GetScale(ctx, namespace, t)
	return s.Replicas, true, err
}

// targetNotFound records Ready=False (reason TargetNotFound) like notReady,
// with a Warning Event when the condition says something new.
func (r *Reconciler) targetNotFound(ctx context.Context, so *v1alpha1.ScaledObject, base StatusBase, msg string, retry time.Duration) (reconcile.Result, error) {
	msg = sanitize(msg, 1024)
	if c := meta.FindStatusCondition(so.Status.Conditions, v1alpha1.ConditionReady); c == nil || c.Reason != ReasonTargetNotFound || c.Message != msg || c.ObservedGeneration != so.Generation {
		r.Events.Event(so, corev1.EventTypeWarning, ReasonTargetNotFound, msg)
	}
	return r.notReady(ctx, so, base, ReasonTargetNotFound, msg, retry)
}

// notReady records Ready=False and stops the loop for the object.
func (r *Reconciler) notReady(ctx context.Context, so *v1alpha1.ScaledObject, base StatusBase, reason, msg string, retry time.Duration) (reconcile.Result, error) {
	key := types.NamespacedName{Namespace: so.Namespace, Name: so.Name}
	r.Loop.Remove(key)
	r.mu.Lock()
	delete(r.built, key)
	delete(r.writing, key)
	r.mu.Unlock()
	msg = sanitize(msg, 1024)
	st := so.Status.DeepCopy()
	st.ObservedGeneration = so.Generation
	st.HPAName = base.HPAName
	st.ScaleTargetKind = base.ScaleTargetKind
	st.OriginalReplicaCount = base.OriginalReplicaCount
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse,
		Reason: reason, Message: msg, ObservedGeneration: so.Generation})
	if !equalStatus(st, &so.Status) {
		if err := r.Status.WriteStatus(ctx, so, st); err != nil {
			return reconcile.Result{}, err
		}
	}
	return reconcile.Result{RequeueAfter: retry}, nil
}

func equalStatus(a, b *v1alpha1.ScaledObjectStatus) bool {
	ac, bc := a.DeepCopy(), b.DeepCopy()
	for _, c := range [][]metav1.Condition{ac.Conditions, bc.Conditions} {
		for i := range c {
			c[i].LastTransitionTime = metav1.Time{}
		}
	}
	return equalJSON(ac, bc)
}

func equalJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}

// finalize stops scaling, removes the HPA, restores the replica count when
// asked, and lets the ScaledObject go.
func (r *Reconciler) finalize(ctx context.Context, so *v1alpha1.ScaledObject) error {
	key := types.NamespacedName{Namespace: so.Namespace, Name: so.Name}
	r.forget(key)
	if !controllerutil.ContainsFinalizer(so, Finalizer) {
		return nil
	}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Namespace: so.Namespace, Name: so.HPAName()}}
	if err := r.Client.Get(ctx, client.ObjectKeyFromObject(hpa), hpa); err == nil {
		if owner := metav1.GetControllerOf(hpa); owner != nil && owner.UID == so.UID {
			if err := r.Client.Delete(ctx, hpa); err != nil && !apierrors.IsNotFound(err) {
				return err
			}
		}
	} else if !apierrors.IsNotFound(err) {
		return err
	}
	if a := so.Spec.Advanced; a != nil && a.RestoreToOriginalReplicaCount && so.Status.OriginalReplicaCount != nil {
		if t, err := r.resolveTarget(so); err == nil {
			n := *so.Status.OriginalReplicaCount
			if err := r.Scales.SetReplicas(ctx, so.Namespace, t, n, ""); err != nil && !apierrors.IsNotFound(err) {
				return err
			}
			r.Events.Eventf(so, corev1.EventTypeNormal, "RestoredReplicas", "%s %s restored to its original %d replicas", t.Kind, t.Name, n)
		}
	}
	patch := client.MergeFrom(so.DeepCopy())
	controllerutil.RemoveFinalizer(so, Finalizer)
	return r.Client.Patch(ctx, so, patch)
}

func (r *Reconciler) forget(key types.NamespacedName) {
	r.Loop.Remove(key)
	r.mu.Lock()
	delete(r.built, key)
	delete(r.writing, key)
	r.mu.Unlock()
}

// pauseKey captures the annotations that change scaling (the HPA or the
// scale loop's decisions).
func pauseKey(so *v1alpha1.ScaledObject) string {
	a := so.Annotations
	return a[v1alpha1.AnnotationPaused] + "|" + a[v1alpha1.AnnotationPausedReplicas] + "|" +
		a[v1alpha1.AnnotationPausedScaleIn] + "|" + a[v1alpha1.AnnotationPausedScaleOut] + "|" + a[v1alpha1.AnnotationForceActivation]
}
