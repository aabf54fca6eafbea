// SPDX-License-Identifier: Apache-2.0

package convert

import (
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ebbscale/ebb/apis/v1alpha1"
)

// maxRefs is the API's limit on each list of a TriggerAuthentication.
const maxRefs = 64

// providers are KEDA's TriggerAuthentication sources Ebb does not have, with
// the list in each whose items name a parameter.
var providers = map[string]string{
	"hashiCorpVault":           "secrets",
	"azureKeyVault":            "secrets",
	"awsSecretManager":         "secrets",
	"gcpSecretManager":         "secrets",
	"azureAppConfiguration":    "keys",
	"boundServiceAccountToken": "",
}

func (c *converter) triggerAuthentication(o *objctx, m map[string]any, cluster bool) any {
	root := newNode(o, "", m)
	root.take("apiVersion")
	root.take("kind")
	root.take("status")
	meta := o.objectMeta(root.child("metadata"), cluster, nil)
	spec := root.child("spec")
	root.rest("not a field of a " + o.kind)

	key := authKey{kind: o.kind, namespace: meta.Namespace, name: meta.Name}
	if cluster {
		key.namespace = ""
	}
	state := authState{pos: o.pos}
	defer func() {
		if c.auths == nil {
			c.auths = map[authKey]authState{}
		}
		c.auths[key] = state
	}()

	var s v1alpha1.TriggerAuthenticationSpec
	if spec != nil {
		s.SecretTargetRef = o.keyRefs(spec, "secretTargetRef")
		s.ConfigMapTargetRef = o.keyRefs(spec, "configMapTargetRef")
		s.Env = o.envRefs(spec)
		state.lost = o.unsupportedProviders(spec)
		spec.rest("not a TriggerAuthentication source Ebb has")
	}
	if len(s.SecretTargetRef)+len(s.ConfigMapTargetRef)+len(s.Env) == 0 {
		o.report(Skipped, "spec", "has no secretTargetRef, configMapTargetRef or env entry Ebb can use: not converted")
		return nil
	}
	state.written = true
	if cluster && len(s.SecretTargetRef)+len(s.ConfigMapTargetRef) > 0 {
		o.report(Changed, "spec", "Ebb reads a ClusterTriggerAuthentication's Secrets and ConfigMaps (%s) from the operator's namespace, KEDA from its own (usually keda): copy them there", strings.Join(refNames(s), ", "))
	}
	tm := metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: o.kind}
	if cluster {
		o.report(Changed, "spec", "Ebb lets a ClusterTriggerAuthentication serve only the namespaces it allows, KEDA every namespace: add spec.allowedNamespaces "+
			"(the namespaces whose triggers name it) or spec.namespaceSelector ({} for every namespace), and spec.allowedEndpoints (the servers its credentials may go to; "+
			"otherwise a tenant may send them to a server of its own); or run the operator with --cta-open-by-default (Helm clusterTriggerAuthentication.openByDefault=true) "+
			"to keep KEDA's behaviour for the ClusterTriggerAuthentications that set neither (docs/security.md)")
		return &v1alpha1.ClusterTriggerAuthentication{TypeMeta: tm, ObjectMeta: meta, Spec: v1alpha1.ClusterTriggerAuthenticationSpec{TriggerAuthenticationSpec: s}}
	}
	return &v1alpha1.TriggerAuthentication{TypeMeta: tm, ObjectMeta: meta, Spec: s}
}

func refNames(s v1alpha1.TriggerAuthenticationSpec) []string {
	seen := map[string]bool{}
	var out []string
	add := func(kind, name string) {
		if k := kind + " " + name; !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	for _, r := range s.SecretTargetRef {
		add("Secret", r.Name)
	}
	for _, r := range s.ConfigMapTargetRef {
		add("ConfigMap", r.Name)
	}
	return out
}

// entries returns the mappings of a list field, reporting what is not one.
func (o *objctx) entries(n *node, key string) []*node {
	list, _ := n.list(key)
	var out []*node
	for i, item := range list {
		path := fmt.Sprintf("%s[%d]", n.field(key), i)
		m, ok := item.(map[string]any)
		if !ok {
			o.report(Dropped, path, "expected a mapping, found %s: left out", describe(item))
			out = append(out, nil)
			continue
		}
		out = append(out, newNode(o, path, m))
	}
	return out
}

// keyRefs converts secretTargetRef or configMapTargetRef.
func (o *objctx) keyRefs(n *node, key string) []v1alpha1.KeyRef {
	var out []v1alpha1.KeyRef
	params := map[string]bool{}
	for _, e := range o.entries(n, key) {
		if e == nil {
			continue
		}
		var r v1alpha1.KeyRef
		r.Parameter, _ = e.str("parameter")
		r.Name, _ = e.str("name")
		r.Key, _ = e.str("key")
		e.rest("not a field of " + key + " entries")
		if !o.checkEntry(e, params, r.Parameter, map[string]string{"name": r.Name, "key": r.Key}, len(out)) {
			continue
		}
		out = append(out, r)
	}
	return out
}

func (o *objctx) envRefs(n *node) []v1alpha1.EnvRef {
	var out []v1alpha1.EnvRef
	params := map[string]bool{}
	for _, e := range o.entries(n, "env") {
		if e == nil {
			continue
		}
		var r v1alpha1.EnvRef
		r.Parameter, _ = e.str("parameter")
		r.Name, _ = e.str("name")
		r.ContainerName, _ = e.str("containerName")
		e.rest("not a field of env entries")
		if !o.checkEntry(e, params, r.Parameter, map[string]string{"name": r.Name}, len(out)) {
			continue
		}
		out = append(out, r)
	}
	return out
}

// checkEntry says whether an entry can be written: its required fields set,
// its parameter not given before in the same list, the list not full.
func (o *objctx) checkEntry(e *node, params map[string]bool, param string, required map[string]string, n int) bool {
	var missing []string
	if param == "" {
		missing = append(missing, "parameter")
	}
	for _, k := range sortedKeys(required) {
		if required[k] == "" {
			missing = append(missing, k)
		}
	}
	switch {
	case len(missing) > 0:
		o.report(Dropped, e.path, "has no %s: left out", strings.Join(missing, " or "))
	case params[param]:
		o.report(Dropped, e.path, "parameter %s is given twice in this list; Ebb's API takes each once: the later entry is left out", param)
	case n >= maxRefs:
		o.report(Dropped, e.path, "Ebb's API takes at most %d entries per list: left out", maxRefs)
	default:
		params[param] = true
		return true
	}
	return false
}

// unsupportedProviders reports KEDA's secret providers and pod identities,
// naming the parameters each supplied, and returns those parameters.
func (o *objctx) unsupportedProviders(spec *node) []string {
	var lost []string
	if pi := spec.child("podIdentity"); pi != nil {
		provider, _ := pi.str("provider")
		for k := range pi.m {
			pi.seen[k] = true
		}
		if provider == "none" || provider == "" {
			o.report(Note, pi.path, "provider none: nothing to convert, left out")
		} else {
			o.report(Dropped, pi.path, "provider %s: Ebb has no pod identity; credentials come only from Secrets, ConfigMaps and the target's environment: left out", provider)
		}
	}
	for _, name := range sortedKeys(providers) {
		v, ok := spec.take(name)
		if !ok {
			continue
		}
		params := parametersOf(v, providers[name])
		lost = append(lost, params...)
		msg := fmt.Sprintf("Ebb reads credentials only from Secrets, ConfigMaps and the target's environment, not from %s: left out", name)
		if len(params) > 0 {
			msg += fmt.Sprintf("; put %s in a Secret and map each with secretTargetRef", strings.Join(params, ", "))
		}
		o.report(Dropped, spec.field(name), "%s", msg)
	}
	sort.Strings(lost)
	return lost
}

// parametersOf lists the `parameter` fields of the items of a provider's
// list (or of the provider itself when it is a list).
func parametersOf(v any, list string) []string {
	var items []any
	switch v := v.(type) {
	case []any:
		items = v
	case map[string]any:
		items, _ = v[list].([]any)
	}
	var out []string
	for _, it := range items {
		if m, ok := it.(map[string]any); ok {
			if p, ok := m["parameter"].(string); ok && p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}
