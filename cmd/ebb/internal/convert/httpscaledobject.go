// SPDX-License-Identifier: Apache-2.0

package convert

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ebbscale/ebb/apis/v1alpha1"
)

// KEDA's HTTP add-on: its annotations on an HTTPScaledObject.
const (
	kedaSkipScaledObject   = "httpscaledobject.keda.sh/skip-scaledobject-creation"
	kedaOrphanScaledObject = "httpscaledobject.keda.sh/orphan-scaledobject"
)

// Where Ebb's Helm chart (deploy/helm/ebb, interceptor.enabled=true) serves
// ebb-interceptor, installed as the install guide does, in ebb-system: the
// admin Service ebb-interceptor-admin on interceptor.adminPort, and the admin
// token in the Secret ebb-interceptor-token of the release (= operator)
// namespace, which is where a ClusterTriggerAuthentication's Secrets are read.
const (
	interceptorAdminURL     = "http://ebb-interceptor-admin.ebb-system.svc:9090"
	interceptorProxyService = "ebb-interceptor"
	interceptorAuthName     = "ebb-interceptor"
	interceptorTokenSecret  = "ebb-interceptor-token"
	interceptorTokenKey     = "token"
	chartInterceptorWindow  = time.Minute
	chartHoldTimeout        = "30 s"
	interceptorBucket       = time.Second
)

// The add-on's own values for what an HTTPScaledObject leaves unset, and for
// the ScaledObject it makes.
const (
	addonTargetValue     = 100
	addonPollingInterval = 15
)

// maxTriggers is the API's limit on a ScaledObject's triggers.
const maxTriggers = 32

// interceptorAuthUse records the ScaledObjects converted from HTTPScaledObjects,
// whose triggers name the ClusterTriggerAuthentication interceptorAuthName.
type interceptorAuthUse struct {
	// at is the index in Result.Documents of the first of them: the
	// ClusterTriggerAuthentication is written just before it.
	at   int
	objs []*objctx
}

// httpRoute is one (host, path prefix) of an HTTPScaledObject: one http trigger.
type httpRoute struct {
	host, prefix           string
	hostField, prefixField string
}

// httpMetric is what the triggers scale on.
type httpMetric struct {
	key, target string // targetConcurrency or targetRequestRate, and its value
	window      string
	// fields are the input fields the metadata keys come from.
	fields map[string]string
}

// httpScaledObject converts KEDA HTTP add-on's HTTPScaledObject into the
// ScaledObject the add-on would have made, with one http trigger (interceptor
// mode, publishing a route) per host and path prefix.
func (c *converter) httpScaledObject(o *objctx, m map[string]any) *v1alpha1.ScaledObject {
	root := newNode(o, "", m)
	root.take("apiVersion")
	root.take("kind")
	root.take("status")
	if skipsScaledObject(m) {
		o.report(Skipped, "metadata.annotations["+kedaSkipScaledObject+"]", `is "true": the add-on made no ScaledObject; one of your own scales the target through the add-on's external-push scaler. Ebb's routes come from http triggers, so give the Ebb version of that ScaledObject one http trigger per host and path prefix in place of external-push (docs/scalers/http.md): not converted`)
		return nil
	}
	so := &v1alpha1.ScaledObject{TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "ScaledObject"}}
	so.ObjectMeta = o.objectMeta(root.child("metadata"), false, o.httpScaledObjectAnnotation)
	spec := root.child("spec")
	root.rest("not a field of an HTTPScaledObject")
	if spec == nil {
		o.report(Skipped, "spec", "is missing: not converted")
		return nil
	}
	s := &so.Spec

	var service string
	var port *int32
	target := spec.child("scaleTargetRef")
	if target != nil {
		s.ScaleTargetRef.APIVersion, _ = target.str("apiVersion")
		s.ScaleTargetRef.Kind, _ = target.str("kind")
		s.ScaleTargetRef.Name, _ = target.str("name")
		service, _ = target.str("service")
		port = target.int32("port", 1, Dropped, "")
		if _, ok := target.str("portName"); ok {
			if port != nil {
				o.report(Note, target.field("portName"), "port is set too (the add-on takes only one of them): left out")
			} else {
				o.report(Dropped, target.field("portName"), "Ebb's http trigger takes the Service's port number, not its name: left out; set the trigger's port")
			}
		}
		target.rest("not a field of the add-on's scaleTargetRef")
	}
	if s.ScaleTargetRef.Name == "" {
		spec.rest("not a field of an HTTPScaledObject's spec")
		o.report(Skipped, "spec.scaleTargetRef.name", "is missing: not converted")
		return nil
	}

	if r := spec.child("replicas"); r != nil {
		s.MinReplicaCount = r.int32("min", 0, Changed, "; the default, 0, applies")
		s.MaxReplicaCount = r.int32("max", 1, Changed, "; the default, 100, applies")
		r.rest("not a field of replicas")
	}
	if s.CooldownPeriod = spec.int32("scaledownPeriod", 0, Changed, "; the default, 300 s, applies"); s.CooldownPeriod != nil {
		o.report(Note, "spec.scaledownPeriod", "written as cooldownPeriod: after the last active read, the time before the target goes to zero")
	}
	s.InitialCooldownPeriod = spec.int32("initialCooldownPeriod", 0, Changed, "; the default, 0, applies")
	if s.MinReplicas() > s.MaxReplicas() {
		o.report(Invalid, "spec.replicas.min", "%d is above max %d; Ebb refuses it", s.MinReplicas(), s.MaxReplicas())
	}

	metric := o.httpMetric(spec)
	routes := o.httpRoutes(spec)
	o.httpDropped(spec)
	spec.rest("not a field of an HTTPScaledObject's spec")

	// The add-on's ScaledObject polls every 15 s and restores the target's
	// replica count when it goes.
	s.PollingInterval = ptrTo(int32(addonPollingInterval))
	s.Advanced = &v1alpha1.AdvancedConfig{RestoreToOriginalReplicaCount: true}
	o.report(Note, "", "pollingInterval set to %d and advanced.restoreToOriginalReplicaCount to true, as in the ScaledObject the add-on makes", addonPollingInterval)

	names := routeNames(routes)
	sources := make([]map[string]string, len(routes))
	for i, r := range routes {
		md := map[string]string{"interceptorURL": interceptorAdminURL, "host": r.host}
		src := map[string]string{"host": r.hostField, "service": "spec.scaleTargetRef.service", "port": "spec.scaleTargetRef.port"}
		if r.prefix != "/" {
			md["pathPrefix"] = r.prefix
			src["pathPrefix"] = r.prefixField
		}
		if service != "" {
			md["service"] = service
		}
		if port != nil {
			md["port"] = strconv.Itoa(int(*port))
		}
		md[metric.key] = metric.target
		if metric.window != "" {
			md["window"] = metric.window
		}
		for k, f := range metric.fields {
			src[k] = f
		}
		s.Triggers = append(s.Triggers, v1alpha1.Trigger{
			Type: "http", Name: names[i], Metadata: md,
			AuthenticationRef: &v1alpha1.AuthenticationRef{Name: interceptorAuthName, Kind: "ClusterTriggerAuthentication"},
		})
		sources[i] = src
	}
	if len(routes) > 1 {
		s.Advanced.ScalingModifiers = &v1alpha1.ScalingModifiers{Formula: strings.Join(names, " + "), Target: metric.target}
		o.report(Note, "", "%d routes (hosts × pathPrefixes), one http trigger each; advanced.scalingModifiers adds them up (formula %s, target %s), so the replica count follows their total as it followed the add-on's one metric. While one route cannot be read the total is unknown, and the target neither activates nor goes to zero on it", len(routes), s.Advanced.ScalingModifiers.Formula, metric.target)
	}
	if len(routes) > maxTriggers {
		o.report(Invalid, "spec.hosts", "with spec.pathPrefixes makes %d routes; an Ebb ScaledObject takes at most %d triggers: use fewer hosts or path prefixes (host \"*\" serves every host no other route serves)", len(routes), maxTriggers)
	}
	o.report(Changed, "", "its routes move to ebb-interceptor (docs/interceptor.md) in place of the add-on's interceptor: install it (Helm interceptor.enabled=true) and send these hosts' traffic to its Service %s instead of keda-add-ons-http-interceptor-proxy; the triggers read it at %s (the chart in namespace ebb-system): change interceptorURL if Ebb runs elsewhere", interceptorProxyService, interceptorAdminURL)

	o.admission(so, httpInputField(sources))
	if c.interceptorAuth == nil {
		c.interceptorAuth = &interceptorAuthUse{at: len(c.res.Documents)}
	}
	c.interceptorAuth.objs = append(c.interceptorAuth.objs, o)
	c.refs = append(c.refs, authRef{obj: o, key: authKey{kind: "ClusterTriggerAuthentication", name: interceptorAuthName}})
	return so
}

func ptrTo[T any](v T) *T { return &v }

// skipsScaledObject says whether the add-on's annotation tells it to make no
// ScaledObject: the add-on takes exactly "true".
func skipsScaledObject(m map[string]any) bool {
	md, _ := m["metadata"].(map[string]any)
	anns, _ := md["annotations"].(map[string]any)
	v, _ := anns[kedaSkipScaledObject].(string)
	return v == "true"
}

// httpScaledObjectAnnotation maps the annotations of an HTTPScaledObject. The
// add-on copies them onto the ScaledObject it makes, so KEDA's ScaledObject
// annotations (paused, ...) mean there what they mean on a ScaledObject.
func (o *objctx) httpScaledObjectAnnotation(n *node, key, value string, out map[string]string) bool {
	field := n.field("annotations") + "[" + key + "]"
	switch key {
	case kedaSkipScaledObject:
		o.report(Note, field, `is not "true": the add-on made the ScaledObject, as this conversion does: left out`)
	case kedaOrphanScaledObject:
		o.report(Note, field, "no HTTPScaledObject owns Ebb's ScaledObject, so there is nothing to outlive: left out")
	default:
		return o.scaledObjectAnnotation(n, key, value, out)
	}
	return true
}

// httpMetric reads scalingMetric (or the deprecated targetPendingRequests):
// concurrency by default, with the add-on's target of 100.
func (o *objctx) httpMetric(spec *node) httpMetric {
	const why = "; the add-on's default, 100, applies"
	def := strconv.Itoa(addonTargetValue)
	var conc, rate *node
	if sm := spec.child("scalingMetric"); sm != nil {
		conc = sm.child("concurrency")
		rate = sm.child("requestRate")
		sm.rest("not a field of scalingMetric")
	}
	_, hasPending := spec.m["targetPendingRequests"]
	if hasPending && (conc != nil || rate != nil) {
		spec.take("targetPendingRequests")
		o.report(Note, "spec.targetPendingRequests", "deprecated, and the add-on ignores it when scalingMetric is set: left out")
	}
	switch {
	case conc != nil:
		if rate != nil {
			for k := range rate.m {
				rate.take(k)
			}
			o.report(Dropped, rate.path, "the add-on refuses concurrency and requestRate together; concurrency is converted: left out")
		}
		return o.concurrencyMetric(conc)
	case rate != nil:
		return o.rateMetric(rate)
	}
	m := httpMetric{key: "targetConcurrency", target: def, fields: map[string]string{"targetConcurrency": "spec.targetPendingRequests"}}
	if hasPending {
		if v := spec.int32("targetPendingRequests", 1, Changed, why); v != nil {
			m.target = strconv.Itoa(int(*v))
			o.report(Note, "spec.targetPendingRequests", "deprecated in the add-on; written as targetConcurrency (requests in flight, and held, per replica)")
		}
		return m
	}
	m.fields["targetConcurrency"] = "spec.scalingMetric"
	o.report(Note, "spec.scalingMetric", "not set: the add-on scales on concurrency with a target of 100; written as targetConcurrency: \"100\" (Ebb requires a target)")
	return m
}

// concurrencyMetric reads the add-on's scalingMetric.concurrency.
func (o *objctx) concurrencyMetric(conc *node) httpMetric {
	const why = "; the add-on's default, 100, applies"
	m := httpMetric{key: "targetConcurrency", target: strconv.Itoa(addonTargetValue), fields: map[string]string{"targetConcurrency": conc.field("targetValue")}}
	if v := conc.int32("targetValue", 1, Changed, why); v != nil {
		m.target = strconv.Itoa(int(*v))
	} else if _, set := conc.m["targetValue"]; !set {
		o.report(Note, conc.field("targetValue"), "not set: the add-on's default, 100, written out (Ebb requires a target)")
	}
	conc.rest("not a field of concurrency")
	return m
}

// rateMetric reads the add-on's scalingMetric.requestRate.
func (o *objctx) rateMetric(rate *node) httpMetric {
	const why = "; the add-on's default, 100, applies"
	m := httpMetric{key: "targetRequestRate", target: strconv.Itoa(addonTargetValue), fields: map[string]string{"targetRequestRate": rate.field("targetValue"), "window": rate.field("window")}}
	if v := rate.int32("targetValue", 1, Changed, why); v != nil {
		m.target = strconv.Itoa(int(*v))
	} else if _, set := rate.m["targetValue"]; !set {
		o.report(Note, rate.field("targetValue"), "not set: the add-on's default, 100, written out (Ebb requires a target)")
	}
	if w, ok := rate.str("window"); ok {
		d, err := time.ParseDuration(strings.TrimSpace(w))
		switch {
		case err != nil:
			o.report(Changed, rate.field("window"), "expected a duration such as 1m: left out; 1m applies (the add-on's default and Ebb's)")
		case d > chartInterceptorWindow:
			m.window = strings.TrimSpace(w)
			o.report(Changed, rate.field("window"), "is longer than the span ebb-interceptor counts over (its --window, the chart's interceptor.window, 1m), which caps it: raise interceptor.window to match")
		default:
			m.window = strings.TrimSpace(w)
		}
	}
	if g, ok := rate.str("granularity"); ok {
		if d, err := time.ParseDuration(strings.TrimSpace(g)); err == nil && d == interceptorBucket {
			o.report(Note, rate.field("granularity"), "1s, the slice ebb-interceptor counts in (its --bucket, one value for all routes): left out")
		} else {
			o.report(Dropped, rate.field("granularity"), "ebb-interceptor counts every route in slices of its --bucket (1s by default), not per route: left out")
		}
	}
	rate.rest("not a field of requestRate")
	return m
}

// routeItem is a host or path prefix of a route, and the input field it
// comes from.
type routeItem struct{ value, field string }

// routeHost normalizes one of the add-on's hosts as its interceptor matches
// it (no case, no port; "" and "*" any host), reporting what changes;
// seen holds the hosts taken so far (ok false: a duplicate).
func (o *objctx) routeHost(v any, f string, seen map[string]string) (routeItem, bool) {
	h, ok := v.(string)
	if !ok {
		o.report(Dropped, f, "expected a string, found %s: left out", describe(v))
		return routeItem{}, false
	}
	h = strings.ToLower(strings.TrimSpace(h))
	host, _, err := net.SplitHostPort(h)
	hasPort := err == nil
	if hasPort {
		h = host
	}
	switch {
	case h == "" || h == "*":
		h = "*"
	case strings.HasPrefix(h, "*."):
		o.report(Changed, f, "a wildcard subdomain: Ebb's interceptor serves a host glob only in a namespace an administrator grants it (the chart's interceptor.hostGrants), and matches one label (a.example.com for *.example.com, not a.b.example.com)")
	}
	if first, dup := seen[h]; dup {
		o.report(Note, f, "the same host as %s, as the add-on matches hosts (without case or port): one route", first)
		return routeItem{}, false
	}
	if hasPort {
		o.report(Note, f, "has a port; the add-on, like Ebb's interceptor, matches the host without it: written without")
	}
	seen[h] = f
	return routeItem{h, f}, true
}

// routePrefix normalizes one of the add-on's path prefixes as its
// interceptor matches it (one leading '/', no trailing one); seen holds the
// prefixes taken so far (ok false: a duplicate).
func (o *objctx) routePrefix(v any, f string, seen map[string]string) (routeItem, bool) {
	p, ok := v.(string)
	if !ok {
		o.report(Dropped, f, "expected a string, found %s: left out", describe(v))
		return routeItem{}, false
	}
	norm := "/" + strings.Trim(strings.TrimSpace(p), "/")
	if first, dup := seen[norm]; dup {
		o.report(Note, f, "the same path prefix as %s, as the add-on matches prefixes (without leading or trailing '/'): one route", first)
		return routeItem{}, false
	}
	if norm != p {
		o.report(Note, f, "written with one leading '/' and no trailing '/': the add-on matched it so, by whole path segments, as Ebb's interceptor does")
	}
	seen[norm] = f
	return routeItem{norm, f}, true
}

// httpRoutes reads hosts and pathPrefixes: one route for each pair, as the
// add-on matches them.
func (o *objctx) httpRoutes(spec *node) []httpRoute {
	var hosts, prefixes []routeItem
	seen := map[string]string{}
	dropped := 0
	if l, ok := spec.list("hosts"); ok {
		for i, v := range l {
			if h, ok := o.routeHost(v, fmt.Sprintf("spec.hosts[%d]", i), seen); ok {
				hosts = append(hosts, h)
			} else if _, isString := v.(string); !isString {
				dropped++
			}
		}
	}
	if len(hosts) == 0 {
		if dropped > 0 {
			o.report(Changed, "spec.hosts", "has no host left that Ebb's interceptor matches; written as host \"*\", which Ebb refuses from a ScaledObject (a host belongs to one namespace): set the hosts")
		} else {
			o.report(Changed, "spec.hosts", "not set (or empty): the add-on then serves any host; written as host \"*\", which Ebb refuses from a ScaledObject (a host belongs to one namespace): set the hosts")
		}
		hosts = []routeItem{{"*", "spec.hosts"}}
	}
	seen = map[string]string{}
	if l, ok := spec.list("pathPrefixes"); ok {
		for i, v := range l {
			if p, ok := o.routePrefix(v, fmt.Sprintf("spec.pathPrefixes[%d]", i), seen); ok {
				prefixes = append(prefixes, p)
			}
		}
	}
	if len(prefixes) == 0 {
		prefixes = []routeItem{{"/", "spec.pathPrefixes"}}
	}
	var routes []httpRoute
	for _, h := range hosts {
		for _, p := range prefixes {
			routes = append(routes, httpRoute{host: h.value, prefix: p.value, hostField: h.field, prefixField: p.field})
		}
	}
	return routes
}

// httpDropped reports the add-on's per-object settings that Ebb's interceptor
// has only as its own flags, or not at all.
func (o *objctx) httpDropped(spec *node) {
	if l, ok := spec.list("headers"); ok && len(l) > 0 {
		o.report(Dropped, "spec.headers", "Ebb's interceptor routes by host and path prefix only: left out, so these routes take requests whatever their headers")
	}
	if f := spec.child("coldStartTimeoutFailoverRef"); f != nil {
		for _, k := range []string{"service", "port", "portName", "timeoutSeconds"} {
			f.take(k)
		}
		o.report(Dropped, f.path, "Ebb's interceptor has no failover Service: while the target is at zero it holds requests until a replica is ready, or answers 503 after its --hold-timeout (the chart's interceptor.holdTimeout, %s): left out", chartHoldTimeout)
		f.rest("not a field of coldStartTimeoutFailoverRef")
	}
	if t := spec.child("timeouts"); t != nil {
		if _, ok := t.str("conditionWait"); ok {
			o.report(Dropped, t.field("conditionWait"), "Ebb's interceptor holds requests up to its --hold-timeout, one value for all routes (the chart's interceptor.holdTimeout, %s): left out", chartHoldTimeout)
		}
		if _, ok := t.str("responseHeader"); ok {
			o.report(Dropped, t.field("responseHeader"), "Ebb's interceptor bounds a backend's response headers by its --response-header-timeout, one value for all routes (none by default): left out")
		}
		t.rest("not a field of timeouts")
	}
	if p, ok := spec.take("placeholderConfig"); ok {
		if _, isMap := p.(map[string]any); isMap {
			o.report(Dropped, "spec.placeholderConfig", "Ebb's interceptor serves no placeholder page: it holds requests until a replica is ready: left out")
		} else {
			o.report(Dropped, "spec.placeholderConfig", "expected a mapping, found %s: left out", describe(p))
		}
	}
}

// exprReserved are words a formula cannot use as a trigger name.
var exprReserved = map[string]bool{
	"and": true, "or": true, "not": true, "in": true, "nil": true, "true": true, "false": true,
	"matches": true, "contains": true, "let": true, "if": true, "else": true,
	"abs": true, "ceil": true, "floor": true, "round": true, "min": true, "max": true,
}

// routeNames names the triggers after their host and path prefix. With more
// than one the formula adds them up, so the names have no '-' (a minus there).
func routeNames(routes []httpRoute) []string {
	formula := len(routes) > 1
	used := map[string]bool{}
	names := make([]string, len(routes))
	for i, r := range routes {
		label := r.host
		if label == "*" {
			label = "any"
		}
		if r.prefix != "/" {
			label += " " + r.prefix
		}
		name := sanitizeName(label, formula)
		if formula && exprReserved[name] {
			name = "h" + name
		}
		base := name
		for k := 2; used[name]; k++ {
			suffix := strconv.Itoa(k)
			if !formula {
				suffix = "-" + suffix
			}
			name = strings.TrimRight(base[:min(len(base), 63-len(suffix))], "-") + suffix
		}
		used[name] = true
		names[i] = name
	}
	return names
}

var metadataField = regexp.MustCompile(`^spec\.triggers\[(\d+)\]\.metadata\[([^\]]+)\]$`)

// httpInputField maps a field of the converted ScaledObject to the
// HTTPScaledObject's field it came from; each is reported once, however many
// triggers share it.
func httpInputField(sources []map[string]string) func(string) (string, bool) {
	seen := map[string]bool{}
	return func(path string) (string, bool) {
		field := "spec"
		if m := metadataField.FindStringSubmatch(path); m != nil {
			if i, err := strconv.Atoi(m[1]); err == nil && i < len(sources) && sources[i][m[2]] != "" {
				field = sources[i][m[2]]
			}
		}
		if seen[field] {
			return "", false
		}
		seen[field] = true
		return field, true
	}
}

// writeInterceptorAuth writes, before the first ScaledObject converted from
// an HTTPScaledObject, the ClusterTriggerAuthentication their triggers name:
// it gives them ebb-interceptor's admin token from the chart's Secret. When
// the input holds one of that name already, that one serves.
func (c *converter) writeInterceptorAuth() {
	use := c.interceptorAuth
	if use == nil {
		return
	}
	if c.clusterAuths[interceptorAuthName] {
		for _, o := range use.objs {
			o.report(Note, "", "its triggers name ClusterTriggerAuthentication %s, which the input holds: it must give bearerToken, ebb-interceptor's admin token (the chart's Secret %s, key %s, in Ebb's namespace)", interceptorAuthName, interceptorTokenSecret, interceptorTokenKey)
		}
		return
	}
	// It serves the namespaces of the converted objects only, and sends the
	// token only to the interceptor's admin endpoint.
	var namespaces []string
	for _, o := range use.objs {
		if o.namespace != "" && !slices.Contains(namespaces, o.namespace) {
			namespaces = append(namespaces, o.namespace)
		}
	}
	slices.Sort(namespaces)
	cta := &v1alpha1.ClusterTriggerAuthentication{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "ClusterTriggerAuthentication"},
		ObjectMeta: metav1.ObjectMeta{Name: interceptorAuthName},
		Spec: v1alpha1.ClusterTriggerAuthenticationSpec{
			TriggerAuthenticationSpec: v1alpha1.TriggerAuthenticationSpec{SecretTargetRef: []v1alpha1.KeyRef{
				{Parameter: "bearerToken", Name: interceptorTokenSecret, Key: interceptorTokenKey},
			}},
			AllowedNamespaces: namespaces,
			AllowedEndpoints:  []string{interceptorAdminURL},
		},
	}
	doc, err := marshalObject(cta)
	if err != nil { // not expected: built from Ebb's types
		for _, o := range use.objs {
			o.report(Changed, "", "its triggers name ClusterTriggerAuthentication %s, which could not be written (%v): create it, with bearerToken from the chart's Secret %s", interceptorAuthName, err, interceptorTokenSecret)
		}
		return
	}
	at := min(use.at, len(c.res.Documents))
	c.res.Documents = append(c.res.Documents[:at], append([][]byte{doc}, c.res.Documents[at:]...)...)
	for _, o := range use.objs {
		o.report(Note, "", "its triggers name ClusterTriggerAuthentication %s, written once in this output: it gives them bearerToken, ebb-interceptor's admin token, from the chart's Secret %s in Ebb's namespace, "+
			"to the namespaces of the ScaledObjects this input's HTTP routes became (spec.allowedNamespaces: %s; add any other namespace that needs it) and only for %s (spec.allowedEndpoints; change both if Ebb runs elsewhere)",
			interceptorAuthName, interceptorTokenSecret, strings.Join(namespaces, ", "), interceptorAdminURL)
	}
}
