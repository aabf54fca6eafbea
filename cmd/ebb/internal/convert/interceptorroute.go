// SPDX-License-Identifier: Apache-2.0

package convert

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/ebbscale/ebb/apis/v1alpha1"
)

// The HTTP add-on's InterceptorRoute (http.keda.sh/v1beta1, its recommended
// CRD since v0.14) says how requests reach a Service and what they scale on,
// but names no workload: the user's own ScaledObject does, with an
// external-push (or external) trigger whose metadata names the route under
// interceptorRoute and reads the add-on's external scaler. In Ebb a route is
// an http trigger of the ScaledObject that scales its backend, so the pair
// converts together: that trigger becomes one http trigger (interceptor
// mode, publishing a route) per host and path prefix of the route, and the
// InterceptorRoute itself is not written.
const (
	kindInterceptorRoute = "InterceptorRoute"
	// interceptorRouteKey is the add-on's trigger metadata key that names
	// the InterceptorRoute.
	interceptorRouteKey = "interceptorRoute"
)

// routeKey names an InterceptorRoute: its namespace and name.
type routeKey struct{ namespace, name string }

// routeDoc is an InterceptorRoute of the input.
type routeDoc struct {
	o *objctx
	m map[string]any
	// conv is the route read, on first use; users the ScaledObjects whose
	// triggers it became, "namespace/name".
	conv  *routeConv
	users []string
}

// routeConv is what an InterceptorRoute says, read once.
type routeConv struct {
	routes  []httpRoute
	service string
	port    *int32
	// metrics are concurrency, request rate, or both (the add-on then
	// reports both and the HPA follows the larger count).
	metrics []httpMetric
}

// collectRoutes finds the InterceptorRoutes of the inputs before anything
// is converted, so a ScaledObject that names one converts with it wherever
// it stands in the input. Documents that do not read are left to the
// conversion pass, which reports them.
func (c *converter) collectRoutes(inputs []Input) {
	for _, in := range inputs {
		for i, d := range splitDocuments(in.Data) {
			pos := Position{File: in.Name, Index: i + 1, Item: -1, Line: d.line}
			v, err := parseDocument(d)
			if err != nil {
				continue
			}
			m, _ := v.(map[string]any)
			if kind, _ := m["kind"].(string); kind == "List" {
				items, _ := m["items"].([]any)
				for j, it := range items {
					ipos := pos
					ipos.Item = j
					im, _ := it.(map[string]any)
					c.collectRoute(ipos, im)
				}
				continue
			}
			c.collectRoute(pos, m)
		}
	}
}

func (c *converter) collectRoute(pos Position, m map[string]any) {
	apiVersion, _ := m["apiVersion"].(string)
	kind, _ := m["kind"].(string)
	if kind != kindInterceptorRoute || !strings.HasPrefix(apiVersion, "http.keda.sh/") {
		return
	}
	o := &objctx{c: c, pos: pos, kind: kind}
	if md, ok := m["metadata"].(map[string]any); ok {
		o.namespace, _ = md["namespace"].(string)
		o.name, _ = md["name"].(string)
	}
	if c.routes == nil {
		c.routes = map[routeKey]*routeDoc{}
	}
	key := routeKey{o.namespace, o.name}
	if _, dup := c.routes[key]; dup {
		o.report(Skipped, "metadata.name", "a second InterceptorRoute of this namespace and name in the input: the first is converted")
		return
	}
	c.routes[key] = &routeDoc{o: o, m: m}
}

// interceptorRoute is the conversion pass's visit of an InterceptorRoute:
// nothing is written for it there (see finishRoutes).
func (c *converter) interceptorRoute(o *objctx, apiVersion string) {
	if apiVersion != "http.keda.sh/v1beta1" {
		o.report(Note, "apiVersion", "%s is not http.keda.sh/v1beta1; read as v1beta1", apiVersion)
	}
}

// finishRoutes reports, at each InterceptorRoute, what became of it.
func (c *converter) finishRoutes() {
	for _, rd := range c.sortedRoutes() {
		if len(rd.users) == 0 {
			rd.o.report(Skipped, "", "no ScaledObject of the input reads it (a trigger of type external-push with metadata %s naming it), and Ebb's routes are http triggers of the ScaledObject that scales the backend: not converted; convert it together with its ScaledObject", interceptorRouteKey)
			continue
		}
		rd.o.report(Note, "", "not written: it became the http triggers of ScaledObject %s (interceptor mode: each publishes a route to ebb-interceptor)", strings.Join(rd.users, ", "))
	}
}

// routeTrigger converts a trigger that reads the add-on's external scaler
// for an InterceptorRoute (md names it) into http triggers, when the route
// is in the input. alone says the object has no other trigger and no formula
// of its own, so a formula may add the routes up (returned). ok is false
// when the route is not in the input: the trigger then converts as it is.
func (o *objctx) routeTrigger(n *node, md map[string]string, s *v1alpha1.ScaledObjectSpec, alone bool) (ts []v1alpha1.Trigger, sum *v1alpha1.ScalingModifiers, ok bool) {
	rd := o.c.routes[routeKey{o.namespace, md[interceptorRouteKey]}]
	if rd == nil {
		o.report(Changed, n.path, "reads the HTTP add-on's external scaler for an InterceptorRoute that is not in this input: converted as it is, so the add-on's scaler and interceptor must keep running; convert the InterceptorRoute with this ScaledObject to move its routes to ebb-interceptor")
		return nil, nil, false
	}
	if rd.conv == nil {
		rd.conv = rd.o.readRoute(rd.m)
	}
	rc := rd.conv
	rd.users = append(rd.users, o.namespace+"/"+o.name)

	formula := alone && len(rc.routes) > 1
	names := routeNames(rc.routes)
	var conc, rate []string
	for i, r := range rc.routes {
		for _, m := range rc.metrics {
			md := map[string]string{"interceptorURL": interceptorAdminURL, "host": r.host, m.key: m.target}
			if r.prefix != "/" {
				md["pathPrefix"] = r.prefix
			}
			if rc.service != "" {
				md["service"] = rc.service
			}
			if rc.port != nil {
				md["port"] = strconv.Itoa(int(*rc.port))
			}
			if m.window != "" {
				md["window"] = m.window
			}
			name := names[i]
			if len(rc.metrics) > 1 {
				name = metricName(name, m.key, formula)
			}
			if m.key == "targetRequestRate" {
				rate = append(rate, name)
			} else {
				conc = append(conc, name)
			}
			ts = append(ts, v1alpha1.Trigger{
				Type: "http", Name: name, Metadata: md,
				AuthenticationRef: &v1alpha1.AuthenticationRef{Name: interceptorAuthName, Kind: "ClusterTriggerAuthentication"},
			})
		}
	}
	if len(ts) > maxTriggers {
		formula = false
	}
	where := fmt.Sprintf("InterceptorRoute %s (%s)", rd.o.name, rd.o.pos)
	o.report(Note, n.path, "replaced by %d http %s built from %s: interceptor mode, each publishing one host and path prefix to ebb-interceptor", len(ts), plural(len(ts), "trigger", "triggers"), where)
	switch {
	case formula && len(rc.metrics) == 1:
		sum = &v1alpha1.ScalingModifiers{Formula: strings.Join(slices.Concat(conc, rate), " + "), Target: rc.metrics[0].target}
		o.report(Note, n.path, "advanced.scalingModifiers adds the routes up (formula %s, target %s), so the replica count follows their total as it followed the add-on's one metric; while one route cannot be read the total is unknown", sum.Formula, sum.Target)
	case formula:
		tc, tr := rc.metrics[0].target, rc.metrics[1].target
		sum = &v1alpha1.ScalingModifiers{Formula: fmt.Sprintf("max((%s) / %s, (%s) / %s)", strings.Join(conc, " + "), tc, strings.Join(rate, " + "), tr), Target: "1"}
		o.report(Note, n.path, "advanced.scalingModifiers takes the larger of the routes' total concurrency over %s and total request rate over %s (formula %s, target 1), as the add-on's two metrics did; while one route cannot be read the total is unknown", tc, tr, sum.Formula)
	case len(rc.routes) > 1:
		o.report(Changed, n.path, "the route has %d hosts and path prefixes, one http trigger each; the object has other triggers or a formula, so they are not added up: the HPA follows the busiest one, not the route's total", len(rc.routes))
	}
	if s.Advanced != nil && s.Advanced.ScalingModifiers != nil && !alone {
		if name, _ := n.m["name"].(string); name != "" && strings.Contains(s.Advanced.ScalingModifiers.Formula, name) {
			o.report(Changed, "spec.advanced.scalingModifiers.formula", "names the add-on's trigger %s, now http triggers named %s: rewrite the formula", name, strings.Join(slices.Concat(conc, rate), ", "))
		}
	}
	if len(ts) > maxTriggers {
		o.report(Invalid, n.path, "the InterceptorRoute makes %d http triggers; an Ebb ScaledObject takes at most %d: use fewer hosts or path prefixes", len(ts), maxTriggers)
	}
	o.report(Changed, n.path, "the route moves to ebb-interceptor (docs/interceptor.md) from the add-on's interceptor: install it (Helm interceptor.enabled=true) and send these hosts' traffic to its Service %s instead of keda-add-ons-http-interceptor-proxy; the triggers read it at %s (the chart in namespace ebb-system): change interceptorURL if Ebb runs elsewhere", interceptorProxyService, interceptorAdminURL)

	c := o.c
	if c.interceptorAuth == nil {
		c.interceptorAuth = &interceptorAuthUse{at: len(c.res.Documents)}
	}
	if !slices.Contains(c.interceptorAuth.objs, o) {
		c.interceptorAuth.objs = append(c.interceptorAuth.objs, o)
		c.refs = append(c.refs, authRef{obj: o, key: authKey{kind: "ClusterTriggerAuthentication", name: interceptorAuthName}})
	}
	return ts, sum, true
}

// metricName names a route's trigger for one of two metrics. In a formula a
// '-' would read as a minus.
func metricName(route, key string, formula bool) string {
	suffix := "concurrency"
	if key == "targetRequestRate" {
		suffix = "rate"
	}
	if !formula {
		suffix = "-" + suffix
	}
	return strings.TrimRight(route[:min(len(route), 63-len(suffix))], "-") + suffix
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// readRoute reads an InterceptorRoute's spec, reporting at it what does not
// carry over to Ebb's interceptor.
func (o *objctx) readRoute(m map[string]any) *routeConv {
	rc := &routeConv{}
	root := newNode(o, "", m)
	for _, k := range []string{"apiVersion", "kind", "status", "metadata"} {
		root.take(k)
	}
	spec := root.child("spec")
	root.rest("not a field of an InterceptorRoute")
	if spec == nil {
		o.report(Changed, "spec", "is missing: the triggers have no Service and no target")
		spec = newNode(o, "spec", map[string]any{})
	}
	if t := spec.child("target"); t != nil {
		rc.service, _ = t.str("service")
		rc.port = t.int32("port", 1, Dropped, "")
		if _, ok := t.str("portName"); ok {
			if rc.port != nil {
				o.report(Note, t.field("portName"), "port is set too (the add-on takes only one of them): left out")
			} else {
				o.report(Dropped, t.field("portName"), "Ebb's http trigger takes the Service's port number, not its name: left out; set the triggers' port")
			}
		}
		t.rest("not a field of the add-on's target")
	}
	rc.routes = o.routeRules(spec)
	if sm := spec.child("scalingMetric"); sm != nil {
		if c := sm.child("concurrency"); c != nil {
			rc.metrics = append(rc.metrics, o.concurrencyMetric(c))
		}
		if r := sm.child("requestRate"); r != nil {
			rc.metrics = append(rc.metrics, o.rateMetric(r))
		}
		sm.rest("not a field of scalingMetric")
	}
	if len(rc.metrics) == 0 {
		rc.metrics = []httpMetric{{key: "targetConcurrency", target: strconv.Itoa(addonTargetValue)}}
		o.report(Changed, "spec.scalingMetric", "has neither concurrency nor requestRate (the add-on requires one): written as targetConcurrency: \"100\", the add-on's usual target")
	}
	o.routeDropped(spec)
	spec.rest("not a field of an InterceptorRoute's spec")
	return rc
}

// routeRules reads the routing rules: one route for each host and path
// prefix of each rule, as the add-on matches them.
func (o *objctx) routeRules(spec *node) []httpRoute {
	var routes []httpRoute
	taken := map[[2]string]bool{}
	add := func(h, p routeItem) {
		if k := [2]string{h.value, p.value}; !taken[k] {
			taken[k] = true
			routes = append(routes, httpRoute{host: h.value, prefix: p.value, hostField: h.field, prefixField: p.field})
		}
	}
	rules, _ := spec.list("rules")
	for i, item := range rules {
		r := o.mapping(item, fmt.Sprintf("spec.rules[%d]", i))
		if r == nil {
			continue
		}
		path := r.path
		var hosts, prefixes []routeItem
		seen := map[string]string{}
		if l, ok := r.list("hosts"); ok {
			for j, v := range l {
				if h, ok := o.routeHost(v, fmt.Sprintf("%s.hosts[%d]", path, j), seen); ok {
					hosts = append(hosts, h)
				}
			}
		}
		seen = map[string]string{}
		if l, ok := r.list("paths"); ok {
			for j, v := range l {
				pn := o.mapping(v, fmt.Sprintf("%s.paths[%d]", path, j))
				if pn == nil {
					continue
				}
				if pv, ok := pn.take("value"); ok {
					if p, ok := o.routePrefix(pv, pn.field("value"), seen); ok {
						prefixes = append(prefixes, p)
					}
				}
				pn.rest("not a field of a path match")
			}
		}
		if l, ok := r.list("headers"); ok && len(l) > 0 {
			o.report(Dropped, r.field("headers"), "Ebb's interceptor routes by host and path prefix only: left out, so this rule takes requests whatever their headers")
		}
		r.rest("not a field of a routing rule")
		if len(hosts) == 0 {
			o.report(Changed, r.field("hosts"), "not set (or none usable): the rule serves any host; written as host \"*\", which Ebb refuses from a ScaledObject (a host belongs to one namespace): set the hosts")
			hosts = []routeItem{{"*", r.field("hosts")}}
		}
		if len(prefixes) == 0 {
			prefixes = []routeItem{{"/", r.field("paths")}}
		}
		for _, h := range hosts {
			for _, p := range prefixes {
				add(h, p)
			}
		}
	}
	if len(routes) == 0 {
		o.report(Changed, "spec.rules", "no routing rule: the add-on sends it every request no other route takes; written as host \"*\", which Ebb refuses from a ScaledObject (a host belongs to one namespace): set the hosts")
		add(routeItem{"*", "spec.rules"}, routeItem{"/", "spec.rules"})
	}
	return routes
}

// routeDropped reports the InterceptorRoute's settings that Ebb's
// interceptor has only as its own flags, or not at all.
func (o *objctx) routeDropped(spec *node) {
	if cs := spec.child("coldStart"); cs != nil {
		if f := cs.child("fallback"); f != nil {
			for k := range f.m {
				f.take(k)
			}
			o.report(Dropped, f.path, "Ebb's interceptor has no fallback Service: while the target is at zero it holds requests until a replica is ready, or answers 503 after its --hold-timeout (the chart's interceptor.holdTimeout, %s): left out", chartHoldTimeout)
		}
		if p := cs.child("placeholder"); p != nil {
			for k := range p.m {
				p.take(k)
			}
			o.report(Dropped, p.path, "Ebb's interceptor serves no placeholder response: it holds requests until a replica is ready: left out")
		}
		cs.rest("not a field of coldStart")
	}
	if t := spec.child("timeouts"); t != nil {
		for _, d := range []struct{ key, why string }{
			{"readiness", "Ebb's interceptor waits for a ready backend up to its --hold-timeout, one value for all routes (the chart's interceptor.holdTimeout, " + chartHoldTimeout + ")"},
			{"request", "Ebb's interceptor has no per-route deadline for a whole request"},
			{"responseHeader", "Ebb's interceptor bounds a backend's response headers by its --response-header-timeout, one value for all routes (none by default)"},
		} {
			if _, ok := t.str(d.key); ok {
				o.report(Dropped, t.field(d.key), "%s: left out", d.why)
			}
		}
		t.rest("not a field of timeouts")
	}
	if l, ok := spec.list("staticRoutes"); ok && len(l) > 0 {
		o.report(Changed, "spec.staticRoutes", "Ebb's interceptor has no static routes: the requests they matched (health checks, say) now go to the backend and count toward scaling, and wake it from zero; with responseMode Always the add-on never sent them to the backend: left out")
	}
}

// sortedRoutes lists the InterceptorRoutes in input order.
func (c *converter) sortedRoutes() []*routeDoc {
	out := make([]*routeDoc, 0, len(c.routes))
	for _, rd := range c.routes {
		out = append(out, rd)
	}
	slices.SortFunc(out, func(a, b *routeDoc) int {
		return cmp.Or(cmp.Compare(c.order[a.o.pos.File], c.order[b.o.pos.File]), cmp.Compare(a.o.pos.Index, b.o.pos.Index), cmp.Compare(a.o.pos.Item, b.o.pos.Item))
	})
	return out
}
