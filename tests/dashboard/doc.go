// Package dashboard tests Ebb's Grafana dashboard (deploy/grafana/ebb.json)
// and the operator's metrics endpoint against real parts: the operator runs
// as a process against a real control plane with the HPA and the
// aggregator, a real Prometheus (tests/promharness) scrapes it during a
// scaling run on the machine's RabbitMQ, and every panel's query and every
// template variable is asked of that Prometheus.
package dashboard
