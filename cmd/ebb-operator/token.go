// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"crypto/rand"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// interceptorTokenKey is the key of the interceptor's admin token in its
// Secret (the interceptor reads it as a file, http triggers through a
// TriggerAuthentication).
const interceptorTokenKey = "token"

// ensureInterceptorToken makes the Secret namespace/name holding a random
// admin token for ebb-interceptor when there is none, so that the Helm chart
// renders no random value (`helm template` gives the same output each time
// and GitOps tools do not rotate the token on every sync). A Secret that
// exists is left as it is: its token is kept across upgrades and restarts,
// and an operator may set their own. Replicas racing to make it agree: the
// loser's create fails and the winner's token stays. A Secret it makes gets
// owners as its owner references.
func ensureInterceptorToken(ctx context.Context, kc kubernetes.Interface, namespace, name string, owners []metav1.OwnerReference) (created bool, err error) {
	secrets := kc.CoreV1().Secrets(namespace)
	if _, err := secrets.Get(ctx, name, metav1.GetOptions{}); err == nil {
		return false, nil
	} else if !apierrors.IsNotFound(err) {
		return false, fmt.Errorf("interceptor token: reading Secret %s/%s: %w", namespace, name, err)
	}
	_, err = secrets.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: map[string]string{
			"app.kubernetes.io/managed-by": "ebb", "app.kubernetes.io/component": "interceptor"},
			OwnerReferences: owners},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{interceptorTokenKey: []byte(rand.Text() + rand.Text())},
	}, metav1.CreateOptions{FieldManager: "ebb-operator"})
	switch {
	case err == nil:
		return true, nil
	case apierrors.IsAlreadyExists(err):
		return false, nil
	default:
		return false, fmt.Errorf("interceptor token: creating Secret %s/%s: %w", namespace, name, err)
	}
}
