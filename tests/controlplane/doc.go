// SPDX-License-Identifier: Apache-2.0

// Package controlplane gives tests a real Kubernetes control plane: Start
// starts one from internal/localcluster (etcd, kube-apiserver with Ebb's CRDs
// and, when asked, kube-controller-manager and the aggregation layer), stops
// it when the test ends, and prints the tail of its logs when the test
// failed. Missing binaries fail the test with a message that says to run
// `make tools`; it never skips.
//
// The rest is internal/localcluster's, named here so that tests need one
// import.
package controlplane
