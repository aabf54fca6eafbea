// SPDX-License-Identifier: Apache-2.0

// Package e2e holds Ebb's end-to-end tests: the operator built and run as a
// process against a real etcd, kube-apiserver (with the aggregation layer)
// and kube-controller-manager, real event sources on loopback, and the real
// HPA reading Ebb's metrics adapter through the API server.
//
// The tests need the control plane binaries (`make tools`) and the loopback
// services (`make services`); `make test` provides both.
package e2e
