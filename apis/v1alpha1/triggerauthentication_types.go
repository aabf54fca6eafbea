// SPDX-License-Identifier: Apache-2.0

package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// TriggerAuthentication supplies credentials and other parameters to the
// triggers of ScaledObjects in its own namespace.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=ebbta,categories=ebb
// +kubebuilder:printcolumn:name="Secrets",type=string,JSONPath=`.spec.secretTargetRef[*].name`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type TriggerAuthentication struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec TriggerAuthenticationSpec `json:"spec"`
}

// TriggerAuthenticationList is a list of TriggerAuthentications.
//
// +kubebuilder:object:root=true
type TriggerAuthenticationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []TriggerAuthentication `json:"items"`
}

// ClusterTriggerAuthentication is a TriggerAuthentication that any namespace
// may name; its Secrets and ConfigMaps are read from the operator's namespace.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=ebbcta,categories=ebb
// +kubebuilder:printcolumn:name="Secrets",type=string,JSONPath=`.spec.secretTargetRef[*].name`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ClusterTriggerAuthentication struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec TriggerAuthenticationSpec `json:"spec"`
}

// ClusterTriggerAuthenticationList is a list of ClusterTriggerAuthentications.
//
// +kubebuilder:object:root=true
type ClusterTriggerAuthenticationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterTriggerAuthentication `json:"items"`
}

// TriggerAuthenticationSpec maps trigger parameters to where their values live.
//
// +kubebuilder:validation:XValidation:rule="(has(self.secretTargetRef) && size(self.secretTargetRef) > 0) || (has(self.configMapTargetRef) && size(self.configMapTargetRef) > 0) || (has(self.env) && size(self.env) > 0)",message="at least one of secretTargetRef, configMapTargetRef or env must be set"
type TriggerAuthenticationSpec struct {
	// SecretTargetRef reads parameters from keys of Secrets.
	// +kubebuilder:validation:MaxItems=64
	// +listType=map
	// +listMapKey=parameter
	// +optional
	SecretTargetRef []KeyRef `json:"secretTargetRef,omitempty"`

	// ConfigMapTargetRef reads parameters from keys of ConfigMaps.
	// +kubebuilder:validation:MaxItems=64
	// +listType=map
	// +listMapKey=parameter
	// +optional
	ConfigMapTargetRef []KeyRef `json:"configMapTargetRef,omitempty"`

	// Env reads parameters from the environment of the scale target's container.
	// +kubebuilder:validation:MaxItems=64
	// +listType=map
	// +listMapKey=parameter
	// +optional
	Env []EnvRef `json:"env,omitempty"`
}

// KeyRef maps a trigger parameter to a key of a Secret or ConfigMap.
type KeyRef struct {
	// Parameter is the trigger metadata key the value is given as.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Parameter string `json:"parameter"`

	// Name of the Secret or ConfigMap.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Key within it.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key"`
}

// EnvRef maps a trigger parameter to an environment variable of the scale
// target's container.
type EnvRef struct {
	// Parameter is the trigger metadata key the value is given as.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Parameter string `json:"parameter"`

	// Name of the environment variable.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`

	// ContainerName of the container; the ScaledObject's
	// envSourceContainerName or the first container when empty.
	// +optional
	ContainerName string `json:"containerName,omitempty"`
}
