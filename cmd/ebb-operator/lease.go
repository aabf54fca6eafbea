// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ensureLease makes the leader election's Lease namespace/name, empty, when
// there is none, with owners as its owner references: leader election then
// takes it as it would one it made itself. A Lease that exists is left as
// it is.
func ensureLease(ctx context.Context, kc kubernetes.Interface, namespace, name string, owners []metav1.OwnerReference) error {
	if len(owners) == 0 {
		return nil
	}
	_, err := kc.CoordinationV1().Leases(namespace).Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, OwnerReferences: owners,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "ebb"}},
	}, metav1.CreateOptions{FieldManager: "ebb-operator"})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("leader Lease %s/%s: %w", namespace, name, err)
	}
	return nil
}
