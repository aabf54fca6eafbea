// SPDX-License-Identifier: Apache-2.0

// Package controlplane starts a real Kubernetes control plane for Ebb's tests
// and for `ebb demo`: etcd and kube-apiserver through controller-runtime's
// envtest, Ebb's CRDs from deploy/crds installed and established, and, when
// asked, the real kube-controller-manager running the deployment, replicaset
// and horizontal-pod-autoscaler controllers.
//
// The binaries come from the tools cache that `make tools` fills
// (tests/tools/build.sh): $KUBEBUILDER_ASSETS, else $EBB_TOOLS_DIR, else
// ~/.cache/ebb/tools-v1.37.2. When they are missing, Start fails the test and
// says to run `make tools`; it never skips.
//
// Everything a ControlPlane starts is stopped by Stop (Start registers it as a
// test cleanup). A small guard process kills the process groups left behind
// if the owning process dies without stopping them, e.g. on a go test
// -timeout panic, so no etcd or kube-apiserver outlives its test.
package controlplane
