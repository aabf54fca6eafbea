// Package controller owns Ebb's control loop: the ScaledObject reconciler
// (target resolution, the owned HPA, status, finalizer), the scale loop that
// polls triggers on a shared scheduler and moves targets between zero and
// one, the in-memory metric store the metrics adapter reads, and admission
// validation.
//
// The scaling semantics are pure functions (Decide, the HPA builder) that
// take their inputs, including the time, and return a decision; the
// reconciler and the scale loop only gather inputs and apply results.
package controller
