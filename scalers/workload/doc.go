// SPDX-License-Identifier: Apache-2.0

// Package workload owns the kubernetes-workload trigger type: the number of
// pods in the ScaledObject's own namespace that match a label selector and
// have not terminated.
//
// The pods are read from a cache per (namespace, selector) in use, shared
// by every trigger with that pair and dropped with the last one: a LIST and
// a WATCH restricted to that namespace and selector, holding for each pod
// only its name and phase. There is never a cluster-wide pod informer, and
// never a full pod object in memory.
package workload
