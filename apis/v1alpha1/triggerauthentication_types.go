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

// ClusterTriggerAuthentication is a TriggerAuthentication whose Secrets and
// ConfigMaps are read from the operator's namespace, for the triggers of the
// namespaces it allows (spec.allowedNamespaces, spec.namespaceSelector). Its
// credentials are sent only to the endpoints spec.allowedEndpoints lists,
// when it lists any.
//
// With neither allowedNamespaces nor namespaceSelector set, no namespace may
// use it, unless the operator runs with --cta-open-by-default (the Helm
// value clusterTriggerAuthentication.openByDefault), which restores KEDA's
// behaviour: every namespace may.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=ebbcta,categories=ebb
// +kubebuilder:printcolumn:name="Secrets",type=string,JSONPath=`.spec.secretTargetRef[*].name`
// +kubebuilder:printcolumn:name="Namespaces",type=string,JSONPath=`.spec.allowedNamespaces`,priority=1
// +kubebuilder:printcolumn:name="Endpoints",type=string,JSONPath=`.spec.allowedEndpoints`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ClusterTriggerAuthentication struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ClusterTriggerAuthenticationSpec `json:"spec"`
}

// ClusterTriggerAuthenticationSpec is a TriggerAuthenticationSpec plus who
// may use it and where its credentials may go. The rule of the embedded
// TriggerAuthenticationSpec (at least one reference) applies.
type ClusterTriggerAuthenticationSpec struct {
	TriggerAuthenticationSpec `json:",inline"`

	// AllowedNamespaces are the namespaces whose ScaledObjects and
	// ScaledJobs may use this ClusterTriggerAuthentication. A namespace is
	// allowed when it is listed here or matches namespaceSelector. With
	// neither field set, no namespace is allowed unless the operator runs
	// with --cta-open-by-default.
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +listType=set
	// +optional
	AllowedNamespaces []string `json:"allowedNamespaces,omitempty"`

	// NamespaceSelector selects, by their labels, the namespaces that may
	// use this ClusterTriggerAuthentication (in addition to
	// allowedNamespaces). An empty selector ({}) selects every namespace.
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn', 'Exists', 'DoesNotExist'])",message="matchExpressions[].operator must be In, NotIn, Exists or DoesNotExist"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, (e.operator in ['In', 'NotIn']) == (has(e.values) && size(e.values) > 0))",message="matchExpressions[].values must be non-empty for In and NotIn and empty for Exists and DoesNotExist"
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// AllowedEndpoints pins the endpoints this ClusterTriggerAuthentication's
	// credentials may be sent to. When set, a trigger that uses it may only
	// name an endpoint (a Prometheus serverAddress, Kafka bootstrapServers, a
	// database host, ...) that one entry matches; an endpoint read from this
	// ClusterTriggerAuthentication's own Secrets and ConfigMaps is allowed
	// by definition. Empty: any endpoint. Each entry is one of
	//
	//   - a host: "prometheus.monitoring.svc", "10.0.0.7", "[fd00::7]": that
	//     host (compared without case and trailing dot) on any port;
	//   - "*." and a domain: "*.kafka.example.com": any host below that
	//     domain (not the domain itself), on any port;
	//   - either with ":port": that host or domain on that port only;
	//   - a URL prefix "scheme://host[:port]/path": endpoints given as URLs
	//     with that scheme, host and port (the scheme's default port when
	//     omitted) whose path starts with the path, on a "/" boundary.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=512
	// +kubebuilder:validation:items:Pattern=`^((\*\.)?[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$|^[A-Za-z][A-Za-z0-9+.-]*://([A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?(/[^?#\s]*)?$`
	// +listType=set
	// +optional
	AllowedEndpoints []string `json:"allowedEndpoints,omitempty"`
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
