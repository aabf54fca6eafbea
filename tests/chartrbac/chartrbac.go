// SPDX-License-Identifier: Apache-2.0

package chartrbac

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/tests/controlplane"
	"github.com/ebbscale/ebb/tests/helm"
)

// Component is what of the chart an identity is for: the Deployment whose
// ServiceAccount it acts as.
type Component string

const (
	// OperatorComponent is the operator (Deployment ebb-operator).
	OperatorComponent Component = "ebb-operator"
	// InterceptorComponent is ebb-interceptor (interceptor.enabled=true).
	InterceptorComponent Component = "ebb-interceptor"
)

// Options say how the chart is rendered.
type Options struct {
	// Namespace is the release namespace, the operator's namespace: its
	// leader Lease, its CA Secret and the Secrets of
	// ClusterTriggerAuthentications are there. Created when missing.
	Namespace string
	// Values are chart values merged over values.yaml; nil: the defaults.
	// For the interceptor, interceptor.enabled is set to true.
	Values map[string]any
}

// Identity is a chart ServiceAccount on a control plane.
type Identity struct {
	// User is system:serviceaccount:<namespace>:<name>.
	User string
	// Groups are the groups a ServiceAccount token authenticates with.
	Groups []string
	// Config reaches the API server as User (impersonated from the
	// control plane's administrator).
	Config *rest.Config
	// Kubeconfig is the path of a kubeconfig file for the same identity,
	// for child processes.
	Kubeconfig string
}

// Operator applies the chart's RBAC (rendered with o) to cp and returns the
// operator's identity. It fails the test on any error.
func Operator(t testing.TB, cp *controlplane.ControlPlane, o Options) *Identity {
	t.Helper()
	id, err := Apply(t.Context(), cp, OperatorComponent, o)
	if err != nil {
		t.Fatalf("the chart's operator identity: %v", err)
	}
	return id
}

// Interceptor applies the chart's RBAC, rendered with o and
// interceptor.enabled=true, to cp and returns the interceptor's identity.
// It fails the test on any error.
func Interceptor(t testing.TB, cp *controlplane.ControlPlane, o Options) *Identity {
	t.Helper()
	id, err := Apply(t.Context(), cp, InterceptorComponent, o)
	if err != nil {
		t.Fatalf("the chart's interceptor identity: %v", err)
	}
	return id
}

// OperatorConfig returns a function that applies the chart's RBAC
// (rendered with values) for an operator in the namespace it is given and
// returns the operator's client configuration, for code that creates the
// operator's namespace itself (tests/scale).
func OperatorConfig(cp *controlplane.ControlPlane, values map[string]any) func(ctx context.Context, namespace string) (*rest.Config, error) {
	return func(ctx context.Context, namespace string) (*rest.Config, error) {
		id, err := Apply(ctx, cp, OperatorComponent, Options{Namespace: namespace, Values: values})
		if err != nil {
			return nil, err
		}
		return id.Config, nil
	}
}

// rbacKinds are the kinds Apply applies.
var rbacKinds = map[string]bool{
	"ServiceAccount": true, "ClusterRole": true, "ClusterRoleBinding": true, "Role": true, "RoleBinding": true,
}

// Apply renders the chart with o, applies its ServiceAccounts, ClusterRoles,
// Roles and bindings to cp, and returns the identity of component's
// ServiceAccount. It checks that the identity may not list Secrets.
func Apply(ctx context.Context, cp *controlplane.ControlPlane, component Component, o Options) (*Identity, error) {
	if o.Namespace == "" {
		return nil, fmt.Errorf("no release namespace")
	}
	values := o.Values
	if component == InterceptorComponent {
		values = withInterceptor(values)
	}
	c, err := loadChart()
	if err != nil {
		return nil, err
	}
	r, err := helm.Render(c, o.Namespace, values)
	if err != nil {
		return nil, fmt.Errorf("render the chart: %w", err)
	}
	sa, err := serviceAccountOf(r, string(component))
	if err != nil {
		return nil, err
	}
	if err := cp.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: o.Namespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("namespace %s: %w", o.Namespace, err)
	}
	objs := Localize(r.Objects, o.Namespace)
	if len(objs) == 0 {
		return nil, fmt.Errorf("the chart rendered no RBAC objects")
	}
	for _, obj := range objs {
		data, err := json.Marshal(obj.Object)
		if err != nil {
			return nil, err
		}
		if err := cp.Client.Patch(ctx, obj.DeepCopy(), client.RawPatch(types.ApplyPatchType, data),
			client.FieldOwner("ebb-chartrbac"), client.ForceOwnership); err != nil {
			return nil, fmt.Errorf("apply the chart's %s %s: %w", obj.GetKind(), qualified(obj), err)
		}
	}

	id := &Identity{
		User:   "system:serviceaccount:" + o.Namespace + ":" + sa,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + o.Namespace, "system:authenticated"},
	}
	id.Config = rest.CopyConfig(cp.Config)
	id.Config.Impersonate = rest.ImpersonationConfig{UserName: id.User, Groups: id.Groups}
	if id.Kubeconfig, err = writeKubeconfig(cp, id); err != nil {
		return nil, err
	}
	if err := checkRefused(ctx, cp, id); err != nil {
		return nil, err
	}
	return id, nil
}

// Localize returns the RBAC objects among objs (ServiceAccounts, Roles,
// ClusterRoles and bindings) as Apply applies them for a release in
// namespace: ClusterRoles, ClusterRoleBindings and the Roles and
// RoleBindings outside namespace get the suffix ":<namespace>", and the
// bindings' roleRefs follow. References to roles the chart does not render
// (system:auth-delegator, say) are kept.
func Localize(objs []*unstructured.Unstructured, namespace string) []*unstructured.Unstructured {
	type key struct{ kind, ns, name string }
	renamed := map[key]string{}
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if !rbacKinds[o.GetKind()] {
			continue
		}
		o = o.DeepCopy()
		switch o.GetKind() {
		case "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
			if o.GetNamespace() != namespace {
				name := o.GetName() + ":" + namespace
				renamed[key{o.GetKind(), o.GetNamespace(), o.GetName()}] = name
				o.SetName(name)
			}
		}
		out = append(out, o)
	}
	for _, o := range out {
		if k := o.GetKind(); k != "ClusterRoleBinding" && k != "RoleBinding" {
			continue
		}
		kind, _, _ := unstructured.NestedString(o.Object, "roleRef", "kind")
		name, _, _ := unstructured.NestedString(o.Object, "roleRef", "name")
		ns := ""
		if kind == "Role" {
			ns = o.GetNamespace()
		}
		if n, ok := renamed[key{kind, ns, name}]; ok {
			_ = unstructured.SetNestedField(o.Object, n, "roleRef", "name")
		}
	}
	return out
}

// serviceAccountOf is the ServiceAccount of the rendered Deployment name.
func serviceAccountOf(r *helm.Rendered, deployment string) (string, error) {
	for _, o := range r.Objects {
		if o.GetKind() != "Deployment" || o.GetName() != deployment {
			continue
		}
		sa, _, _ := unstructured.NestedString(o.Object, "spec", "template", "spec", "serviceAccountName")
		if sa == "" {
			return "", fmt.Errorf("the chart's Deployment %s names no serviceAccountName", deployment)
		}
		return sa, nil
	}
	return "", fmt.Errorf("the chart rendered no Deployment %s", deployment)
}

// writeKubeconfig writes the administrator's kubeconfig with id's
// impersonation into the control plane's folder.
func writeKubeconfig(cp *controlplane.ControlPlane, id *Identity) (string, error) {
	cfg, err := clientcmd.LoadFromFile(cp.Kubeconfig)
	if err != nil {
		return "", fmt.Errorf("kubeconfig: %w", err)
	}
	for _, ai := range cfg.AuthInfos {
		ai.Impersonate = id.User
		ai.ImpersonateGroups = id.Groups
	}
	dir := filepath.Join(cp.Dir, "chartrbac")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("kubeconfig: %w", err)
	}
	path := filepath.Join(dir, strings.ReplaceAll(strings.TrimPrefix(id.User, "system:serviceaccount:"), ":", "_")+".kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return "", fmt.Errorf("kubeconfig: %w", err)
	}
	return path, nil
}

// checkRefused checks, with the kubeconfig file (what a child process
// uses), that the identity may not list Secrets: the API server authorizes
// with RBAC and the chart grants no such thing.
func checkRefused(ctx context.Context, cp *controlplane.ControlPlane, id *Identity) error {
	rc, err := clientcmd.BuildConfigFromFlags("", id.Kubeconfig)
	if err != nil {
		return err
	}
	c, err := client.New(rc, client.Options{Scheme: cp.Scheme})
	if err != nil {
		return err
	}
	if err := c.List(ctx, &corev1.SecretList{}); !apierrors.IsForbidden(err) {
		return fmt.Errorf("listing Secrets as %s: %v, want Forbidden (does the API server authorize with RBAC?)", id.User, err)
	}
	return nil
}

func withInterceptor(values map[string]any) map[string]any {
	out := maps.Clone(values)
	if out == nil {
		out = map[string]any{}
	}
	ic, _ := out["interceptor"].(map[string]any)
	ic = maps.Clone(ic)
	if ic == nil {
		ic = map[string]any{}
	}
	ic["enabled"] = true
	out["interceptor"] = ic
	return out
}

func qualified(o *unstructured.Unstructured) string {
	if o.GetNamespace() == "" {
		return o.GetName()
	}
	return o.GetNamespace() + "/" + o.GetName()
}

// loadChart loads deploy/helm/ebb of the repository.
func loadChart() (*chart.Chart, error) {
	root, err := controlplane.RepoRoot()
	if err != nil {
		return nil, err
	}
	return helm.Load(filepath.Join(root, "deploy", "helm", "ebb"))
}
