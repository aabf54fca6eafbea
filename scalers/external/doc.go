// SPDX-License-Identifier: Apache-2.0

// Package external is the external and external-push trigger types: Ebb
// reads a gRPC server that a tenant runs and that speaks KEDA's external
// scaler protocol (package externalscaler, service ExternalScaler; see
// externalscalerpb), so that a server written for KEDA works with Ebb
// unchanged.
//
// The package owns the gRPC connections, one per server address and TLS
// material, shared by every trigger on it through a scalers.Pool and dialled
// through the operator's egress policy; the external-push type also owns the
// StreamIsActive streams, one per server and scaled-object reference.
//
// A read asks GetMetricSpec (kept for five minutes), then GetMetrics for
// each metric and IsActive. Ebb's metric spec is fixed when the trigger is
// built and does no I/O, while KEDA takes its target from GetMetricSpec:
// so Ebb serves each metric's value over the server's target against a
// target of 1 (the largest of them when the server names several metrics),
// which leaves the HPA's replica count what it is under KEDA. See
// docs/scalers/external.md.
//
// Package externalscaler, below this one, serves the protocol: a server for
// either Ebb or KEDA in about thirty lines.
package external
