// SPDX-License-Identifier: Apache-2.0

// Package foundation holds the tests that prove Ebb's foundation against a
// real control plane: the CRDs install and are discoverable, valid objects
// are stored with their defaults, invalid ones are rejected naming the field,
// and the real HPA in kube-controller-manager scales a Deployment.
package foundation
