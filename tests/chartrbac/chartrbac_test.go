// SPDX-License-Identifier: Apache-2.0

package chartrbac_test

import (
	"testing"

	authnv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/tests/chartrbac"
	"github.com/ebbscale/ebb/tests/controlplane"
)

// The identity is the chart's ServiceAccount to the API server (which
// says so itself), may do what the chart grants (list ScaledObjects,
// create its Lease in its namespace) and nothing else (list Secrets, write a
// Lease elsewhere). Two operators in two namespaces on one control plane
// each get their own ClusterRoles, and applying again is idempotent. The
// kubeconfig file acts as the same identity.
func TestTheIdentityIsTheChartsServiceAccountAndNothingMore(t *testing.T) {
	cp := controlplane.Start(t)
	ctx := t.Context()
	a := chartrbac.Operator(t, cp, chartrbac.Options{Namespace: "ebb-a"})
	b := chartrbac.Operator(t, cp, chartrbac.Options{Namespace: "ebb-b"})
	again := chartrbac.Operator(t, cp, chartrbac.Options{Namespace: "ebb-a"})
	if a.User != "system:serviceaccount:ebb-a:ebb-operator" || again.User != a.User || b.User != "system:serviceaccount:ebb-b:ebb-operator" {
		t.Fatalf("users %q, %q, %q", a.User, again.User, b.User)
	}

	for _, id := range []*chartrbac.Identity{a, b} {
		ns := id.Groups[1][len("system:serviceaccounts:"):]
		viaFile, err := clientcmd.BuildConfigFromFlags("", id.Kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		for how, cfg := range map[string]*rest.Config{"config": id.Config, "kubeconfig": viaFile} {
			c, err := client.New(cfg, client.Options{Scheme: cp.Scheme})
			if err != nil {
				t.Fatal(err)
			}
			// Who the API server thinks it is.
			review := &authnv1.SelfSubjectReview{}
			if err := c.Create(ctx, review); err != nil {
				t.Fatalf("%s %s: SelfSubjectReview: %v", id.User, how, err)
			}
			if review.Status.UserInfo.Username != id.User {
				t.Errorf("%s: the API server sees %q", how, review.Status.UserInfo.Username)
			}
			if err := c.List(ctx, &v1alpha1.ScaledObjectList{}); err != nil {
				t.Errorf("%s %s: list ScaledObjects: %v", id.User, how, err)
			}
			if err := c.List(ctx, &corev1.SecretList{}); !apierrors.IsForbidden(err) {
				t.Errorf("%s %s: list Secrets: %v, want Forbidden", id.User, how, err)
			}
			lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "probe-" + how, Namespace: ns}}
			if err := c.Create(ctx, lease); err != nil {
				t.Errorf("%s %s: create a Lease in its namespace: %v", id.User, how, err)
			}
			lease = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "probe-" + how, Namespace: "default"}}
			if err := c.Create(ctx, lease); !apierrors.IsForbidden(err) {
				t.Errorf("%s %s: create a Lease in default: %v, want Forbidden", id.User, how, err)
			}
		}
	}

	// Each namespace has its own ClusterRole and binding.
	for _, ns := range []string{"ebb-a", "ebb-b"} {
		var crb rbacv1.ClusterRoleBinding
		if err := cp.Client.Get(ctx, client.ObjectKey{Name: "ebb-operator:" + ns}, &crb); err != nil {
			t.Fatalf("the ClusterRoleBinding of %s: %v", ns, err)
		}
		if crb.RoleRef.Name != "ebb-operator:"+ns || len(crb.Subjects) != 1 || crb.Subjects[0].Namespace != ns {
			t.Errorf("ClusterRoleBinding %s: roleRef %s, subjects %+v", crb.Name, crb.RoleRef.Name, crb.Subjects)
		}
		var delegator rbacv1.ClusterRoleBinding
		if err := cp.Client.Get(ctx, client.ObjectKey{Name: "ebb-operator:auth-delegator:" + ns}, &delegator); err != nil {
			t.Fatal(err)
		}
		if delegator.RoleRef.Name != "system:auth-delegator" {
			t.Errorf("the auth-delegator binding of %s refers to %s", ns, delegator.RoleRef.Name)
		}
	}

	// The interceptor's identity: it may watch ScaledObjects, not read
	// TriggerAuthentications.
	ic := chartrbac.Interceptor(t, cp, chartrbac.Options{Namespace: "ebb-a"})
	if ic.User != "system:serviceaccount:ebb-a:ebb-interceptor" {
		t.Fatalf("interceptor user %q", ic.User)
	}
	c, err := client.New(ic.Config, client.Options{Scheme: cp.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.List(ctx, &v1alpha1.ScaledObjectList{}); err != nil {
		t.Errorf("the interceptor cannot list ScaledObjects: %v", err)
	}
	if err := c.List(ctx, &v1alpha1.TriggerAuthenticationList{}, client.InNamespace("ebb-a")); !apierrors.IsForbidden(err) {
		t.Errorf("the interceptor lists TriggerAuthentications: %v, want Forbidden", err)
	}
}
