// SPDX-License-Identifier: Apache-2.0

// Package simulate replays metric series through Ebb's scaling decisions
// and a model of the HPA, for `ebb simulate`: what-if tuning of a
// ScaledObject before it runs.
//
// It owns the replay engine (Run), the inputs (a ScaledObject YAML file,
// CSV series, a Prometheus range query) and the outputs (a timeline of
// replica changes with their reasons, summary figures, a PNG chart). The
// scale loop's side is the production code: controller.Decide with the
// inputs the loop would gather, on the loop's schedule; the HPA's side is
// package hpamodel. The loop is open: the series is the metric as observed,
// and the replicas the simulation chooses do not change it.
package simulate
