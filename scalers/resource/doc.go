// SPDX-License-Identifier: Apache-2.0

// Package resource owns the cpu and memory trigger types. Ebb does not read
// these metrics: it passes each one to the ScaledObject's HPA as a Resource
// (or, with containerName, a ContainerResource) metric, and the HPA reads
// the pods' use from the cluster's metrics.k8s.io API (metrics-server) by
// itself. A resource trigger therefore never activates a target and never
// keeps one from zero: a ScaledObject whose triggers are all cpu or memory
// has a minReplicaCount of at least 1, and one with an event trigger too
// goes to zero and back on that trigger alone, while cpu and memory scale it
// further between 1 and N.
package resource
