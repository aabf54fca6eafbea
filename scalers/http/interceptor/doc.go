// SPDX-License-Identifier: Apache-2.0

// Package interceptor is the library of ebb-interceptor, the reverse proxy
// that sits in front of HTTP workloads scaled by Ebb.
//
// An Interceptor routes each request by Host (and the longest matching path
// prefix) to its route's backend, counts it in the route's sliding window
// (request rate) and in its in-flight gauge, and, while the backend has no
// ready endpoint, holds it: a bounded number of requests per route and in
// total wait up to HoldTimeout for the first ready endpoint; past either
// bound, or past the timeout, the answer is 503 with Retry-After. Held
// requests are not read: their bodies stay in the kernel's socket buffers,
// so memory is bounded by the number of held requests.
//
// Proxying uses net/http/httputil.ReverseProxy: bodies stream in both
// directions (server-sent events are flushed as they come), HTTP/1.1
// connections are kept alive to the client and to the backend, HTTP/2 is
// served over TLS-less connections too (h2c), WebSocket upgrades pass
// through, X-Forwarded-For/-Host/-Proto are set, and a client that goes
// away cancels the backend request.
//
// SetRoutes swaps the whole route table atomically (the request path reads
// it without a lock); a route that keeps its name keeps its counters,
// window, held requests and readiness.
//
// AdminHandler serves the routes' counters to the operator (GET /v1/routes,
// bearer token), the activation long poll (GET /v1/activations: a route
// signals when its first request is held) and Prometheus metrics (GET
// /metrics). Readiness comes from outside through SetReadyEndpoints;
// package readiness feeds it from the EndpointSlices of each route's
// Service.
package interceptor
