// SPDX-License-Identifier: Apache-2.0

package controller

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/scale"
)

// Target is a ScaledObject's resolved scale target.
type Target struct {
	// Resource is the target's group and resource, for its /scale subresource.
	Resource schema.GroupVersionResource
	// APIVersion and Kind as the user wrote them (with defaults), for the HPA.
	APIVersion string
	Kind       string
	Name       string
}

// ScaleClient reads and writes the replica count of any resource with a
// /scale subresource.
type ScaleClient interface {
	GetReplicas(ctx context.Context, namespace string, t Target) (int32, error)
	SetReplicas(ctx context.Context, namespace string, t Target, replicas int32) error
}

// NewScaleClient adapts client-go's scale client.
func NewScaleClient(s scale.ScalesGetter) ScaleClient { return scaleClient{s} }

type scaleClient struct{ s scale.ScalesGetter }

func (c scaleClient) GetReplicas(ctx context.Context, ns string, t Target) (int32, error) {
	sc, err := c.s.Scales(ns).Get(ctx, t.Resource.GroupResource(), t.Name, metav1.GetOptions{})
	if err != nil {
		return 0, err
	}
	return sc.Spec.Replicas, nil
}

func (c scaleClient) SetReplicas(ctx context.Context, ns string, t Target, n int32) error {
	patch := fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, n)
	_, err := c.s.Scales(ns).Patch(ctx, t.Resource, t.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	return err
}
