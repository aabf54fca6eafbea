// SPDX-License-Identifier: Apache-2.0

// Package clusterroutes gives an ebb-interceptor its routes from the
// ScaledObjects in the cluster: every http trigger in interceptor mode with
// a host publishes one route, named <namespace>/<scaledobject>/<trigger>
// (see scalers/http.RouteOf). A Syncer list-watches ScaledObjects (in all
// namespaces, or in one) and, at every change, computes the routes, swaps
// them into the Interceptor (SetRoutes) and makes the readiness Watcher
// follow their Services.
//
// A host belongs to one namespace: the one the operator's host claims
// (package hostclaims) name, which outlive a delete-and-recreate and a
// restart of every interceptor; a route for it from another namespace is
// left out. Within the namespace, two routes for the same host and path
// prefix cannot both be served: the route served already keeps it, else
// the route of the older ScaledObject (by creation time, then name) wins.
// A route left out is logged and reported as a Warning Event (reason
// RouteConflict, or RouteNotGranted for a host glob no administrator
// granted) on its ScaledObject. A trigger whose route keys do not parse
// (admission refuses them when the webhook runs) is reported the same way
// (reason RouteInvalid).
package clusterroutes

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/scalers"
	ebbhttp "github.com/ebbscale/ebb/scalers/http"
	"github.com/ebbscale/ebb/scalers/http/hostclaims"
	"github.com/ebbscale/ebb/scalers/http/interceptor"
)

// Event reasons on a ScaledObject whose route is not served.
const (
	ReasonRouteConflict   = "RouteConflict"
	ReasonRouteInvalid    = "RouteInvalid"
	ReasonRouteNotGranted = "RouteNotGranted"
)

// Problem is a trigger whose route is not served, and why.
type Problem struct {
	Object types.NamespacedName
	Route  string // the route's name
	Reason string // ReasonRouteConflict or ReasonRouteInvalid
	Msg    string
}

// Ownership is what decides which namespace a host belongs to: the durable
// claims (package hostclaims, written by the operator) at Now, and the
// administrator's host grants.
type Ownership struct {
	Claims hostclaims.Claims
	Grants hostclaims.Grants
	Now    time.Time
}

// Routes computes the routes the ScaledObjects publish and the triggers
// left out. A host belongs to one namespace: the one its claim names, or,
// for a host not claimed yet, the namespace of its oldest ScaledObject
// (creation time, then namespace and name) that may publish it; routes for
// it from any other namespace are left out (RouteConflict), and so are
// globs and granted hosts a namespace was not granted (RouteNotGranted).
// Within the owner, of several routes for one host and path prefix, the one
// in served (the routes served now) keeps it, else the oldest ScaledObject's.
// Routes come in that order, by trigger within a ScaledObject. ScaledObjects
// being deleted publish nothing. Routes is pure.
func Routes(objs []v1alpha1.ScaledObject, served []interceptor.Route, own Ownership) ([]interceptor.Route, []Problem) {
	sorted := make([]*v1alpha1.ScaledObject, 0, len(objs))
	for i := range objs {
		if objs[i].DeletionTimestamp == nil {
			sorted = append(sorted, &objs[i])
		}
	}
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	type candidate struct {
		obj   types.NamespacedName
		desc  string // the trigger, for messages
		route interceptor.Route
	}
	var cands []candidate
	var problems []Problem
	names := map[string]bool{}
	owners := map[string]string{} // host → the namespace it belongs to
	for _, so := range sorted {
		key := types.NamespacedName{Namespace: so.Namespace, Name: so.Name}
		for i, t := range so.Spec.Triggers {
			tr := scalers.Trigger{
				Namespace: so.Namespace, ScaledObject: so.Name, Index: i, Name: so.Spec.TriggerName(i),
				Type: t.Type, Metadata: t.Metadata, MetricType: t.MetricType,
			}
			r, ok, err := ebbhttp.RouteOf(tr)
			switch {
			case err != nil:
				problems = append(problems, Problem{Object: key, Route: ebbhttp.RouteName(tr), Reason: ReasonRouteInvalid,
					Msg: fmt.Sprintf("the interceptor does not serve the route of %s: %v", tr, err)})
			case !ok:
			case names[r.Name]:
				problems = append(problems, Problem{Object: key, Route: r.Name, Reason: ReasonRouteInvalid,
					Msg: fmt.Sprintf("the interceptor does not serve the route of %s: another trigger of the ScaledObject has the same name; expected unique trigger names", tr)})
			case !own.Grants.Allowed(so.Namespace, r.Host):
				problems = append(problems, Problem{Object: key, Route: r.Name, Reason: ReasonRouteNotGranted,
					Msg: fmt.Sprintf("the interceptor does not serve the route of %s: host %s is not granted to namespace %s; expected a host name no administrator's grant (interceptor.hostGrants) reserves, or a grant of it", tr, r.Host, so.Namespace)})
			default:
				names[r.Name] = true
				cands = append(cands, candidate{obj: key, desc: tr.String(), route: r})
				if _, seen := owners[r.Host]; !seen {
					owners[r.Host] = so.Namespace // the oldest publisher
				}
			}
		}
	}
	for host := range owners {
		if ns := own.Claims.Owner(host, own.Now); ns != "" && own.Grants.Allowed(ns, host) {
			owners[host] = ns
		}
	}
	places := map[string]string{} // place → the route serving it
	servedAt := map[string]string{}
	for _, r := range served {
		servedAt[r.Name] = r.Place()
	}
	for _, c := range cands {
		if p := c.route.Place(); servedAt[c.route.Name] == p && owners[c.route.Host] == c.obj.Namespace {
			places[p] = c.route.Name // served there now, and still claims it
		}
	}
	var routes []interceptor.Route
	for _, c := range cands {
		if owner := owners[c.route.Host]; owner != c.obj.Namespace {
			problems = append(problems, Problem{Object: c.obj, Route: c.route.Name, Reason: ReasonRouteConflict,
				Msg: fmt.Sprintf("the interceptor does not serve the route of %s: host %s belongs to another namespace; expected a host no other namespace uses", c.desc, c.route.Host)})
			continue
		}
		place := c.route.Place()
		if winner, taken := places[place]; taken && winner != c.route.Name {
			problems = append(problems, Problem{Object: c.obj, Route: c.route.Name, Reason: ReasonRouteConflict,
				Msg: fmt.Sprintf("the interceptor does not serve the route of %s: host %s and pathPrefix %s are already served by route %s; expected a host and pathPrefix no other ScaledObject uses", c.desc, c.route.Host, c.route.PathPrefix, winner)})
			continue
		}
		places[place] = c.route.Name
		routes = append(routes, c.route)
	}
	return routes, problems
}

// Target is what a Syncer feeds: the Interceptor.
type Target interface {
	SetRoutes([]interceptor.Route) error
	Routes() []interceptor.Route
	Services() [][2]string
}

// ServiceFollower is what a Syncer tells which Services to watch: the
// readiness Watcher.
type ServiceFollower interface {
	SetServices([][2]string) error
}

// Syncer keeps an Interceptor's routes equal to what the ScaledObjects
// publish. It needs get, list and watch on scaledobjects (in Namespace, or
// cluster-wide), and create and patch on events where it reports problems.
type Syncer struct {
	Config *rest.Config
	// Namespace restricts the watch to one namespace; empty: all.
	Namespace   string
	Interceptor Target
	// Readiness, when set, follows the routes' Services.
	Readiness ServiceFollower
	Log       logr.Logger
	// NoEvents turns off the Events on ScaledObjects (the log lines stay).
	NoEvents bool
	// SyncTimeout bounds the first list of ScaledObjects; zero: 1 minute.
	SyncTimeout time.Duration
	// ClusterDomain is the cluster's DNS domain; empty: cluster.local. A
	// route's backend http://<svc>.<ns>.svc:<port> is dialed as the fully
	// qualified <svc>.<ns>.svc.<domain>. (trailing dot: no DNS search path
	// applies, so no other namespace's name can answer for it).
	ClusterDomain string
	// ClaimsNamespace is where the operator keeps the host claims
	// (ConfigMap hostclaims.Name, read with get, list and watch); empty:
	// no claims are read, and a host belongs to the namespace of its
	// oldest ScaledObject with a route on it.
	ClaimsNamespace string
	// Grants are the administrator's host grants (globs).
	Grants hostclaims.Grants

	mu       sync.Mutex
	reported map[string]Problem // route → the problem last reported
	recorder record.EventRecorder
	cache    cache.Cache
}

// Run starts the watch and returns once the first routes are set (or with
// an error if the ScaledObjects cannot be listed); the watch goes on in the
// background until ctx ends.
func (s *Syncer) Run(ctx context.Context) error {
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	opts := cache.Options{Scheme: scheme, DefaultTransform: cache.TransformStripManagedFields()}
	if s.Namespace != "" {
		opts.DefaultNamespaces = map[string]cache.Config{s.Namespace: {}}
	}
	if s.ClaimsNamespace != "" {
		if err := corev1.AddToScheme(scheme); err != nil {
			return err
		}
		opts.ByObject = map[client.Object]cache.ByObject{&corev1.ConfigMap{}: {
			Namespaces: map[string]cache.Config{s.ClaimsNamespace: {}},
			Field:      fields.OneTermEqualSelector("metadata.name", hostclaims.Name),
		}}
	}
	c, err := cache.New(s.Config, opts)
	if err != nil {
		return fmt.Errorf("ScaledObject cache: %w", err)
	}
	s.cache = c
	if !s.NoEvents {
		kc, err := kubernetes.NewForConfig(s.Config)
		if err != nil {
			return err
		}
		b := record.NewBroadcaster(record.WithContext(ctx))
		b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: kc.CoreV1().Events("")})
		s.recorder = b.NewRecorder(scheme, corev1.EventSource{Component: "ebb-interceptor"})
		context.AfterFunc(ctx, b.Shutdown)
	}
	inf, err := c.GetInformer(ctx, &v1alpha1.ScaledObject{})
	if err != nil {
		return fmt.Errorf("watch ScaledObjects: %w", err)
	}
	changed := make(chan struct{}, 1)
	poke := func(any) {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: poke, UpdateFunc: func(_, o any) { poke(o) }, DeleteFunc: poke,
	}); err != nil {
		return fmt.Errorf("watch ScaledObjects: %w", err)
	}
	if s.ClaimsNamespace != "" {
		cinf, err := c.GetInformer(ctx, &corev1.ConfigMap{})
		if err != nil {
			return fmt.Errorf("watch the host claims: %w", err)
		}
		if _, err := cinf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc: poke, UpdateFunc: func(_, o any) { poke(o) }, DeleteFunc: poke,
		}); err != nil {
			return fmt.Errorf("watch the host claims: %w", err)
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- c.Start(ctx) }()
	sctx, cancel := context.WithTimeout(ctx, s.syncTimeout())
	defer cancel()
	if !c.WaitForCacheSync(sctx) {
		select {
		case err := <-errc:
			return fmt.Errorf("list ScaledObjects: %w", err)
		default:
		}
		if ctx.Err() != nil {
			return fmt.Errorf("list ScaledObjects: %w", context.Cause(ctx))
		}
		return fmt.Errorf("could not list and watch ScaledObjects within %s: expected get, list and watch on scaledobjects.ebb.dev %s, and the CRD installed%s", s.syncTimeout(), s.where(), s.claimsHint())
	}
	if err := s.sync(ctx); err != nil {
		return err
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-changed:
				if err := s.sync(ctx); err != nil && ctx.Err() == nil {
					s.Log.Error(err, "Updating the routes from the ScaledObjects")
				}
			}
		}
	}()
	return nil
}

// syncTimeout is SyncTimeout or its default.
func (s *Syncer) syncTimeout() time.Duration {
	if s.SyncTimeout > 0 {
		return s.SyncTimeout
	}
	return time.Minute
}

func (s *Syncer) where() string {
	if s.Namespace != "" {
		return "in namespace " + s.Namespace
	}
	return "cluster-wide"
}

func (s *Syncer) claimsHint() string {
	if s.ClaimsNamespace == "" {
		return ""
	}
	return fmt.Sprintf("; and get, list and watch on configmap %s in namespace %s (the host claims)", hostclaims.Name, s.ClaimsNamespace)
}

// sync sets the routes from the cache once.
func (s *Syncer) sync(ctx context.Context) error {
	var list v1alpha1.ScaledObjectList
	if err := s.cache.List(ctx, &list); err != nil {
		return fmt.Errorf("list ScaledObjects: %w", err)
	}
	own := Ownership{Grants: s.Grants, Now: time.Now()}
	if s.ClaimsNamespace != "" {
		var cm corev1.ConfigMap
		err := s.cache.Get(ctx, client.ObjectKey{Namespace: s.ClaimsNamespace, Name: hostclaims.Name}, &cm)
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return fmt.Errorf("read the host claims: %w", err)
		default:
			if own.Claims, err = hostclaims.Decode(&cm); err != nil {
				return err
			}
		}
	}
	routes, problems := Routes(list.Items, s.Interceptor.Routes(), own)
	for i := range routes {
		routes[i].Backend = Qualify(routes[i].Backend, s.ClusterDomain)
	}
	if err := s.Interceptor.SetRoutes(routes); err != nil {
		return fmt.Errorf("set the routes: %w", err)
	}
	if s.Readiness != nil {
		if err := s.Readiness.SetServices(s.Interceptor.Services()); err != nil {
			return err
		}
	}
	s.Log.V(1).Info("Routes updated from the ScaledObjects", "routes", len(routes), "left out", len(problems))
	s.report(list.Items, problems)
	return nil
}

// report logs each new problem once and records it as an Event on its
// ScaledObject.
func (s *Syncer) report(objs []v1alpha1.ScaledObject, problems []Problem) {
	s.mu.Lock()
	defer s.mu.Unlock()
	byKey := map[types.NamespacedName]*v1alpha1.ScaledObject{}
	for i := range objs {
		byKey[types.NamespacedName{Namespace: objs[i].Namespace, Name: objs[i].Name}] = &objs[i]
	}
	now := map[string]Problem{}
	for _, p := range problems {
		now[p.Route] = p
		if s.reported[p.Route].Msg == p.Msg {
			continue
		}
		s.Log.Info("Route left out", "scaledObject", p.Object, "route", p.Route, "reason", p.Reason, "message", p.Msg)
		if so := byKey[p.Object]; so != nil && s.recorder != nil {
			s.recorder.Event(so, corev1.EventTypeWarning, p.Reason, p.Msg)
		}
	}
	s.reported = now
}

var descLeftOut = prometheus.NewDesc("ebb_interceptor_route_left_out",
	"1 for each route a ScaledObject publishes that the interceptor does not serve, labelled with the route and the reason (RouteConflict, RouteInvalid).",
	[]string{"route", "reason"}, nil)

// Describe and Collect make the Syncer a Prometheus collector of the routes
// it leaves out, so that a conflict can be alerted on.
func (s *Syncer) Describe(ch chan<- *prometheus.Desc) { ch <- descLeftOut }

func (s *Syncer) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for route, p := range s.reported {
		ch <- prometheus.MustNewConstMetric(descLeftOut, prometheus.GaugeValue, 1, route, p.Reason)
	}
}

// Qualify turns a route's backend http://<svc>.<ns>.svc:<port> into the
// fully qualified http://<svc>.<ns>.svc.<domain>.:<port> (domain empty:
// cluster.local). Other URLs are returned as they are.
func Qualify(backend, domain string) string {
	if domain == "" {
		domain = "cluster.local"
	}
	u, err := url.Parse(backend)
	if err != nil || !strings.HasSuffix(u.Hostname(), ".svc") {
		return backend
	}
	host, port := u.Hostname()+"."+strings.TrimSuffix(domain, ".")+".", u.Port()
	u.Host = host
	if port != "" {
		u.Host = net.JoinHostPort(host, port)
	}
	return u.String()
}
