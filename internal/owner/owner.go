// SPDX-License-Identifier: Apache-2.0

// Package owner ties what the operator makes at run time in its namespace
// (the webhook's and the metrics adapter's CA Secrets, the interceptor's
// token, the host claims, the leader Lease) to the operator's Deployment,
// which the Helm chart makes: `helm uninstall` deletes the Deployment, and
// the garbage collector the objects it owns. An upgrade keeps the
// Deployment, so they stay across upgrades and restarts. Objects made
// before the operator had an owner to give them are left as they are: the
// operator has no update permission on its Secrets.
package owner

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// Deployment returns the owner references to the Deployment namespace/name
// for the objects the operator makes: the Deployment as their one owner, not
// their controller, and without blockOwnerDeletion (which would need
// permission on the Deployment's finalizers). An empty name gives none.
func Deployment(ctx context.Context, kc kubernetes.Interface, namespace, name string) ([]metav1.OwnerReference, error) {
	if name == "" {
		return nil, nil
	}
	d, err := kc.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("the operator's Deployment %s/%s, owner of what it makes at run time: %w", namespace, name, err)
	}
	return []metav1.OwnerReference{{
		APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID,
		Controller: ptr.To(false),
	}}, nil
}
