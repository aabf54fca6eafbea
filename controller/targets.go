// SPDX-License-Identifier: Apache-2.0

package controller

import (
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/ebbscale/ebb/apis/v1alpha1"
)

// TargetCounts gives scale targets' replica counts without a request per
// target. The reconciler and the scale loop read a target's count here and
// fall back to its /scale subresource where it has none; the loop still reads
// /scale right before it moves a target.
type TargetCounts interface {
	// Replicas returns the spec.replicas of the target t in namespace as
	// last seen. watched is false when nothing here covers t's resource;
	// found is false when it is covered but not seen (it does not exist,
	// or was created a moment ago). Safe for concurrent use; called on
	// every reconcile that builds an object and on every poll.
	Replicas(namespace string, t Target) (replicas int32, found, watched bool)
}

// TargetWatch is a TargetCounts for the built-in workloads most
// ScaledObjects scale, Deployments and StatefulSets (apps/v1): one watch of
// each kind, cluster-wide, whose objects are kept stripped to their name,
// namespace, resourceVersion and spec.replicas (about 250 bytes each, against
// more than 1 KiB for a Deployment with no field set at all). A new
// ScaledObject on such a target so needs no GET of /scale to become Ready.
// Other kinds (a custom resource with /scale) are read through /scale.
//
// Its watches run as a source of the ScaledObject controller (Source), so
// they start, and are synced, before the first reconcile, and stop with it
// (on the leader only). A target created after its ScaledObject has the
// ScaledObject reconciled at once.
type TargetWatch struct {
	informers map[schema.GroupResource]toolscache.SharedIndexInformer
}

// watchedKinds are the resources TargetWatch keeps, with the object each
// watch decodes and the count of one.
var watchedKinds = []struct {
	resource schema.GroupVersionResource
	kind     string
	object   runtime.Object
	replicas func(runtime.Object) (*int32, metav1.Object, bool)
}{
	{appsv1.SchemeGroupVersion.WithResource("deployments"), "Deployment", &appsv1.Deployment{}, func(o runtime.Object) (*int32, metav1.Object, bool) {
		d, ok := o.(*appsv1.Deployment)
		if !ok {
			return nil, nil, false
		}
		return d.Spec.Replicas, d, true
	}},
	{appsv1.SchemeGroupVersion.WithResource("statefulsets"), "StatefulSet", &appsv1.StatefulSet{}, func(o runtime.Object) (*int32, metav1.Object, bool) {
		s, ok := o.(*appsv1.StatefulSet)
		if !ok {
			return nil, nil, false
		}
		return s.Spec.Replicas, s, true
	}},
}

// NewTargetWatch makes the watches (not started) from cfg, asking the API
// server for protobuf, which is cheaper to decode than JSON for the whole
// objects the watches receive before they are stripped.
func NewTargetWatch(cfg *rest.Config) (*TargetWatch, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.ContentType = runtime.ContentTypeProtobuf
	cfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client for the target watch: %w", err)
	}
	w := &TargetWatch{informers: map[schema.GroupResource]toolscache.SharedIndexInformer{}}
	for _, k := range watchedKinds {
		lw := toolscache.NewListWatchFromClient(kc.AppsV1().RESTClient(), k.resource.Resource, metav1.NamespaceAll, fields.Everything())
		inf := toolscache.NewSharedIndexInformerWithOptions(lw, k.object, toolscache.SharedIndexInformerOptions{
			ObjectDescription: "scale targets (" + k.resource.Resource + ")",
		})
		if err := inf.SetTransform(stripTarget(k.replicas)); err != nil {
			return nil, err
		}
		w.informers[k.resource.GroupResource()] = inf
	}
	return w, nil
}

// stripTarget keeps of a watched object what TargetWatch reads. A count the
// API server left unset is 1, its default for both kinds.
func stripTarget(replicas func(runtime.Object) (*int32, metav1.Object, bool)) toolscache.TransformFunc {
	return func(obj any) (any, error) {
		if t, ok := obj.(*watchedTarget); ok {
			return t, nil
		}
		o, ok := obj.(runtime.Object)
		if !ok {
			return obj, nil
		}
		n, m, ok := replicas(o)
		if !ok {
			return obj, nil
		}
		t := &watchedTarget{Replicas: 1}
		t.Name, t.Namespace, t.ResourceVersion = m.GetName(), m.GetNamespace(), m.GetResourceVersion()
		if n != nil {
			t.Replicas = *n
		}
		return t, nil
	}
}

// Replicas implements TargetCounts.
func (w *TargetWatch) Replicas(namespace string, t Target) (int32, bool, bool) {
	if w == nil {
		return 0, false, false
	}
	inf, ok := w.informers[t.Resource.GroupResource()]
	if !ok || !inf.HasSynced() {
		return 0, false, false
	}
	obj, exists, err := inf.GetStore().GetByKey(namespace + "/" + t.Name)
	if err != nil || !exists {
		return 0, false, true
	}
	wt, ok := obj.(*watchedTarget)
	if !ok {
		return 0, false, false
	}
	return wt.Replicas, true, true
}

// Source is the controller's source of the watches: it starts them, has the
// controller wait for them to sync, and turns the creation of a target
// (after the initial list) into reconcile requests (toRequests: the
// ScaledObjects on that target, given its group, kind and name).
func (w *TargetWatch) Source(toRequests func(ctx context.Context, group, kind, namespace, name string) []reconcile.Request) source.Source {
	return &targetSource{w: w, toRequests: toRequests}
}

type targetSource struct {
	w          *TargetWatch
	toRequests func(ctx context.Context, group, kind, namespace, name string) []reconcile.Request
}

var _ source.SyncingSource = (*targetSource)(nil)

// Start runs the watches until ctx ends and queues the requests for targets
// created from then on.
func (s *targetSource) Start(ctx context.Context, queue workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
	for _, k := range watchedKinds {
		inf := s.w.informers[k.resource.GroupResource()]
		group, kind := k.resource.Group, k.kind
		if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerDetailedFuncs{
			AddFunc: func(obj any, initial bool) {
				t, ok := obj.(*watchedTarget)
				if !ok || initial {
					// The initial list: every ScaledObject is reconciled
					// at the start anyway.
					return
				}
				for _, req := range s.toRequests(ctx, group, kind, t.Namespace, t.Name) {
					queue.Add(req)
				}
			},
		}); err != nil {
			return err
		}
		go inf.RunWithContext(ctx)
	}
	return nil
}

// WaitForSync waits until every watch has listed its objects.
func (s *targetSource) WaitForSync(ctx context.Context) error {
	synced := make([]toolscache.InformerSynced, 0, len(s.w.informers))
	for _, inf := range s.w.informers {
		synced = append(synced, inf.HasSynced)
	}
	if !toolscache.WaitForCacheSync(ctx.Done(), synced...) {
		return errors.New("the watches of Deployments and StatefulSets did not sync (may the operator list and watch them?)")
	}
	return nil
}

func (s *targetSource) String() string { return "scale targets (Deployments, StatefulSets)" }

// watchedTarget is what TargetWatch keeps of a Deployment or StatefulSet.
type watchedTarget struct {
	metav1.ObjectMeta
	Replicas int32
}

var _ client.Object = (*watchedTarget)(nil)

func (t *watchedTarget) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

func (t *watchedTarget) DeepCopyObject() runtime.Object {
	c := *t
	t.ObjectMeta.DeepCopyInto(&c.ObjectMeta)
	return &c
}

// scaledObjectsOn lists the ScaledObjects in namespace whose target is
// group/kind/name, as reconcile requests.
func (r *Reconciler) scaledObjectsOn(ctx context.Context, group, kind, namespace, name string) []reconcile.Request {
	return r.requestsForTarget(ctx, namespace, group+"/"+kind+"/"+name)
}

// requestsForTarget lists the ScaledObjects in namespace whose targetKey is
// key, as reconcile requests.
func (r *Reconciler) requestsForTarget(ctx context.Context, namespace, key string) []reconcile.Request {
	var list v1alpha1.ScaledObjectList
	if err := r.Client.List(ctx, &list, client.InNamespace(namespace), client.MatchingFields{indexSOTarget: key}); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, len(list.Items))
	for i, so := range list.Items {
		reqs[i] = reconcile.Request{NamespacedName: types.NamespacedName{Namespace: so.Namespace, Name: so.Name}}
	}
	return reqs
}
