// Package readiness feeds an interceptor the ready endpoints of its routes'
// Services, from the EndpointSlices in the API server.
package readiness

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
)

// Sink takes the ready endpoint count of a Service.
type Sink interface {
	SetReadyEndpoints(namespace, service string, n int)
}

// Watcher watches the EndpointSlices of some Services (label
// kubernetes.io/service-name) in their namespaces and tells a Sink how many
// ready endpoints each has, at start and at every change. It needs list and
// watch on endpointslices in those namespaces, nothing cluster-wide.
type Watcher struct {
	client   kubernetes.Interface
	sink     Sink
	services map[string][]string // namespace → services

	// mu makes each report read the cache and tell the sink in one step, so
	// that a report never overwrites a newer count with an older one.
	mu sync.Mutex
}

// NewWatcher returns a Watcher of the given (namespace, service) pairs.
func NewWatcher(client kubernetes.Interface, sink Sink, services [][2]string) *Watcher {
	w := &Watcher{client: client, sink: sink, services: map[string][]string{}}
	for _, s := range services {
		w.services[s[0]] = append(w.services[s[0]], s[1])
	}
	return w
}

// Run watches until ctx ends. It returns once the caches have synced and
// every Service's count has been given to the Sink, or with an error if they
// cannot sync; the watches go on in the background until ctx ends.
func (w *Watcher) Run(ctx context.Context) error {
	var synced []cache.InformerSynced
	type nsLister struct {
		ns     string
		lister discoverylisters.EndpointSliceLister
	}
	var listers []nsLister
	for ns, svcs := range w.services {
		sort.Strings(svcs)
		sel := discoveryv1.LabelServiceName + " in (" + strings.Join(svcs, ",") + ")"
		f := informers.NewSharedInformerFactoryWithOptions(w.client, 0,
			informers.WithNamespace(ns),
			informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = sel }))
		inf := f.Discovery().V1().EndpointSlices()
		lister := inf.Lister()
		ns := ns
		update := func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			es, ok := obj.(*discoveryv1.EndpointSlice)
			if !ok {
				return
			}
			svc := es.Labels[discoveryv1.LabelServiceName]
			if svc == "" {
				return
			}
			w.report(lister, ns, svc)
		}
		if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    update,
			UpdateFunc: func(_, obj any) { update(obj) },
			DeleteFunc: update,
		}); err != nil {
			return fmt.Errorf("watch EndpointSlices in %s: %w", ns, err)
		}
		synced = append(synced, inf.Informer().HasSynced)
		listers = append(listers, nsLister{ns, lister})
		f.Start(ctx.Done())
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return fmt.Errorf("EndpointSlice caches did not sync: %w", context.Cause(ctx))
	}
	for _, l := range listers {
		for _, svc := range w.services[l.ns] {
			w.report(l.lister, l.ns, svc)
		}
	}
	return nil
}

func (w *Watcher) report(lister discoverylisters.EndpointSliceLister, ns, svc string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	sel := labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: svc})
	slices, err := lister.EndpointSlices(ns).List(sel)
	if err != nil {
		return
	}
	w.sink.SetReadyEndpoints(ns, svc, ReadyEndpoints(slices))
}

// ReadyEndpoints counts the distinct ready endpoints of a Service's slices
// (a Pod in an IPv4 and an IPv6 slice counts once). An endpoint whose ready
// condition is unset is ready, as Kubernetes defines it.
func ReadyEndpoints(slices []*discoveryv1.EndpointSlice) int {
	seen := map[string]bool{}
	for _, es := range slices {
		for _, ep := range es.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			key := ""
			switch {
			case ep.TargetRef != nil:
				key = ep.TargetRef.Namespace + "/" + ep.TargetRef.Name
			case len(ep.Addresses) > 0:
				key = ep.Addresses[0]
			default:
				continue
			}
			seen[key] = true
		}
	}
	return len(seen)
}
