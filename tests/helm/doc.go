// SPDX-License-Identifier: Apache-2.0

// Package helm renders Ebb's Helm chart (deploy/helm/ebb) with the Helm Go
// library — the same loader, values schema check and template engine as the
// helm CLI — for the chart's tests and for `make manifests`, which writes the
// plain manifests in deploy/manifests. Helm is a tool here, not a runtime
// dependency of the operator.
package helm
