// SPDX-License-Identifier: Apache-2.0

// Package faults is Ebb's fault suite (issue #12): the operator built and
// run as a process under the Helm chart's ServiceAccount and RBAC, against a
// real etcd, kube-apiserver (with the aggregation layer) and
// kube-controller-manager running the real HPA controller, with real event
// sources on loopback put behind tests/faultproxy so that they can go away,
// come back, slow down or misbehave without stopping the machine's shared
// services.
//
// Every scenario states a promise and checks it:
//   - a replica watcher samples the target's replicas throughout and fails
//     the test if they ever drop below what must hold (zero by mistake, or
//     below the count the HPA must keep);
//   - the promised state is reached within the stated bound, and the time
//     it took is logged as a FIGURE line (docs/reliability.md quotes them);
//   - afterwards nothing leaks: no HPA is left in the API, no connection to
//     the source stays open (counted at the fault proxy), the operator's
//     goroutines come back to their level before the scenario, and the test
//     process itself leaks no goroutine (go.uber.org/goleak, in TestMain).
//
// One control plane and one operator binary serve the whole package; each
// scenario runs its own operator process(es) in turn, with its own
// namespace. The APIService reaches the running operator's metrics adapter
// through a small front on a fixed loopback port (front.go), which can also
// make the adapter unreachable and spread connections over two replicas.
//
// The tests need the control-plane binaries (`make tools`) and RabbitMQ and
// PostgreSQL on loopback (`make services`). A missing service skips a test,
// and fails it under CI=true.
package faults
