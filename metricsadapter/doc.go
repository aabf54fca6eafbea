// SPDX-License-Identifier: Apache-2.0

// Package metricsadapter serves external.metrics.k8s.io from the operator's
// metric store, so that the HPAs Ebb makes read the values the scale loop
// keeps, in the same process and without a network hop to the controller.
//
// It owns these:
//   - Provider, the ExternalMetricsProvider of sigs.k8s.io/custom-metrics-apiserver:
//     it answers by metric name and by the ebb.dev/scaledobject label
//     selector, turns the store's errors into API errors that carry no
//     backend detail, and records a latency histogram by result;
//   - Server, the aggregated API server that serves the Provider over TLS
//     with delegated authentication and authorization, as the API server's
//     aggregation layer expects; a controller-runtime Runnable that runs on
//     every replica, not only the leader;
//   - the serving certificate: given as files (reloaded when they change) or
//     made by the operator from a CA it keeps in a Secret (shared by the
//     replicas and kept across restarts), renewed before it expires, with
//     the CA put into the APIService's caBundle;
//   - Delegate, which answers the reads no ScaledObject serves from another
//     adapter (the one whose APIService Ebb took over, KEDA's say), with the
//     caller's identity in the front-proxy headers and its errors passed
//     back bounded, and merges that adapter's metric list into discovery;
//   - WebhookCert, the same kind of certificate for the admission webhook
//     (its own CA Secret), with the CA put into the
//     ValidatingWebhookConfiguration's caBundle: the Helm chart renders no
//     key material.
//
// See docs/adapter.md for the flags, the RBAC it needs and how the HPA
// reaches it.
package metricsadapter
