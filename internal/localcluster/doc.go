// SPDX-License-Identifier: Apache-2.0

// Package localcluster starts a real Kubernetes control plane on loopback,
// for `ebb demo` and, through the thin testing.TB wrapper tests/controlplane,
// for Ebb's tests: etcd and kube-apiserver through controller-runtime's
// envtest, Ebb's CRDs from deploy/crds installed and established, and, when
// asked, the real kube-controller-manager running the deployment, replicaset
// and horizontal-pod-autoscaler controllers.
//
// With Options.Node it also starts a real node on this machine (node.go):
// containerd and runc from Debian, the CNI bridge plugin on the bridge ebb0
// (10.244.0.1/24), the kubelet, kube-proxy in iptables mode, kube-scheduler
// and a small CoreDNS. The API server then listens on the bridge's address,
// so that pods reach it through the kubernetes Service. One node runs on a
// machine at a time, under a lock in NodeDir; whatever a killed one left
// behind (containers, mounts, iptables chains, the bridge) is cleaned up by
// the next.
//
// The binaries come from the tools cache that `make tools` fills
// (tests/tools/build.sh): $KUBEBUILDER_ASSETS, else $EBB_TOOLS_DIR, else
// ~/.cache/ebb/tools-v1.37.2. etcd, kube-apiserver and
// kube-controller-manager there are links to one program, ebb-kube
// (cmd/ebb-kube), and the kubelet, kube-scheduler and kube-proxy links to
// ebb-kube-node (cmd/ebb-kube-node): both are built from Ebb's own module, so
// they share the Go build cache with the CLI. When they are missing, New
// fails and says to run `make tools`.
//
// Everything a ControlPlane starts is stopped by Stop. A small guard process
// kills the process groups left behind if the owning process dies without
// stopping them, e.g. on a go test -timeout panic, so no etcd or
// kube-apiserver outlives its owner. The package imports no test code: the
// CLI ships it.
package localcluster
