// SPDX-License-Identifier: Apache-2.0

// Package incluster is Ebb's in-cluster end-to-end suite: it starts one
// real single-node cluster (tests/cluster) for the whole package, builds the
// operator's and the interceptor's images and two workload images
// (testdata/consumer, a RabbitMQ worker, and testdata/backend, an HTTP
// server) and loads them into the node, installs the chart
// deploy/helm/ebb with the Helm library as users install it, and checks
// that Ebb works there: the metrics adapter's APIService through its
// Service, the webhook through its Service, a worker scaled 0 → N → 0 on a
// queue of the machine's RabbitMQ, an http ScaledObject woken through the
// interceptor's pod, leader failover, helm upgrade and helm uninstall.
//
// The node needs root, containerd, runc, the CNI plugins and the Kubernetes
// binaries `make tools` builds with EBB_TOOLS_NODE=1 (docs/testing.md).
// Without them the tests skip, unless CI=true, where they fail.
package incluster
