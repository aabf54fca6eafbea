// SPDX-License-Identifier: Apache-2.0

// Package demo is `ebb demo`: Ebb end to end on one machine, shown live.
//
// Run starts a real control plane (etcd, kube-apiserver with the
// aggregation layer, kube-controller-manager with the HPA controller, from
// internal/localcluster), Ebb's operator in this process (controller.Setup and
// metricsadapter.Server in one controller-runtime manager, the adapter
// registered as APIService v1beta1.external.metrics.k8s.io), and an event
// source: an in-process Kafka broker (kfake) by default, or a running
// RabbitMQ or PostgreSQL. It creates Deployment demo/worker at 0 replicas
// and a ScaledObject for it, produces a burst of work, and lets a simulated
// consumer drain it at a fixed rate per replica of the Deployment (no pods
// run: there is no kubelet, unless Options.Cluster). The display shows the
// lag, the value the HPA read, the HPA's desired count and the replicas as
// they go 0 → N → 0, and the Events that explain each step; Summarize and
// WritePlot turn the samples into a summary and a chart.
//
// With Options.Cluster (`ebb demo --cluster`) the control plane comes with
// a real node (localcluster's Node: containerd, runc, the kubelet, ...), the
// pause and worker images are built here (internal/ociimage) and imported
// into it, and the worker runs as real pods (package worker, with the
// consumer code of package work that the simulated consumer uses too): each
// Ready pod consumes the Rate from the source, which pods reach through
// Node.Expose. The display then shows the pods Ready next to the replicas.
// The operator still runs in this process, as without --cluster: the demo
// is about the workload's pods, it starts faster without an operator image
// and the chart, and tests/incluster covers the operator in pods.
//
// Everything Run starts it stops before it returns, also on Ctrl-C.
package demo
