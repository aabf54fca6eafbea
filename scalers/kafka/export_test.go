// SPDX-License-Identifier: Apache-2.0

package kafka

import "time"

// Test hooks, compiled only into this package's tests.

// SetClock makes t read the time of probes from now. Call it before New.
func SetClock(t *Type, now func() time.Time) { t.now = now }

// ProbeBatches is the number of probe batches t has started.
func ProbeBatches(t *Type) int64 { return t.probeBatches.Load() }

// ProbeState reports the clusters t answers probes for and the (group,
// topic, policy) keys it is interested in.
func ProbeState(t *Type) (clusters, keys int) { return t.probes.stats() }

// ProbeMaxAge is how old a batch result may be to answer a probe.
const ProbeMaxAge = probeMaxAge

// ProbeInterestTTL is how long a key stays of interest without a probe.
const ProbeInterestTTL = probeInterestTTL
