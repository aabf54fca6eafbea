// SPDX-License-Identifier: Apache-2.0

package controller

import (
	"context"
	"fmt"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
)

// targetKey identifies a scale target by API group (not version), kind and name.
func targetKey(apiVersion, kind, name string) string {
	gv, _ := schema.ParseGroupVersion(apiVersion)
	return gv.Group + "/" + kind + "/" + name
}

// targetOf is so's scale target with the defaults filled in.
func targetOf(so *v1alpha1.ScaledObject) (apiVersion, kind, name string) {
	ref := so.Spec.ScaleTargetRef
	apiVersion, kind = ref.APIVersion, ref.Kind
	if apiVersion == "" {
		apiVersion = "apps/v1"
	}
	if kind == "" {
		kind = "Deployment"
	}
	return apiVersion, kind, ref.Name
}

// findConflict says why so may not scale its target: another ScaledObject
// scales it (with olderOnly, only one created before so counts: the first
// owner keeps its target), or an HPA Ebb does not own does. It reads through
// the field indexes SetupWithManager registers.
func findConflict(ctx context.Context, r client.Reader, so *v1alpha1.ScaledObject, olderOnly bool) (string, error) {
	apiVersion, kind, name := targetOf(so)
	key := targetKey(apiVersion, kind, name)
	var sos v1alpha1.ScaledObjectList
	if err := r.List(ctx, &sos, client.InNamespace(so.Namespace), client.MatchingFields{indexSOTarget: key}); err != nil {
		return "", err
	}
	for _, other := range sos.Items {
		if other.Name == so.Name || !other.DeletionTimestamp.IsZero() {
			continue
		}
		if !olderOnly || olderThan(&other, so) {
			return fmt.Sprintf("%s %s is already scaled by ScaledObject %s", kind, name, other.Name), nil
		}
	}
	var hpas autoscalingv2.HorizontalPodAutoscalerList
	if err := r.List(ctx, &hpas, client.InNamespace(so.Namespace), client.MatchingFields{indexHPATarget: key}); err != nil {
		return "", err
	}
	for _, h := range hpas.Items {
		if owner := metav1.GetControllerOf(&h); owner != nil && owner.Kind == "ScaledObject" && owner.APIVersion == v1alpha1.GroupVersion.String() {
			continue // an HPA of a ScaledObject: that ScaledObject is checked above
		}
		return fmt.Sprintf("%s %s is already scaled by HorizontalPodAutoscaler %s", kind, name, h.Name), nil
	}
	return "", nil
}

func olderThan(a, b *v1alpha1.ScaledObject) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}
