// SPDX-License-Identifier: Apache-2.0

// Package scale measures how Ebb's controller copes with many ScaledObjects
// against a real API server (tests/controlplane) and a real RabbitMQ: the
// time until every HPA exists and every ScaledObject is Ready, the API
// requests and reconcile passes per ScaledObject, the connections to the
// broker and the memory per ScaledObject.
//
// Run is the measurement; the package's test runs it small (50
// ScaledObjects) as a smoke test in `make test`, and the command
// tests/scale/cmd/ebb-scalebench runs it at 1,000 or 10,000 for
// docs/benchmarks.md ("Controller at scale"). tests/scale/cmd/ebb-apicost
// measures what each kind of request costs the API server.
package scale
