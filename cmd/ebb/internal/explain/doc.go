// SPDX-License-Identifier: Apache-2.0

// Package explain implements `ebb explain`: it tells why a ScaledObject's
// target has the replicas it has.
//
// It works in two steps. Gather reads what the cluster knows — the
// ScaledObject with its status, the target's /scale subresource, the HPA Ebb
// owns and the recent Events of both — into Facts, with no interpretation.
// Explain turns Facts and the current time into a Report: a one-line
// verdict, then the facts behind it (each trigger's value, target and
// health; the HPA's arithmetic, conditions and stabilization windows; the
// state of the way to zero, computed with the controller's own Decide). It
// does no I/O, so the reasoning is tested table by table; Report.WriteText
// and JSON render it.
//
// Secrets never appear: Ebb's status is sanitized before it is written, and
// of a trigger's metadata only the activation threshold is shown.
package explain
