// SPDX-License-Identifier: Apache-2.0

package controller

import (
	"context"
	"fmt"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// JobReconciler reconciles ScaledJobs: it keeps Ebb's finalizer on them,
// builds their triggers' scalers, hands them to the JobLoop and writes the
// Ready condition. When a ScaledJob goes, its running Jobs are deleted
// (rollout strategy default) or released from it to finish (gradual).
type JobReconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// Reader lists Jobs straight from the API server.
	Reader   client.Reader
	Registry *scalers.Registry
	Auth     *scalers.AuthResolver
	Loop     *JobLoop
	Events   record.EventRecorder
	// MaxConcurrentReconciles: ScaledJobs reconciled at once.
	MaxConcurrentReconciles int

	mu    sync.Mutex
	built map[types.NamespacedName]jobBuilt
	// As the Reconciler's (authrefresh.go).
	keyer        authKeyer
	recheckQueue chan event.GenericEvent
}

type jobBuilt struct {
	uid        types.UID
	generation int64
	paused     string
	auth       authState
}

// SetupWithManager registers the reconciler.
func (r *JobReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.ScaledJob{}, indexAuthRef, func(o client.Object) []string {
		return authRefKeys(o.(*v1alpha1.ScaledJob).Spec.Triggers)
	}); err != nil {
		return err
	}
	if r.MaxConcurrentReconciles <= 0 {
		r.MaxConcurrentReconciles = 4
	}
	r.keyer = newAuthKeyer()
	r.recheckQueue = make(chan event.GenericEvent, 1024)
	return ctrl.NewControllerManagedBy(mgr).
		Named("scaledjob").
		For(&v1alpha1.ScaledJob{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(&v1alpha1.TriggerAuthentication{}, handler.EnqueueRequestsFromMapFunc(r.objectsOfAuth),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&v1alpha1.ClusterTriggerAuthentication{}, handler.EnqueueRequestsFromMapFunc(r.objectsOfAuth),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WatchesRawSource(source.Channel(r.recheckQueue, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Complete(r)
}

// objectsOfAuth maps a TriggerAuthentication (or cluster one) to the
// ScaledJobs that name it.
func (r *JobReconciler) objectsOfAuth(ctx context.Context, o client.Object) []reconcile.Request {
	var list v1alpha1.ScaledJobList
	if err := r.Client.List(ctx, &list, authRefSelector(o)...); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, len(list.Items))
	for i, sj := range list.Items {
		reqs[i] = reconcile.Request{NamespacedName: types.NamespacedName{Namespace: sj.Namespace, Name: sj.Name}}
	}
	return reqs
}

// recheck is Reconciler.recheck for a ScaledJob (JobLoop.Recheck).
func (r *JobReconciler) recheck(ctx context.Context, key types.NamespacedName) bool {
	r.mu.Lock()
	b, ok := r.built[key]
	r.mu.Unlock()
	if !ok || !b.auth.uses || time.Since(b.auth.resolvedAt) < b.auth.gap {
		return false
	}
	var sj v1alpha1.ScaledJob
	if err := r.Client.Get(ctx, key, &sj); err != nil || sj.UID != b.uid || sj.Generation != b.generation {
		return false
	}
	res, errs, err := resolveAll(ctx, len(sj.Spec.Triggers), func(ctx context.Context, i int) (scalers.Resolved, error) { return r.Auth.ResolveJob(ctx, &sj, i) })
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
	case r.recheckQueue <- event.GenericEvent{Object: &sj}:
	default: // full: the periodic resolution will do
	}
	return err == nil
}

// Reconcile brings one ScaledJob to its desired state.
func (r *JobReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	logger := log.FromContext(ctx)
	var sj v1alpha1.ScaledJob
	if err := r.Client.Get(ctx, req.NamespacedName, &sj); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName)
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	if !sj.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, r.finalize(ctx, &sj)
	}
	if !controllerutil.ContainsFinalizer(&sj, Finalizer) {
		patch := client.MergeFrom(sj.DeepCopy())
		controllerutil.AddFinalizer(&sj, Finalizer)
		if err := r.Client.Patch(ctx, &sj, patch); err != nil {
			return reconcile.Result{}, err
		}
	}
	paused := sj.Annotations[v1alpha1.AnnotationPaused]
	r.mu.Lock()
	prev, known := r.built[req.NamespacedName]
	r.mu.Unlock()
	interval := sj.Spec.PollingIntervalDuration()
	var result reconcile.Result
	auth := authState{uses: usesCredentials(sj.Spec.Triggers), gap: recheckGap(interval)}
	if auth.uses {
		result.RequeueAfter = refreshAfter(interval)
	}
	var resolved []scalers.Resolved
	rebuild := false
	if known && prev.uid == sj.UID && prev.generation == sj.Generation && prev.paused == paused && r.Loop.Has(req.NamespacedName) {
		if !auth.uses {
			return result, nil
		}
		// Credentials, resolved again: rebuilt when they changed (see
		// Reconciler.Reconcile).
		res, errs, err := resolveAll(ctx, len(sj.Spec.Triggers), func(ctx context.Context, i int) (scalers.Resolved, error) { return r.Auth.ResolveJob(ctx, &sj, i) })
		auth.digest, auth.failed, auth.resolvedAt = prev.auth.digest, prev.auth.failed, time.Now()
		switch {
		case err != nil && revoked(errs):
			// Rebuilt, which fails and lets the scalers go (authrefresh.go).
			rebuild = true
		case err != nil:
			r.Loop.SetAuthErrors(req.NamespacedName, errs)
			if msg := sanitize("credentials no longer resolve, the last ones are kept but the trigger is not read: "+err.Error(), maxEventMessage); msg != auth.failed {
				r.Events.Event(&sj, corev1.EventTypeWarning, ReasonAuthError, msg)
				auth.failed = msg
			}
		case r.keyer.digest(res) != prev.auth.digest:
			resolved = res
			logger.Info("Rebuilding the triggers: their credentials changed")
		default:
			r.Loop.SetAuthErrors(req.NamespacedName, nil)
			auth.failed = ""
		}
		if resolved == nil && !rebuild {
			prev.auth = auth
			r.mu.Lock()
			r.built[req.NamespacedName] = prev
			r.mu.Unlock()
			return result, nil
		}
	}

	st, digest, err := r.build(ctx, &sj, resolved)
	if err != nil {
		msg := sanitize(err.Error(), maxEventMessage)
		r.Events.Event(&sj, corev1.EventTypeWarning, ReasonScalerError, msg)
		retry := time.Minute
		if auth.uses {
			retry = result.RequeueAfter
		}
		return r.notReady(ctx, &sj, ReasonScalerError, msg, retry)
	}
	auth.digest, auth.failed = digest, ""
	if resolved == nil {
		auth.resolvedAt = time.Now()
	}
	r.mu.Lock()
	if r.built == nil {
		r.built = map[types.NamespacedName]jobBuilt{}
	}
	r.built[req.NamespacedName] = jobBuilt{uid: sj.UID, generation: sj.Generation, paused: paused, auth: auth}
	r.mu.Unlock()
	r.Loop.Upsert(st)
	logger.V(1).Info("Handed the ScaledJob to the job loop", "triggers", len(st.Triggers))
	return result, nil
}

// build resolves each trigger's parameters (unless resolved holds them) and
// builds its scaler; it returns the digest of the credentials.
func (r *JobReconciler) build(ctx context.Context, sj *v1alpha1.ScaledJob, resolved []scalers.Resolved) (JobState, authDigest, error) {
	obj := sj.DeepCopy()
	obj.ManagedFields = nil
	st := JobState{Object: obj, Ready: metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: ReasonReady,
		Message: fmt.Sprintf("creating Jobs for %d trigger(s), strategy %s, at most %d running", len(sj.Spec.Triggers), sj.Spec.Strategy(), sj.Spec.MaxReplicas())}}
	names := make([]string, len(sj.Spec.Triggers))
	for i := range sj.Spec.Triggers {
		names[i] = sj.Spec.TriggerName(i)
	}
	if resolved == nil {
		var err error
		if resolved, _, err = resolveAll(ctx, len(sj.Spec.Triggers), func(ctx context.Context, i int) (scalers.Resolved, error) { return r.Auth.ResolveJob(ctx, sj, i) }); err != nil {
			return st, authDigest{}, err
		}
	}
	var err error
	var resources []scalers.MetricSpec
	st.Triggers, resources, err = buildTriggers(ctx, r.Registry, sj.Namespace, sj.Name, sj.Spec.Triggers, names,
		func(_ context.Context, i int) (scalers.Resolved, error) { return resolved[i], nil })
	if err == nil && len(resources) > 0 {
		// Admission refuses these; an object from before that rule fails here.
		closeTriggers(st.Triggers)
		err = fmt.Errorf("a %s trigger does not apply to a ScaledJob: Jobs are not scaled by an HPA", resources[0].Resource.Name)
	}
	return st, r.keyer.digest(resolved), err
}

// notReady records Ready=False and stops polling the ScaledJob.
func (r *JobReconciler) notReady(ctx context.Context, sj *v1alpha1.ScaledJob, reason, msg string, retry time.Duration) (reconcile.Result, error) {
	r.forget(types.NamespacedName{Namespace: sj.Namespace, Name: sj.Name})
	st := sj.Status.DeepCopy()
	st.ObservedGeneration = sj.Generation
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse,
		Reason: reason, Message: truncate(msg, 1024), ObservedGeneration: sj.Generation})
	if !equalJSON(st, &sj.Status) {
		if err := WriteJobStatus(ctx, r.Client, sj, st); err != nil {
			return reconcile.Result{}, err
		}
	}
	return reconcile.Result{RequeueAfter: retry}, nil
}

// finalize stops polling and deals with the running Jobs: deleted with
// rollout strategy default, released (their owner reference removed, so
// garbage collection leaves them) with gradual. Finished Jobs go with their
// owner by garbage collection.
func (r *JobReconciler) finalize(ctx context.Context, sj *v1alpha1.ScaledJob) error {
	r.forget(types.NamespacedName{Namespace: sj.Namespace, Name: sj.Name})
	if !controllerutil.ContainsFinalizer(sj, Finalizer) {
		return nil
	}
	var jobs batchv1.JobList
	if err := r.Reader.List(ctx, &jobs, client.InNamespace(sj.Namespace), client.MatchingLabels{v1alpha1.LabelScaledJob: sj.Name}); err != nil {
		return err
	}
	gradual := sj.Spec.RolloutStrategy() == v1alpha1.RolloutGradual
	deleted := 0
	for i := range jobs.Items {
		j := &jobs.Items[i]
		if owner := metav1.GetControllerOfNoCopy(j); owner == nil || owner.UID != sj.UID {
			continue
		}
		if finished, _ := JobFinished(j); finished || !j.DeletionTimestamp.IsZero() {
			continue
		}
		if gradual {
			patch := client.MergeFrom(j.DeepCopy())
			var keep []metav1.OwnerReference
			for _, o := range j.OwnerReferences {
				if o.UID != sj.UID {
					keep = append(keep, o)
				}
			}
			j.OwnerReferences = keep
			if err := r.Client.Patch(ctx, j, patch); err != nil && !apierrors.IsNotFound(err) {
				return err
			}
			continue
		}
		err := r.Client.Delete(ctx, j, client.PropagationPolicy(metav1.DeletePropagationBackground), client.Preconditions{UID: &j.UID})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		deleted++
	}
	if deleted > 0 {
		r.Events.Eventf(sj, corev1.EventTypeNormal, "JobsDeleted", "deleted %d running Job(s) with the ScaledJob (rollout strategy default)", deleted)
	}
	patch := client.MergeFrom(sj.DeepCopy())
	controllerutil.RemoveFinalizer(sj, Finalizer)
	return r.Client.Patch(ctx, sj, patch)
}

func (r *JobReconciler) forget(key types.NamespacedName) {
	r.Loop.Remove(key)
	r.mu.Lock()
	delete(r.built, key)
	r.mu.Unlock()
}
