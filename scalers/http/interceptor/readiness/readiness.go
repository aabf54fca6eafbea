// SPDX-License-Identifier: Apache-2.0

// Package readiness feeds an interceptor the ready endpoints of its routes'
// Services, from the EndpointSlices in the API server.
package readiness

import (
	"context"
	"fmt"
	"slices"
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
// ready endpoints each has, at start and at every change. SetServices
// changes the Services it follows. It needs list and watch on
// endpointslices in those namespaces, nothing cluster-wide.
type Watcher struct {
	client kubernetes.Interface
	sink   Sink

	// mu guards everything below, and makes each report read the cache and
	// tell the sink in one step, so that a report never overwrites a newer
	// count with an older one.
	mu         sync.Mutex
	ctx        context.Context // set by Run
	want       map[string][]string
	namespaces map[string]*nsWatch
}

// nsWatch is the informer of one namespace's followed Services.
type nsWatch struct {
	services []string // sorted
	lister   discoverylisters.EndpointSliceLister
	synced   cache.InformerSynced
	stop     context.CancelFunc
}

// NewWatcher returns a Watcher of the given (namespace, service) pairs.
func NewWatcher(client kubernetes.Interface, sink Sink, services [][2]string) *Watcher {
	return &Watcher{client: client, sink: sink, want: byNamespace(services), namespaces: map[string]*nsWatch{}}
}

func byNamespace(services [][2]string) map[string][]string {
	m := map[string][]string{}
	seen := map[[2]string]bool{}
	for _, s := range services {
		if s[1] == "" || seen[s] {
			continue
		}
		seen[s] = true
		m[s[0]] = append(m[s[0]], s[1])
	}
	for _, svcs := range m {
		sort.Strings(svcs)
	}
	return m
}

// Run watches until ctx ends. It returns once the caches have synced and
// every Service's count has been given to the Sink, or with an error if they
// cannot sync; the watches go on in the background until ctx ends.
func (w *Watcher) Run(ctx context.Context) error {
	w.mu.Lock()
	w.ctx = ctx
	if err := w.apply(); err != nil {
		w.mu.Unlock()
		return err
	}
	var synced []cache.InformerSynced
	for _, nw := range w.namespaces {
		synced = append(synced, nw.synced)
	}
	w.mu.Unlock()
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return fmt.Errorf("EndpointSlice caches did not sync: %w", context.Cause(ctx))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for ns, nw := range w.namespaces {
		for _, svc := range nw.services {
			w.report(nw, ns, svc)
		}
	}
	return nil
}

// SetServices makes the Watcher follow these (namespace, service) pairs
// from now on. The watch of a namespace whose Services changed restarts
// (in the background: the counts follow once it has synced); the Sink hears
// nothing more of a Service no longer followed. Before Run, it changes what
// Run starts with.
func (w *Watcher) SetServices(services [][2]string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.want = byNamespace(services)
	if w.ctx == nil {
		return nil
	}
	return w.apply()
}

// apply starts, restarts and stops namespace watches to match w.want.
// Called with w.mu held, after Run.
func (w *Watcher) apply() error {
	for ns, nw := range w.namespaces {
		if !slices.Equal(nw.services, w.want[ns]) {
			nw.stop()
			delete(w.namespaces, ns)
		}
	}
	for ns, svcs := range w.want {
		if _, ok := w.namespaces[ns]; ok {
			continue
		}
		nw, err := w.start(ns, svcs)
		if err != nil {
			return err
		}
		w.namespaces[ns] = nw
		if w.ctx.Err() == nil {
			go w.reportWhenSynced(ns, nw)
		}
	}
	return nil
}

func (w *Watcher) start(ns string, svcs []string) (*nsWatch, error) {
	ctx, cancel := context.WithCancel(w.ctx)
	sel := discoveryv1.LabelServiceName + " in (" + strings.Join(svcs, ",") + ")"
	f := informers.NewSharedInformerFactoryWithOptions(w.client, 0,
		informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = sel }))
	inf := f.Discovery().V1().EndpointSlices()
	nw := &nsWatch{services: slices.Clone(svcs), lister: inf.Lister(), stop: cancel}
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
		w.mu.Lock()
		defer w.mu.Unlock()
		w.report(nw, ns, svc)
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    update,
		UpdateFunc: func(_, obj any) { update(obj) },
		DeleteFunc: update,
	}); err != nil {
		cancel()
		return nil, fmt.Errorf("watch EndpointSlices in %s: %w", ns, err)
	}
	nw.synced = inf.Informer().HasSynced
	f.Start(ctx.Done())
	return nw, nil
}

// reportWhenSynced reports every Service of a (re)started namespace watch
// once it has synced, so that a Service whose slices went away while no
// watch ran reads 0.
func (w *Watcher) reportWhenSynced(ns string, nw *nsWatch) {
	ctx := w.ctx
	if !cache.WaitForCacheSync(ctx.Done(), nw.synced) {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, svc := range nw.services {
		w.report(nw, ns, svc)
	}
}

// report tells the sink a Service's count, if nw is still the namespace's
// watch. Called with w.mu held.
func (w *Watcher) report(nw *nsWatch, ns, svc string) {
	if w.namespaces[ns] != nw {
		return // a stopped watch
	}
	sel := labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: svc})
	found, err := nw.lister.EndpointSlices(ns).List(sel)
	if err != nil {
		return
	}
	w.sink.SetReadyEndpoints(ns, svc, ReadyEndpoints(found))
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
