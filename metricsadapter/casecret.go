// SPDX-License-Identifier: Apache-2.0

package metricsadapter

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Keys of the Secret that holds the shared CA.
const (
	caSecretCertKey = "ca.crt"
	caSecretKeyKey  = "ca.key"
)

// sharedAuthority returns the CA kept in the Secret namespace/name, making
// it (and the Secret) when there is none, so that every replica signs its
// serving certificate with the same CA and the APIService's one caBundle
// trusts them all, also across restarts. Two replicas starting at once
// both try to create it; the loser reads the winner's. The Secret is read
// with GETs only. A Secret it makes gets owners as its owner references.
func sharedAuthority(ctx context.Context, kc kubernetes.Interface, namespace, name string, owners []metav1.OwnerReference, now time.Time) (*authority, error) {
	secrets := kc.CoreV1().Secrets(namespace)
	for range 3 {
		sec, err := secrets.Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			ca, err := parseAuthority(sec.Data[caSecretCertKey], sec.Data[caSecretKeyKey])
			if err != nil {
				return nil, fmt.Errorf("metrics adapter CA in Secret %s/%s: %w (delete the Secret to make a new CA)", namespace, name, err)
			}
			return ca, nil
		}
		if !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("metrics adapter CA: reading Secret %s/%s: %w", namespace, name, err)
		}
		ca, err := newAuthority(now)
		if err != nil {
			return nil, err
		}
		key, err := ca.keyPEM()
		if err != nil {
			return nil, err
		}
		_, err = secrets.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: map[string]string{"app.kubernetes.io/managed-by": "ebb"},
				OwnerReferences: owners},
			Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{caSecretCertKey: ca.pem, caSecretKeyKey: key},
		}, metav1.CreateOptions{FieldManager: "ebb-operator"})
		if err == nil {
			return ca, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("metrics adapter CA: creating Secret %s/%s: %w", namespace, name, err)
		}
		// Another replica made it first: read theirs.
	}
	return nil, fmt.Errorf("metrics adapter CA: Secret %s/%s keeps changing", namespace, name)
}
