// SPDX-License-Identifier: Apache-2.0

// Package dashboard tests Ebb's Grafana dashboard (deploy/grafana/ebb.json)
// and the metrics endpoints behind it against real parts. The operator runs
// as a process against a real control plane with the HPA and the
// aggregator, a real Prometheus (tests/promharness) scrapes it during a
// scaling run on the machine's RabbitMQ, and every panel's query and every
// template variable outside the Interceptor row is asked of that
// Prometheus. The Interceptor row is checked the same way against a real
// Prometheus scraping real ebb-interceptor processes (routes from a file
// and from ScaledObjects) through which real requests are answered, held
// and refused. A third test keeps the split whole: every panel and variable
// is checked by exactly one of the two.
package dashboard
