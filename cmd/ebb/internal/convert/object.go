// SPDX-License-Identifier: Apache-2.0

package convert

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/scalers"
)

// converter holds the state of one Convert call.
type converter struct {
	reg   *scalers.Registry
	res   *Result
	order map[string]int // input name → position, to sort findings

	// auths are the TriggerAuthentications and ClusterTriggerAuthentications
	// seen, by reference; refs the ScaledObject triggers that name one.
	auths map[authKey]authState
	refs  []authRef

	// interceptorAuth records the ScaledObjects converted from KEDA HTTP
	// add-on's HTTPScaledObjects; clusterAuths the names of the
	// ClusterTriggerAuthentications (KEDA's or Ebb's) the inputs hold.
	interceptorAuth *interceptorAuthUse
	clusterAuths    map[string]bool

	// routes are the add-on's InterceptorRoutes of the inputs, found
	// before the conversion pass (interceptorroute.go).
	routes map[routeKey]*routeDoc
}

// authKey names an authentication object as a trigger refers to it; the
// namespace is empty for a ClusterTriggerAuthentication.
type authKey struct{ kind, namespace, name string }

type authState struct {
	pos     Position
	written bool
	// lost lists the parameters it supplied in KEDA and no longer supplies.
	lost []string
}

type authRef struct {
	obj   *objctx
	field string
	key   authKey
}

func (c *converter) input(in Input) {
	if c.order == nil {
		c.order = map[string]int{}
	}
	if _, ok := c.order[in.Name]; !ok {
		c.order[in.Name] = len(c.order)
	}
	for i, d := range splitDocuments(in.Data) {
		pos := Position{File: in.Name, Index: i + 1, Item: -1, Line: d.line}
		v, err := parseDocument(d)
		if err != nil {
			c.res.Errors = append(c.res.Errors, &ReadError{Pos: pos, Msg: err.Error()})
			continue
		}
		if v == nil {
			continue // an empty document, such as `~`
		}
		m, ok := v.(map[string]any)
		if !ok {
			c.res.Errors = append(c.res.Errors, &ReadError{Pos: pos, Msg: fmt.Sprintf("expected a Kubernetes object (a mapping with apiVersion and kind), found %s", describe(v))})
			continue
		}
		if kind, _ := m["kind"].(string); kind == "List" {
			c.list(pos, m)
			continue
		}
		c.object(pos, m, d.text)
	}
}

// list converts the items of a `kind: List` one by one; each becomes its own
// output document.
func (c *converter) list(pos Position, m map[string]any) {
	items, ok := m["items"].([]any)
	if !ok && m["items"] != nil {
		c.res.Errors = append(c.res.Errors, &ReadError{Pos: pos, Msg: fmt.Sprintf("a List's items: expected a list, found %s", describe(m["items"]))})
		return
	}
	for i, it := range items {
		ipos := pos
		ipos.Item = i
		im, ok := it.(map[string]any)
		if !ok {
			c.res.Errors = append(c.res.Errors, &ReadError{Pos: ipos, Msg: fmt.Sprintf("expected a Kubernetes object (a mapping with apiVersion and kind), found %s", describe(it))})
			continue
		}
		c.object(ipos, im, "")
	}
}

// object converts one object: a KEDA kind, or anything else, which passes
// through unchanged (as written when raw is set).
func (c *converter) object(pos Position, m map[string]any, raw string) {
	apiVersion, _ := m["apiVersion"].(string)
	kind, _ := m["kind"].(string)
	o := &objctx{c: c, pos: pos, kind: kind}
	if md, ok := m["metadata"].(map[string]any); ok {
		o.namespace, _ = md["namespace"].(string)
		o.name, _ = md["name"].(string)
	}
	if o.kind == "" {
		o.kind = "(no kind)"
	}
	group, _, _ := strings.Cut(apiVersion, "/")
	if !strings.Contains(apiVersion, "/") {
		group = ""
	}
	if kind == "ClusterTriggerAuthentication" && (group == "keda.sh" || group == v1alpha1.GroupVersion.Group) {
		if c.clusterAuths == nil {
			c.clusterAuths = map[string]bool{}
		}
		c.clusterAuths[o.name] = true
	}
	if group != "keda.sh" && !strings.HasSuffix(group, ".keda.sh") {
		if apiVersion == "" || kind == "" {
			o.report(Note, "", "has no apiVersion or kind, so it is not a KEDA object: passed through unchanged")
		}
		c.passThrough(o, m, raw)
		return
	}
	if (group == "keda.sh" || (group == "http.keda.sh" && kind == "HTTPScaledObject")) && !strings.HasPrefix(apiVersion, group+"/v1alpha1") {
		o.report(Note, "apiVersion", "%s is not %s/v1alpha1; read as v1alpha1", apiVersion, group)
	}
	var out any
	switch {
	case group == "keda.sh" && kind == "ScaledObject":
		if so := c.scaledObject(o, m); so != nil { // not a typed nil in out
			out = so
		}
	case group == "keda.sh" && kind == "TriggerAuthentication":
		out = c.triggerAuthentication(o, m, false)
	case group == "keda.sh" && kind == "ClusterTriggerAuthentication":
		out = c.triggerAuthentication(o, m, true)
	case group == "keda.sh" && kind == "ScaledJob":
		if sj := c.scaledJob(o, m); sj != nil {
			out = sj
		}
	case group == "http.keda.sh" && kind == "HTTPScaledObject":
		if so := c.httpScaledObject(o, m); so != nil {
			out = so
		}
	case group == "http.keda.sh" && kind == kindInterceptorRoute:
		c.interceptorRoute(o, apiVersion)
	default:
		o.report(Skipped, "", "%s %s has no Ebb equivalent: not converted", apiVersion, kind)
	}
	if out == nil {
		return
	}
	doc, err := marshalObject(out)
	if err != nil { // not expected: the value was built from Ebb's types
		o.report(Skipped, "", "cannot write the converted object: %v", err)
		return
	}
	c.res.Documents = append(c.res.Documents, doc)
}

func (c *converter) passThrough(o *objctx, m map[string]any, raw string) {
	if raw != "" {
		c.res.Documents = append(c.res.Documents, []byte(strings.TrimRight(raw, "\n")+"\n"))
		return
	}
	doc, err := sigsyaml.Marshal(m)
	if err != nil {
		o.report(Skipped, "", "cannot write it back: %v", err)
		return
	}
	c.res.Documents = append(c.res.Documents, doc)
}

// marshalObject writes an Ebb object as YAML, without the empty status and
// creationTimestamp its Go type carries.
func marshalObject(obj any) ([]byte, error) {
	j, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(j, &m); err != nil {
		return nil, err
	}
	delete(m, "status")
	if md, ok := m["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	return sigsyaml.Marshal(m)
}

// checkReferences reports triggers that name an authentication object this
// conversion left out or emptied.
func (c *converter) checkReferences() {
	for _, r := range c.refs {
		a, ok := c.auths[r.key]
		if !ok {
			continue
		}
		switch {
		case !a.written:
			r.obj.report(Changed, r.field, "names %s %s, which was not converted (%s): the trigger cannot read until it exists in Ebb's API", r.key.kind, r.key.name, a.pos)
		case len(a.lost) > 0:
			r.obj.report(Changed, r.field, "names %s %s, which no longer supplies %s (%s)", r.key.kind, r.key.name, strings.Join(a.lost, ", "), a.pos)
		}
	}
}

// objctx is the object being converted: where it is and what it is called,
// for findings.
type objctx struct {
	c               *converter
	pos             Position
	kind, namespace string
	name            string
}

func (o *objctx) report(sev Severity, field, format string, args ...any) {
	o.c.res.Findings = append(o.c.res.Findings, Finding{
		Pos: o.pos, Kind: o.kind, Namespace: o.namespace, Name: o.name,
		Field: field, Severity: sev, Message: oneLine(fmt.Sprintf(format, args...)),
	})
}

// node is a mapping of the input being converted. Every key read is marked;
// rest reports the keys nothing read, so no field is dropped in silence.
type node struct {
	o    *objctx
	path string
	m    map[string]any
	seen map[string]bool
}

func newNode(o *objctx, path string, m map[string]any) *node {
	return &node{o: o, path: path, m: m, seen: map[string]bool{}}
}

func (n *node) field(key string) string {
	if n.path == "" {
		return key
	}
	return n.path + "." + key
}

// take returns the value of key; ok is false when it is missing or null.
func (n *node) take(key string) (any, bool) {
	n.seen[key] = true
	v, ok := n.m[key]
	return v, ok && v != nil
}

// child returns the mapping at key, or nil (reporting a value that is not a
// mapping as dropped).
func (n *node) child(key string) *node {
	v, ok := n.take(key)
	if !ok {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		n.o.report(Dropped, n.field(key), "expected a mapping, found %s: left out", describe(v))
		return nil
	}
	return newNode(n.o, n.field(key), m)
}

// list returns the list at key, or nil.
func (n *node) list(key string) ([]any, bool) {
	v, ok := n.take(key)
	if !ok {
		return nil, false
	}
	l, ok := v.([]any)
	if !ok {
		n.o.report(Dropped, n.field(key), "expected a list, found %s: left out", describe(v))
		return nil, false
	}
	return l, true
}

// str returns the string at key; ok is false when it is missing or not a
// string (reported).
func (n *node) str(key string) (string, bool) {
	v, ok := n.take(key)
	if !ok {
		return "", false
	}
	s, ok := v.(string)
	if !ok {
		n.o.report(Dropped, n.field(key), "expected a string, found %s: left out", describe(v))
		return "", false
	}
	return s, true
}

// int32 returns the whole number at key, at least min; out of range or not a
// whole number, it is reported with sev and left out.
func (n *node) int32(key string, min int64, sev Severity, why string) *int32 {
	v, ok := n.take(key)
	if !ok {
		return nil
	}
	num, ok := v.(json.Number)
	if !ok {
		n.o.report(sev, n.field(key), "expected a whole number, found %s: left out%s", describe(v), why)
		return nil
	}
	i, err := strconv.ParseInt(num.String(), 10, 64)
	if err != nil || i > math.MaxInt32 {
		n.o.report(sev, n.field(key), "expected a whole number, found %s: left out%s", num, why)
		return nil
	}
	if i < min {
		n.o.report(sev, n.field(key), "is %d; Ebb requires at least %d: left out%s", i, min, why)
		return nil
	}
	r := int32(i)
	return &r
}

// boolean returns the boolean at key; present is false when it is missing or
// not true/false (reported).
func (n *node) boolean(key string) (value, present bool) {
	v, ok := n.take(key)
	if !ok {
		return false, false
	}
	b, ok := v.(bool)
	if !ok {
		n.o.report(Dropped, n.field(key), "expected true or false, found %s: left out", describe(v))
		return false, false
	}
	return b, true
}

// stringMap returns a mapping of strings; numbers and booleans are written as
// strings (noted), other values are reported and left out. Values are never
// shown.
func (n *node) stringMap(key string) map[string]string {
	c := n.child(key)
	if c == nil {
		return nil
	}
	out := make(map[string]string, len(c.m))
	for _, k := range sortedKeys(c.m) {
		c.seen[k] = true
		switch v := c.m[k].(type) {
		case string:
			out[k] = v
		case json.Number:
			out[k] = v.String()
			n.o.report(Note, c.field(k), "a number; written as a string, as the API requires")
		case bool:
			out[k] = strconv.FormatBool(v)
			n.o.report(Note, c.field(k), "true or false; written as a string, as the API requires")
		default:
			n.o.report(Dropped, c.field(k), "expected a string, found %s: left out", describe(v))
		}
	}
	return out
}

// rest reports every key nothing read as dropped.
func (n *node) rest(why string) {
	for _, k := range sortedKeys(n.m) {
		if !n.seen[k] {
			n.o.report(Dropped, n.field(k), "%s: left out", why)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// serverFields are set by the API server; they never carry over.
var serverFields = []string{"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds"}

// objectMeta converts metadata. Labels and annotations of KEDA's own domains
// are left out (noted) unless annotations maps them.
func (o *objctx) objectMeta(n *node, clusterScoped bool, annotations func(n *node, key, value string, out map[string]string) bool) metav1.ObjectMeta {
	var m metav1.ObjectMeta
	if n == nil {
		o.report(Invalid, "metadata", "is missing: the object has no name")
		return m
	}
	m.Name, _ = n.str("name")
	m.GenerateName, _ = n.str("generateName")
	if m.Name == "" && m.GenerateName == "" {
		o.report(Invalid, n.field("name"), "is missing: the object has no name")
	}
	if ns, ok := n.str("namespace"); ok {
		if clusterScoped {
			o.report(Note, n.field("namespace"), "a cluster-scoped object has no namespace: left out")
		} else {
			m.Namespace = ns
		}
	}
	for _, f := range serverFields {
		n.take(f)
	}
	if labels := n.stringMap("labels"); len(labels) > 0 {
		m.Labels = map[string]string{}
		for _, k := range sortedKeys(labels) {
			if kedaDomain(k) {
				o.report(Note, n.field("labels")+"["+k+"]", "KEDA's own label: left out")
				continue
			}
			m.Labels[k] = labels[k]
		}
	}
	if anns := n.stringMap("annotations"); len(anns) > 0 {
		m.Annotations = map[string]string{}
		for _, k := range sortedKeys(anns) {
			field := n.field("annotations") + "[" + k + "]"
			switch {
			case annotations != nil && annotations(n, k, anns[k], m.Annotations):
			case k == "kubectl.kubernetes.io/last-applied-configuration":
				o.report(Note, field, "kubectl's record of the KEDA object: left out")
			case kedaDomain(k):
				o.report(Dropped, field, "a KEDA annotation Ebb has no equivalent for: left out")
			default:
				m.Annotations[k] = anns[k]
			}
		}
		if len(m.Annotations) == 0 {
			m.Annotations = nil
		}
	}
	if l, ok := n.list("finalizers"); ok {
		for i, f := range l {
			s, _ := f.(string)
			if s == "" || strings.Contains(s, "keda.sh") {
				o.report(Note, fmt.Sprintf("%s[%d]", n.field("finalizers"), i), "KEDA's finalizer: left out")
				continue
			}
			m.Finalizers = append(m.Finalizers, s)
		}
	}
	if v, ok := n.take("ownerReferences"); ok {
		j, _ := json.Marshal(v)
		if err := json.Unmarshal(j, &m.OwnerReferences); err != nil {
			o.report(Dropped, n.field("ownerReferences"), "not a list of owner references: left out")
			m.OwnerReferences = nil
		}
	}
	n.rest("not a metadata field Ebb's objects carry")
	return m
}

// kedaDomain says whether a label or annotation key belongs to KEDA.
func kedaDomain(key string) bool {
	prefix, _, ok := strings.Cut(key, "/")
	return ok && (prefix == "keda.sh" || strings.HasSuffix(prefix, ".keda.sh"))
}

// oneLine keeps a finding on one line.
func oneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}
