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
// run: there is no kubelet). The display shows the lag, the value the HPA
// read, the HPA's desired count and the replicas as they go 0 → N → 0, and
// the Events that explain each step; Summarize and WritePlot turn the
// samples into a summary and a chart.
//
// Everything Run starts it stops before it returns, also on Ctrl-C.
package demo
