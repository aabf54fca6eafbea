// SPDX-License-Identifier: Apache-2.0

//go:build tools

// Package kube pins the Kubernetes commands built for tests: the control
// plane's, and the node's of tests/cluster.
package kube

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
