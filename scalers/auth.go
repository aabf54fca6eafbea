// SPDX-License-Identifier: Apache-2.0

package scalers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
)

// AuthResolver resolves the parameters a trigger takes from outside its
// metadata: its TriggerAuthentication (or ClusterTriggerAuthentication) and
// the environment of the scale target's container.
//
// Reader must not be a cache-backed client for Secrets: every Secret and
// ConfigMap is read with one GET, so the operator needs no cluster-wide
// list/watch of Secrets. Secrets of a ClusterTriggerAuthentication are read in
// OperatorNamespace.
//
// A ClusterTriggerAuthentication is used only from the namespaces it allows
// (ClusterAuthFor), and its credentials only with the endpoints it allows
// (Resolved.Pin, which the metadata parser checks).
type AuthResolver struct {
	Reader            client.Reader
	OperatorNamespace string
	// ClusterAuthOpenByDefault lets every namespace use a
	// ClusterTriggerAuthentication that sets neither allowedNamespaces nor
	// namespaceSelector, as KEDA does (--cta-open-by-default). Off, such a
	// ClusterTriggerAuthentication serves no namespace.
	ClusterAuthOpenByDefault bool
}

// Resolved is what a trigger's references resolved to. The values are
// secrets.
type Resolved struct {
	AuthParams map[string]string
	Env        map[string]string
	// Pin is set when the parameters come from a ClusterTriggerAuthentication
	// that pins its endpoints; it goes on the Trigger the scaler is built
	// from.
	Pin *EndpointPin
}

// ErrNotFound is wrapped by ClusterAuthFor's error when the
// ClusterTriggerAuthentication does not exist.
var ErrNotFound = errors.New("not found")

// ClusterAuthNotAllowedError says that a namespace may not use a
// ClusterTriggerAuthentication. Its text names the
// ClusterTriggerAuthentication, the namespace and the fields that decide.
type ClusterAuthNotAllowedError struct{ msg string }

func (e *ClusterAuthNotAllowedError) Error() string { return e.msg }

// IsClusterAuthNotAllowed says whether err (or one it wraps) is a
// ClusterAuthNotAllowedError.
func IsClusterAuthNotAllowed(err error) bool {
	var e *ClusterAuthNotAllowedError
	return errors.As(err, &e)
}

func notAllowed(format string, args ...any) error {
	return &ClusterAuthNotAllowedError{msg: fmt.Sprintf(format, args...)}
}

// ClusterAuthFor reads ClusterTriggerAuthentication name (one GET) and
// checks that namespace ns may use it, reading the Namespace (one GET) when
// that takes its labels. It returns the ClusterTriggerAuthentication and its
// endpoint pin (nil when it pins none). An error that says the namespace is
// not allowed is a ClusterAuthNotAllowedError. Every error starts with
// "ClusterTriggerAuthentication <name>"; a missing one wraps ErrNotFound.
// The webhook and Resolve both call it: it is the one place the rule lives.
func (r *AuthResolver) ClusterAuthFor(ctx context.Context, ns, name string) (*v1alpha1.ClusterTriggerAuthentication, *EndpointPin, error) {
	var cta v1alpha1.ClusterTriggerAuthentication
	if err := r.Reader.Get(ctx, client.ObjectKey{Name: name}, &cta); err != nil {
		if apierrors.IsNotFound(err) {
			err = ErrNotFound
		}
		return nil, nil, fmt.Errorf("ClusterTriggerAuthentication %s: %w", name, err)
	}
	if err := r.allowsNamespace(ctx, &cta, ns); err != nil {
		return nil, nil, err
	}
	return &cta, pinOf(&cta), nil
}

// allowsNamespace says whether cta serves namespace ns: listed in
// allowedNamespaces, or matched by namespaceSelector, or (neither set) the
// operator opens such ClusterTriggerAuthentications to every namespace.
func (r *AuthResolver) allowsNamespace(ctx context.Context, cta *v1alpha1.ClusterTriggerAuthentication, ns string) error {
	spec := cta.Spec
	if slices.Contains(spec.AllowedNamespaces, ns) {
		return nil
	}
	if spec.NamespaceSelector == nil {
		if len(spec.AllowedNamespaces) == 0 {
			if r.ClusterAuthOpenByDefault {
				return nil
			}
			return notAllowed("ClusterTriggerAuthentication %s allows no namespace: it sets neither spec.allowedNamespaces nor spec.namespaceSelector "+
				"(an administrator adds namespace %s to one of them, or runs the operator with --cta-open-by-default)", cta.Name, ns)
		}
		return notAllowed("ClusterTriggerAuthentication %s does not allow namespace %s (spec.allowedNamespaces)", cta.Name, ns)
	}
	sel, err := metav1.LabelSelectorAsSelector(spec.NamespaceSelector)
	if err != nil {
		return notAllowed("ClusterTriggerAuthentication %s does not allow namespace %s: its spec.namespaceSelector is not a valid label selector", cta.Name, ns)
	}
	if !sel.Empty() {
		var n corev1.Namespace
		if err := r.Reader.Get(ctx, client.ObjectKey{Name: ns}, &n); err != nil {
			return fmt.Errorf("ClusterTriggerAuthentication %s: reading the labels of namespace %s for spec.namespaceSelector: %w", cta.Name, ns, notFoundOr(err))
		}
		if !sel.Matches(labels.Set(n.Labels)) {
			return notAllowed("ClusterTriggerAuthentication %s does not allow namespace %s (spec.allowedNamespaces, spec.namespaceSelector)", cta.Name, ns)
		}
	}
	return nil
}

// pinOf is cta's endpoint pin, nil when it pins none. Trusted holds the
// parameters read from its own Secrets and ConfigMaps, not those read from
// the tenant's environment.
func pinOf(cta *v1alpha1.ClusterTriggerAuthentication) *EndpointPin {
	if len(cta.Spec.AllowedEndpoints) == 0 {
		return nil
	}
	p := &EndpointPin{Owner: fmt.Sprintf("ClusterTriggerAuthentication %q", cta.Name), Allowed: slices.Clone(cta.Spec.AllowedEndpoints), Trusted: map[string]bool{}}
	for _, k := range cta.Spec.SecretTargetRef {
		p.Trusted[k.Parameter] = true
	}
	for _, k := range cta.Spec.ConfigMapTargetRef {
		p.Trusted[k.Parameter] = true
	}
	for _, e := range cta.Spec.Env {
		delete(p.Trusted, e.Parameter)
	}
	return p
}

// Resolve reads trigger i of so's references. Errors name the objects and
// keys involved, never a value.
func (r *AuthResolver) Resolve(ctx context.Context, so *v1alpha1.ScaledObject, i int) (Resolved, error) {
	return r.resolve(ctx, so.Namespace, so.Spec.Triggers[i], fmt.Sprintf("trigger %d %q (%s)", i, so.Spec.TriggerName(i), so.Spec.Triggers[i].Type),
		so.Spec.ScaleTargetRef.EnvSourceContainerName, "scale target "+so.Spec.ScaleTargetRef.Name,
		func() (map[string]map[string]string, error) { return r.targetEnv(ctx, so) })
}

// ResolveJob reads trigger i of a ScaledJob's references. The environment
// of `...FromEnv` parameters is that of the Job template's container.
func (r *AuthResolver) ResolveJob(ctx context.Context, sj *v1alpha1.ScaledJob, i int) (Resolved, error) {
	return r.resolve(ctx, sj.Namespace, sj.Spec.Triggers[i], fmt.Sprintf("trigger %d %q (%s)", i, sj.Spec.TriggerName(i), sj.Spec.Triggers[i].Type),
		sj.Spec.EnvSourceContainerName, "the job template",
		func() (map[string]map[string]string, error) {
			return r.templateEnv(ctx, sj.Namespace, sj.Spec.JobTargetRef.Template)
		})
}

// resolve reads one trigger's references. what names the trigger in errors;
// envOf reads the environment of every container of the pod template that
// `...FromEnv` parameters come from, keyed by container name ("" the first).
func (r *AuthResolver) resolve(ctx context.Context, ns string, trig v1alpha1.Trigger, what, envContainer, envOwner string, envOf func() (map[string]map[string]string, error)) (Resolved, error) {
	var out Resolved
	var envOnce bool
	var env map[string]map[string]string // container name → variables
	containerEnv := func(container string) (map[string]string, error) {
		if !envOnce {
			var err error
			env, err = envOf()
			if err != nil {
				return nil, err
			}
			envOnce = true
		}
		if container == "" {
			container = envContainer
		}
		if container == "" {
			return env[""], nil
		}
		vars, ok := env[container]
		if !ok {
			return nil, fmt.Errorf("%s has no container %q", envOwner, container)
		}
		return vars, nil
	}

	if usesFromEnv(trig.Metadata) {
		vars, err := containerEnv("")
		if err != nil {
			return out, fmt.Errorf("%s: reading the target's environment: %w", what, err)
		}
		out.Env = vars
	}
	if trig.AuthenticationRef == nil {
		return out, nil
	}

	ref := trig.AuthenticationRef
	var spec v1alpha1.TriggerAuthenticationSpec
	secretNS := ns
	switch ref.Kind {
	case "", "TriggerAuthentication":
		var ta v1alpha1.TriggerAuthentication
		if err := r.Reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, &ta); err != nil {
			return out, fmt.Errorf("%s: TriggerAuthentication %s/%s: %w", what, ns, ref.Name, notFoundOr(err))
		}
		spec = ta.Spec
	case "ClusterTriggerAuthentication":
		cta, pin, err := r.ClusterAuthFor(ctx, ns, ref.Name)
		if err != nil {
			return out, fmt.Errorf("%s: %w", what, err)
		}
		spec = cta.Spec.TriggerAuthenticationSpec
		secretNS = r.OperatorNamespace
		out.Pin = pin
	default:
		return out, fmt.Errorf("%s: authenticationRef.kind %q is not TriggerAuthentication or ClusterTriggerAuthentication", what, ref.Kind)
	}

	out.AuthParams = map[string]string{}
	for _, s := range spec.SecretTargetRef {
		var sec corev1.Secret
		if err := r.Reader.Get(ctx, client.ObjectKey{Namespace: secretNS, Name: s.Name}, &sec); err != nil {
			return out, fmt.Errorf("%s: parameter %q: Secret %s/%s (key %q): %w", what, s.Parameter, secretNS, s.Name, s.Key, notFoundOr(err))
		}
		v, ok := sec.Data[s.Key]
		if !ok {
			return out, fmt.Errorf("%s: parameter %q: Secret %s/%s has no key %q", what, s.Parameter, secretNS, s.Name, s.Key)
		}
		out.AuthParams[s.Parameter] = string(v)
	}
	for _, c := range spec.ConfigMapTargetRef {
		var cm corev1.ConfigMap
		if err := r.Reader.Get(ctx, client.ObjectKey{Namespace: secretNS, Name: c.Name}, &cm); err != nil {
			return out, fmt.Errorf("%s: parameter %q: ConfigMap %s/%s (key %q): %w", what, c.Parameter, secretNS, c.Name, c.Key, notFoundOr(err))
		}
		v, ok := cm.Data[c.Key]
		if !ok {
			return out, fmt.Errorf("%s: parameter %q: ConfigMap %s/%s has no key %q", what, c.Parameter, secretNS, c.Name, c.Key)
		}
		out.AuthParams[c.Parameter] = v
	}
	for _, e := range spec.Env {
		vars, err := containerEnv(e.ContainerName)
		if err != nil {
			return out, fmt.Errorf("%s: parameter %q: %w", what, e.Parameter, err)
		}
		v, ok := vars[e.Name]
		if !ok {
			return out, fmt.Errorf("%s: parameter %q: the target's container has no environment variable %q", what, e.Parameter, e.Name)
		}
		out.AuthParams[e.Parameter] = v
	}
	return out, nil
}

func usesFromEnv(md map[string]string) bool {
	for k := range md {
		if len(k) > len("FromEnv") && k[len(k)-len("FromEnv"):] == "FromEnv" {
			return true
		}
	}
	return false
}

func notFoundOr(err error) error {
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("not found")
	}
	return err
}

// targetEnv reads the scale target's pod template and resolves each
// container's environment. The first container is also keyed "".
func (r *AuthResolver) targetEnv(ctx context.Context, so *v1alpha1.ScaledObject) (map[string]map[string]string, error) {
	ref := so.Spec.ScaleTargetRef
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return nil, fmt.Errorf("scaleTargetRef.apiVersion %q: %w", ref.APIVersion, err)
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gv.WithKind(ref.Kind))
	if err := r.Reader.Get(ctx, client.ObjectKey{Namespace: so.Namespace, Name: ref.Name}, u); err != nil {
		if apierrors.IsForbidden(err) {
			return nil, forbiddenTarget(ref.Kind, ref.Name, gv.Group, err)
		}
		return nil, fmt.Errorf("%s %s: %w", ref.Kind, ref.Name, notFoundOr(err))
	}
	raw, found, err := unstructured.NestedMap(u.Object, "spec", "template")
	if err != nil || !found {
		return nil, fmt.Errorf("%s %s has no pod template (spec.template)", ref.Kind, ref.Name)
	}
	var tmpl corev1.PodTemplateSpec
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &tmpl); err != nil {
		return nil, fmt.Errorf("%s %s: reading spec.template: %w", ref.Kind, ref.Name, err)
	}
	return r.templateEnv(ctx, so.Namespace, tmpl)
}

// forbiddenTarget says that the operator may not GET the scale target's
// kind and which value of the Helm chart grants it. The API server's own
// text (which names the operator's identity) is left out.
func forbiddenTarget(kind, name, group string, err error) error {
	resource := strings.ToLower(kind)
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		if d := status.Status().Details; d != nil && d.Kind != "" {
			resource = d.Kind // the resource, for a Forbidden error
		}
	}
	qualified := resource
	if group != "" {
		qualified += "." + group
	}
	return fmt.Errorf("%s %s: the operator may not get %s, which it needs to read the pod template for ...FromEnv parameters "+
		"and TriggerAuthentication env; the Helm chart grants get on Deployments, StatefulSets, ReplicaSets and ReplicationControllers, "+
		"and on other kinds through the value rbac.envSourceResources (an entry apiGroup: %q, resources: [%s])",
		kind, name, qualified, group, resource)
}

// templateEnv resolves the environment of each container of a pod template.
// The first container is also keyed "".
func (r *AuthResolver) templateEnv(ctx context.Context, ns string, tmpl corev1.PodTemplateSpec) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	for i, c := range tmpl.Spec.Containers {
		vars, err := r.containerEnv(ctx, ns, c)
		if err != nil {
			return nil, fmt.Errorf("container %q: %w", c.Name, err)
		}
		out[c.Name] = vars
		if i == 0 {
			out[""] = vars
		}
	}
	return out, nil
}

func (r *AuthResolver) containerEnv(ctx context.Context, ns string, c corev1.Container) (map[string]string, error) {
	vars := map[string]string{}
	for _, from := range c.EnvFrom {
		switch {
		case from.SecretRef != nil:
			var sec corev1.Secret
			if err := r.Reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: from.SecretRef.Name}, &sec); err != nil {
				if optional(from.SecretRef.Optional) && apierrors.IsNotFound(err) {
					continue
				}
				return nil, fmt.Errorf("envFrom Secret %s: %w", from.SecretRef.Name, notFoundOr(err))
			}
			for k, v := range sec.Data {
				vars[from.Prefix+k] = string(v)
			}
		case from.ConfigMapRef != nil:
			var cm corev1.ConfigMap
			if err := r.Reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: from.ConfigMapRef.Name}, &cm); err != nil {
				if optional(from.ConfigMapRef.Optional) && apierrors.IsNotFound(err) {
					continue
				}
				return nil, fmt.Errorf("envFrom ConfigMap %s: %w", from.ConfigMapRef.Name, notFoundOr(err))
			}
			for k, v := range cm.Data {
				vars[from.Prefix+k] = v
			}
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			vars[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			var sec corev1.Secret
			if err := r.Reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, &sec); err != nil {
				if optional(ref.Optional) && apierrors.IsNotFound(err) {
					continue
				}
				return nil, fmt.Errorf("env %s: Secret %s: %w", e.Name, ref.Name, notFoundOr(err))
			}
			if v, ok := sec.Data[ref.Key]; ok {
				vars[e.Name] = string(v)
			} else if !optional(ref.Optional) {
				return nil, fmt.Errorf("env %s: Secret %s has no key %q", e.Name, ref.Name, ref.Key)
			}
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			var cm corev1.ConfigMap
			if err := r.Reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, &cm); err != nil {
				if optional(ref.Optional) && apierrors.IsNotFound(err) {
					continue
				}
				return nil, fmt.Errorf("env %s: ConfigMap %s: %w", e.Name, ref.Name, notFoundOr(err))
			}
			if v, ok := cm.Data[ref.Key]; ok {
				vars[e.Name] = v
			} else if !optional(ref.Optional) {
				return nil, fmt.Errorf("env %s: ConfigMap %s has no key %q", e.Name, ref.Name, ref.Key)
			}
		}
	}
	return vars, nil
}

func optional(p *bool) bool { return p != nil && *p }
