// SPDX-License-Identifier: Apache-2.0

package controller

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/scalers"
)

// mirror keeps the scale loop's objects on replicas that are not the leader,
// so that every replica's metrics adapter can answer the HPA: it builds each
// ScaledObject's scalers and hands them to the loop, which on a non-leader
// only serves reads (a miss reads through the scaler, a formula reads its
// triggers through) and neither polls, scales nor writes. It also hands the
// loop each status the leader writes (ScaleLoop.FollowStatus), without a
// rebuild, so that fallback values agree with the leader's. On the leader it
// does nothing: the Reconciler owns the loop there, and rebuilds every object
// when it takes over.
type mirror struct {
	r       *Reconciler
	elected <-chan struct{}

	mu    sync.Mutex
	built map[types.NamespacedName]mirrorEntry
}

// mirrorEntry is a mirrored object as built: its version, the digest of its
// credentials and when they were last resolved (authrefresh.go).
type mirrorEntry struct {
	version    mirrored
	digest     authDigest
	resolvedAt time.Time
}

// mirrored is what a built object's scalers depend on: a change rebuilds them.
type mirrored struct {
	uid        types.UID
	generation int64
	pause      string
}

func (m *mirror) setup(mgr ctrl.Manager) error {
	m.elected = mgr.Elected()
	m.built = map[types.NamespacedName]mirrorEntry{}
	// Every update, status included: the leader's status writes carry the
	// replica count and failure counts followers serve fallbacks with.
	return ctrl.NewControllerManagedBy(mgr).
		Named("scaledobject-mirror").
		For(&v1alpha1.ScaledObject{}, builder.WithPredicates(predicate.ResourceVersionChangedPredicate{})).
		WithOptions(controller.Options{NeedLeaderElection: ptrTo(false), MaxConcurrentReconciles: 4}).
		Complete(m)
}

func (m *mirror) leader() bool {
	select {
	case <-m.elected:
		return true
	default:
		return false
	}
}

// Reconcile mirrors one ScaledObject into the loop.
func (m *mirror) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	if m.leader() {
		return reconcile.Result{}, nil
	}
	var so v1alpha1.ScaledObject
	if err := m.r.Client.Get(ctx, req.NamespacedName, &so); err != nil {
		if client.IgnoreNotFound(err) == nil {
			m.forget(req.NamespacedName)
		}
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !so.DeletionTimestamp.IsZero() {
		m.forget(req.NamespacedName)
		return reconcile.Result{}, nil
	}
	version := mirrored{uid: so.UID, generation: so.Generation, pause: pauseKey(&so)}
	m.mu.Lock()
	prev, known := m.built[req.NamespacedName]
	m.mu.Unlock()
	// Credentials are resolved again as on the leader (without the
	// failing-read path: followers do not poll), and the scalers rebuilt
	// when they changed.
	interval := so.Spec.PollingIntervalDuration()
	var result reconcile.Result
	if usesCredentials(so.Spec.Triggers) {
		result.RequeueAfter = refreshAfter(interval)
	}
	var resolved []scalers.Resolved
	if known && prev.version == version {
		if result.RequeueAfter == 0 || time.Since(prev.resolvedAt) < recheckGap(interval) {
			m.r.Loop.FollowStatus(&so)
			return result, nil
		}
		res, errs, err := resolveAll(ctx, len(so.Spec.Triggers), func(ctx context.Context, i int) (scalers.Resolved, error) { return m.r.Auth.Resolve(ctx, &so, i) })
		m.mu.Lock()
		if cur, ok := m.built[req.NamespacedName]; ok && cur.version == version {
			cur.resolvedAt = time.Now()
			m.built[req.NamespacedName] = cur
		}
		m.mu.Unlock()
		if revoked(errs) {
			// Its credentials are no longer the namespace's to use.
			m.forget(req.NamespacedName)
			return result, nil
		}
		if err != nil || m.r.keyer.digest(res) == prev.digest {
			// Unchanged, or no longer resolving: the leader reports that,
			// and this replica keeps the scalers it has.
			m.r.Loop.FollowStatus(&so)
			return result, nil
		}
		resolved = res
	}
	target, err := m.r.resolveTarget(&so)
	if err != nil {
		m.forget(req.NamespacedName)
		return reconcile.Result{}, nil // the leader reports it in status
	}
	st, digest, err := m.r.build(ctx, &so, target, so.Status.CurrentReplicas, false, resolved)
	if err != nil {
		m.forget(req.NamespacedName)
		return result, nil // likewise
	}
	if m.leader() { // took over while building: the Reconciler owns the loop now
		closeTriggers(st.Triggers)
		return reconcile.Result{}, nil
	}
	m.r.Loop.Upsert(st)
	m.r.Loop.FollowStatus(&so)
	m.mu.Lock()
	m.built[req.NamespacedName] = mirrorEntry{version: version, digest: digest, resolvedAt: time.Now()}
	m.mu.Unlock()
	return result, nil
}

func (m *mirror) forget(key types.NamespacedName) {
	if !m.leader() {
		m.r.Loop.Remove(key)
	}
	m.mu.Lock()
	delete(m.built, key)
	m.mu.Unlock()
}
