// SPDX-License-Identifier: Apache-2.0

// Package controller owns Ebb's control loop: the ScaledObject reconciler
// (target resolution, the owned HPA, status, finalizer), the scale loop that
// polls triggers on a shared scheduler and moves targets between zero and
// one, the in-memory metric store the metrics adapter reads, and admission
// validation; and for ScaledJobs, the reconciler (finalizer, rollout on
// deletion) and the job loop that reads their triggers on the same kind of
// scheduler and creates Jobs.
//
// The scaling semantics are pure functions (Decide, DecideJobs, the HPA
// builder) that take their inputs, including the time, and return a
// decision; the reconcilers and the loops only gather inputs and apply
// results.
package controller
