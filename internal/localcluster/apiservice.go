// SPDX-License-Identifier: Apache-2.0

package localcluster

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// LoopbackAPIService says where an aggregated API server that runs on this
// machine (Ebb's metrics adapter, in a test or in `ebb demo`) listens, and
// through which objects the API server's aggregator reaches it.
type LoopbackAPIService struct {
	// GroupVersion is the API the server serves, e.g.
	// external.metrics.k8s.io/v1beta1; the APIService is named
	// <version>.<group>.
	GroupVersion schema.GroupVersion
	// Namespace and Service name the Service the APIService points at; a
	// generated serving certificate must carry <Service>.<Namespace>.svc.
	Namespace, Service string
	// Port is the server's port on 127.0.0.1.
	Port int
	// InsecureSkipTLSVerify registers the APIService without a caBundle,
	// the aggregator not verifying the server's certificate: for a server
	// that does not put its CA in the APIService (metrics-server, whose own
	// manifests do the same).
	InsecureSkipTLSVerify bool
}

// Name is the APIService's name, <version>.<group>.
func (s LoopbackAPIService) Name() string { return s.GroupVersion.Version + "." + s.GroupVersion.Group }

// Register creates the namespace (if missing), a Service of type
// ExternalName localhost on the port, and the APIService pointing at it,
// without a caBundle: the server puts its CA there itself (Ebb's adapter
// does, with ServerOptions.APIService). The API server needs WithAggregator.
func (s LoopbackAPIService) Register(ctx context.Context, c client.Client) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: s.Namespace}}
	if err := c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", s.Namespace, err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: s.Service},
		Spec: corev1.ServiceSpec{
			Type:         corev1.ServiceTypeExternalName,
			ExternalName: "localhost",
			Ports:        []corev1.ServicePort{{Name: "https", Port: int32(s.Port)}},
		},
	}
	if err := c.Create(ctx, svc); err != nil {
		return fmt.Errorf("create service %s/%s: %w", s.Namespace, s.Service, err)
	}
	api := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1",
		"kind":       "APIService",
		"metadata":   map[string]any{"name": s.Name()},
		"spec": map[string]any{
			"group":                s.GroupVersion.Group,
			"version":              s.GroupVersion.Version,
			"groupPriorityMinimum": int64(100),
			"versionPriority":      int64(100),
			"service":              map[string]any{"namespace": s.Namespace, "name": s.Service, "port": int64(s.Port)},
		},
	}}
	if s.InsecureSkipTLSVerify {
		_ = unstructured.SetNestedField(api.Object, true, "spec", "insecureSkipTLSVerify")
	}
	if err := c.Create(ctx, api); err != nil {
		return fmt.Errorf("create APIService %s: %w", s.Name(), err)
	}
	return nil
}

// Available reads the APIService's Available condition: whether the
// aggregator reaches the server, and if not the condition's reason and
// message (or why there is no condition yet).
func (s LoopbackAPIService) Available(ctx context.Context, c client.Client) (bool, string, error) {
	api := &unstructured.Unstructured{}
	api.SetAPIVersion("apiregistration.k8s.io/v1")
	api.SetKind("APIService")
	if err := c.Get(ctx, client.ObjectKey{Name: s.Name()}, api); err != nil {
		return false, "", fmt.Errorf("read APIService %s: %w", s.Name(), err)
	}
	if ca, _, _ := unstructured.NestedString(api.Object, "spec", "caBundle"); ca == "" && !s.InsecureSkipTLSVerify {
		return false, "no caBundle yet", nil
	}
	conds, _, _ := unstructured.NestedSlice(api.Object, "status", "conditions")
	for _, ci := range conds {
		cm, _ := ci.(map[string]any)
		if cm["type"] == "Available" {
			msg, _ := cm["message"].(string)
			return cm["status"] == "True", fmt.Sprint(cm["reason"], ": ", msg), nil
		}
	}
	return false, "no Available condition yet", nil
}
