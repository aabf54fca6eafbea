// SPDX-License-Identifier: Apache-2.0

package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
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

// Scale is a target's replica count as its /scale subresource gave it, with
// the resourceVersion it was read at.
type Scale struct {
	Replicas        int32
	ResourceVersion string
}

// ScaleClient reads and writes the replica count of any resource with a
// /scale subresource.
type ScaleClient interface {
	GetScale(ctx context.Context, namespace string, t Target) (Scale, error)
	// SetReplicas sets the count. With a resourceVersion, only if the
	// target is still at that version (else a Conflict error): a move
	// decided on a count read at that version is never applied to a target
	// someone changed since.
	SetReplicas(ctx context.Context, namespace string, t Target, replicas int32, resourceVersion string) error
}

// ErrNoScaleSubresource: the target's kind is served but has no /scale
// subresource, so Ebb cannot scale it.
var ErrNoScaleSubresource = errors.New("the kind has no /scale subresource")

// NewScaleClient adapts client-go's scale client; resources, when set, tells
// a kind without /scale (ErrNoScaleSubresource) from other failures.
func NewScaleClient(s scale.ScalesGetter, resources discovery.ServerResourcesInterface) ScaleClient {
	return scaleClient{s, resources}
}

type scaleClient struct {
	s         scale.ScalesGetter
	resources discovery.ServerResourcesInterface
}

func (c scaleClient) GetScale(ctx context.Context, ns string, t Target) (Scale, error) {
	sc, err := c.s.Scales(ns).Get(ctx, t.Resource.GroupResource(), t.Name, metav1.GetOptions{})
	if err != nil {
		// A kind without /scale: a 404 from the API server, or no scale
		// kind in discovery for the client.
		var st apierrors.APIStatus
		if (apierrors.IsNotFound(err) || !errors.As(err, &st)) && c.noScale(t.Resource) {
			return Scale{}, fmt.Errorf("%s: %w", t.Resource.GroupResource(), ErrNoScaleSubresource)
		}
		return Scale{}, err
	}
	return Scale{Replicas: sc.Spec.Replicas, ResourceVersion: sc.ResourceVersion}, nil
}

func (c scaleClient) SetReplicas(ctx context.Context, ns string, t Target, n int32, resourceVersion string) error {
	patch := struct {
		Metadata *scaleMeta `json:"metadata,omitempty"`
		Spec     struct {
			Replicas int32 `json:"replicas"`
		} `json:"spec"`
	}{}
	if resourceVersion != "" {
		patch.Metadata = &scaleMeta{ResourceVersion: resourceVersion}
	}
	patch.Spec.Replicas = n
	data, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	_, err = c.s.Scales(ns).Patch(ctx, t.Resource, t.Name, types.MergePatchType, data, metav1.PatchOptions{})
	return err
}

// noScale says whether discovery serves resource without a /scale
// subresource (false when discovery cannot tell).
func (c scaleClient) noScale(resource schema.GroupVersionResource) bool {
	if c.resources == nil {
		return false
	}
	list, err := c.resources.ServerResourcesForGroupVersion(resource.GroupVersion().String())
	if err != nil {
		return false
	}
	served := false
	for _, r := range list.APIResources {
		switch r.Name {
		case resource.Resource:
			served = true
		case resource.Resource + "/scale":
			return false
		}
	}
	return served
}

// scaleMeta is the precondition of a /scale patch: the API server refuses the
// patch with a Conflict unless the target is at this resourceVersion.
type scaleMeta struct {
	ResourceVersion string `json:"resourceVersion"`
}
