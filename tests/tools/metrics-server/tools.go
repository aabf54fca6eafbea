// SPDX-License-Identifier: Apache-2.0

//go:build tools

// Package metricsserver pins metrics-server, which the test node runs to
// serve the kubelet's resource metrics as metrics.k8s.io (built by
// tests/tools/build.sh with EBB_TOOLS_NODE=1). It is not part of Ebb.
package metricsserver

import _ "sigs.k8s.io/metrics-server/cmd/metrics-server"
