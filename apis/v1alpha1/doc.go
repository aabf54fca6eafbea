// SPDX-License-Identifier: Apache-2.0

// Package v1alpha1 holds Ebb's API types in the group ebb.dev: ScaledObject,
// ScaledJob, TriggerAuthentication and ClusterTriggerAuthentication.
//
// The package is a leaf: it imports only k8s.io/api and k8s.io/apimachinery.
// It holds types, kubebuilder markers (which become the CRD schemas in
// deploy/crds through `make generate`), the defaults of the scaling contract
// and generated deepcopy code. Behaviour lives in the controller.
//
// +kubebuilder:object:generate=true
// +groupName=ebb.dev
package v1alpha1
