// SPDX-License-Identifier: Apache-2.0

package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the group and version of Ebb's API types.
var GroupVersion = schema.GroupVersion{Group: "ebb.dev", Version: "v1alpha1"}

// AddToScheme registers Ebb's API types with a scheme.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&ScaledObject{}, &ScaledObjectList{},
		&ScaledJob{}, &ScaledJobList{},
		&TriggerAuthentication{}, &TriggerAuthenticationList{},
		&ClusterTriggerAuthentication{}, &ClusterTriggerAuthenticationList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
