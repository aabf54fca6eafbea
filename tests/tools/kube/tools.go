// SPDX-License-Identifier: Apache-2.0

//go:build tools

// Package kube pins the Kubernetes control-plane commands built for tests.
package kube

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
