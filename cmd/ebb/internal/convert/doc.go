// SPDX-License-Identifier: Apache-2.0

// Package convert rewrites KEDA's ScaledObjects, ScaledJobs,
// TriggerAuthentications and ClusterTriggerAuthentications as Ebb's
// (ebb.dev/v1alpha1), for `ebb convert`;
// and the HTTP add-on's HTTPScaledObjects as ScaledObjects with http triggers
// in interceptor mode, plus one ClusterTriggerAuthentication that gives them
// ebb-interceptor's admin token from the Helm chart's Secret.
//
// Convert is a pure function: it takes the bytes of one or more YAML inputs
// and returns the output documents and a list of findings, one per thing that
// has no Ebb equivalent, changes meaning, or is worth knowing about. It reads
// no file and touches no cluster; the command does the I/O.
//
// Every field of the KEDA kinds is handled by name: a field this package does
// not know is reported and left out, never copied blindly and never dropped in
// silence. Trigger metadata keys are checked against the `meta` tags of the
// scalers in the Registry it is given, and each converted ScaledObject and
// ScaledJob is run through the admission checks of Ebb's webhook
// (controller.ValidateSpec, ValidateJobSpec), so what would still be refused
// at `kubectl apply` is reported too. Findings
// never quote a trigger's metadata value: it may be a credential.
package convert
