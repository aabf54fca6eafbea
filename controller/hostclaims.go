// SPDX-License-Identifier: Apache-2.0

package controller

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/scalers/http/hostclaims"
)

// HostClaims keeps the interceptor routes' host claims (package hostclaims)
// in the ConfigMap hostclaims.Name of Namespace: it is their one writer, on
// the leader only. It recomputes them when a ScaledObject changes and when
// a claim's release time comes. It needs get, create and update on that
// ConfigMap.
type HostClaims struct {
	// Objects lists the ScaledObjects (the manager's cached client);
	// Informers tell of their changes (the manager's cache).
	Objects   client.Reader
	Informers cache.Informers
	// Reader reads the ConfigMap (uncached: one object, no cluster-wide
	// ConfigMap watch); Writer creates and updates it.
	Reader    client.Reader
	Writer    client.Writer
	Namespace string
	// Grace is how long a namespace keeps a host after its last route on
	// it goes; zero: hostclaims.DefaultGrace.
	Grace time.Duration
	// Grants are the administrator's host grants, as the interceptors have
	// them.
	Grants hostclaims.Grants
	// Owners are the ConfigMap's owner references when it is made.
	Owners []metav1.OwnerReference
	Log    logr.Logger
	// Now is the clock; nil: time.Now.
	Now func() time.Time

	// last is the ConfigMap as last read or written: as the one writer, a
	// pass that changes nothing makes no API request. Sync is not
	// concurrent (Start calls it from one goroutine).
	last *corev1.ConfigMap
}

var (
	_ manager.Runnable               = (*HostClaims)(nil)
	_ manager.LeaderElectionRunnable = (*HostClaims)(nil)
)

// NeedLeaderElection: one writer, the leader.
func (h *HostClaims) NeedLeaderElection() bool { return true }

// Start updates the claims until ctx ends.
func (h *HostClaims) Start(ctx context.Context) error {
	inf, err := h.Informers.GetInformer(ctx, &v1alpha1.ScaledObject{})
	if err != nil {
		return fmt.Errorf("host claims: watch ScaledObjects: %w", err)
	}
	changed := make(chan struct{}, 1)
	poke := func(any) {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	reg, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: poke, UpdateFunc: func(_, o any) { poke(o) }, DeleteFunc: poke,
	})
	if err != nil {
		return fmt.Errorf("host claims: watch ScaledObjects: %w", err)
	}
	defer func() { _ = inf.RemoveEventHandler(reg) }()
	if !h.Informers.WaitForCacheSync(ctx) {
		return nil // ctx ended
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-timer.C:
		}
		next, err := h.Sync(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			h.Log.Error(err, "Updating the host claims")
			next = 5 * time.Second // and again on the next change
		}
		timer.Reset(next)
	}
}

// Sync writes the claims once and returns when they next need a look (the
// earliest release time; an hour when none is due).
func (h *HostClaims) Sync(ctx context.Context) (time.Duration, error) {
	now := time.Now()
	if h.Now != nil {
		now = h.Now()
	}
	grace := h.Grace
	if grace <= 0 {
		grace = hostclaims.DefaultGrace
	}
	var list v1alpha1.ScaledObjectList
	if err := h.Objects.List(ctx, &list); err != nil {
		return 0, fmt.Errorf("list ScaledObjects: %w", err)
	}
	var cm corev1.ConfigMap
	key := client.ObjectKey{Namespace: h.Namespace, Name: hostclaims.Name}
	found := true
	if h.last != nil {
		h.last.DeepCopyInto(&cm)
	} else if err := h.Reader.Get(ctx, key, &cm); apierrors.IsNotFound(err) {
		found = false
	} else if err != nil {
		return 0, fmt.Errorf("read ConfigMap %s: %w", key, err)
	}
	h.last = nil // until written or found unchanged: an error reads it again
	prev, err := hostclaims.Decode(&cm)
	if err != nil {
		h.Log.Error(err, "Host claims unreadable; starting from none")
		prev = hostclaims.Claims{}
	}
	next := hostclaims.Next(prev, hostclaims.Publishers(list.Items), h.Grants, now, grace)
	data := hostclaims.Encode(next)
	wait := time.Hour
	for _, c := range next {
		if c.Release != nil && c.Release.Sub(now) < wait {
			wait = max(c.Release.Sub(now), time.Second)
		}
	}
	switch {
	case !found:
		cm = corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: h.Namespace, Name: hostclaims.Name,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "ebb-operator"}, OwnerReferences: h.Owners}, Data: data}
		if err := h.Writer.Create(ctx, &cm); err != nil {
			return 0, fmt.Errorf("create ConfigMap %s: %w", key, err)
		}
	case !maps.Equal(cm.Data, data):
		cm.Data = data
		if err := h.Writer.Update(ctx, &cm); err != nil {
			return 0, fmt.Errorf("update ConfigMap %s: %w", key, err)
		}
	default:
		h.last = &cm
		return wait, nil
	}
	h.last = &cm
	h.Log.V(1).Info("Host claims updated", "hosts", len(next))
	return wait, nil
}

// hostOwnedElsewhere returns, for each of so's routes whose host another
// namespace owns now, the trigger index and the host. The claims are read
// with one uncached GET.
func hostOwnedElsewhere(ctx context.Context, r client.Reader, namespace string, so *v1alpha1.ScaledObject) (map[int]string, error) {
	publishes := false
	for _, t := range so.Spec.Triggers {
		publishes = publishes || hostclaims.HostOf(t.Type, t.Metadata) != ""
	}
	if !publishes {
		return nil, nil // no GET for a ScaledObject without routes
	}
	var cm corev1.ConfigMap
	if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: hostclaims.Name}, &cm); apierrors.IsNotFound(err) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	claims, err := hostclaims.Decode(&cm)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := map[int]string{}
	for i, t := range so.Spec.Triggers {
		host := hostclaims.HostOf(t.Type, t.Metadata)
		if host == "" {
			continue
		}
		if owner := claims.Owner(host, now); owner != "" && owner != so.Namespace {
			out[i] = host
		}
	}
	return out, nil
}
