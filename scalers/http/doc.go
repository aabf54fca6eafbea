// SPDX-License-Identifier: Apache-2.0

// Package http is the http trigger type: it scales on HTTP request rate (or
// requests in flight) read from a Prometheus-format counter endpoint
// (counterURL) or from an ebb-interceptor (interceptorURL).
//
// # Counter-endpoint mode
//
// The trigger names an endpoint that serves the Prometheus text format
// (counterURL: an app's or an ingress controller's /metrics), a metric
// (counterName, e.g. http_requests_total) and label matchers (labels:
// "route=/api,method!=HEAD"). Every Read scrapes the endpoint (identical
// scrapes in flight are merged, clients are pooled per endpoint) and sums
// the matching series.
//
// With targetRequestRate the metric is a counter and the value is its
// per-second rate. Each Scaler keeps a short history of (time, cumulative
// increase) points. The increase between two scrapes is computed per series:
// a series whose value went down was reset (a restart) and counts its new
// value; a series not seen before counts its whole value, unless it is the
// first scrape of the Scaler (which only sets the baseline). The rate is the
// increase from the oldest point inside window to the newest, divided by the
// time between them; when reads are further apart than window, the rate runs
// from the previous read (a longer span, never a made-up zero). The first
// Read has no history: it scrapes twice, bootstrapSpan (1 s) apart, and
// returns the rate over that span. So no Read ever answers "no data" with a
// zero: it either has two real scrapes or returns an error.
//
// With targetConcurrency the metric is a gauge of requests in flight and the
// value is the current sum of the matching series.
//
// No matching series is an error (a wrong name or label, a lost target), not
// 0, unless ignoreNullValues is "true": client libraries export a labelled
// counter only after its first increment, so a route that has never been hit
// has no series.
//
// # Interceptor mode
//
// The trigger names an ebb-interceptor's admin endpoint (interceptorURL),
// one of its routes (route) and, in a TriggerAuthentication, its admin
// token (bearerToken). Every Read GETs /v1/routes?route=<route>&window=<window>
// (package interceptor serves it) and returns the route's request rate over
// window (capped by the interceptor's own window), or with
// targetConcurrency its requests in flight plus those held waiting for a
// ready endpoint. A held request makes the trigger active whatever the
// activation threshold: someone is waiting for the first replica.
// Interceptor-mode Scalers are scalers.Notifiers: the Type keeps one long
// poll of GET /v1/activations per interceptor (admin URL and token), shared
// by the triggers on it, and wakes a route's triggers when the interceptor
// signals its first held request, so the scale loop probes a target at zero
// at once. They are scalers.Probers too, the fallback: while the target
// rests at zero the scale loop probes them every second, and the probes of
// every trigger on one interceptor (same token and window) that arrive
// together share one GET of all the routes.
//
// Several interceptor replicas: when the interceptorURL's host resolves to
// several addresses (a headless Service), every Read and Probe asks each
// address and sums the route's rate, in flight and held; a replica that
// cannot be read fails the read, naming its address. The activation
// watcher keeps one long poll per address, following the addresses as
// they come and go (replicas.go).
//
// A trigger with a host publishes a route (RouteOf; named
// <namespace>/<scaledobject>/<trigger>) to the interceptors that take their
// routes from the cluster (package clusterroutes), and reads that route.
//
// Scale to zero respects traffic: the trigger is active while the rate is
// above activationRequestRate, so steady light traffic keeps it active.
package http
