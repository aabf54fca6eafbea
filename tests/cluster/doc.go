// SPDX-License-Identifier: Apache-2.0

// Package cluster starts a real single-node Kubernetes cluster for tests:
// the control plane of internal/localcluster plus a node on this machine
// (containerd and runc from Debian, the CNI bridge plugin, the kubelet,
// kube-proxy, kube-scheduler and CoreDNS), with images built by
// internal/ociimage and imported into the node's containerd. Pods really
// run. One node runs on a machine at a time: a second one waits for the
// first to stop.
package cluster
