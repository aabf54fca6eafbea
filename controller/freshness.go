// SPDX-License-Identifier: Apache-2.0

package controller

import "time"

// DefaultHPASyncPeriod is kube-controller-manager's default
// --horizontal-pod-autoscaler-sync-period: how often the HPA reads each
// metric.
const DefaultHPASyncPeriod = 15 * time.Second

// Servable says whether the metrics adapter may answer the HPA at now with a
// sample read at read, without reading the source again.
//
// At zero replicas (running false) the HPA does not read, and a sample is
// servable for one polling interval.
//
// While the target runs, the HPA acts on what it is served, so a sample is
// servable only for a sixteenth of an HPA sync period (under 1 s at the
// default 15 s), and never past the polling interval. Every HPA request then
// reads through (merged with concurrent ones), and a burst reaches the HPA at
// its next request after the burst, not at the next poll: within one sync
// period, plus that sixteenth, plus the read. Serving anything older, up to
// one whole sync period, could hand the HPA a sample a poll read just before
// the burst, and the burst would then wait one more sync. The sixteenth is
// what lets a second request in the same moment (another adapter replica, a
// retry, kubectl) take the sample just read. A sample is never older than one
// sync period when served to a running target.
//
// Cost: polls read every interval (2 a minute at 30 s) and the HPA reads
// through at most once per sync (4 a minute at 15 s): at most 6 source
// queries per object-minute, as KEDA's default.
//
// A zero read time (nothing read yet) is never servable.
func Servable(read, now time.Time, interval, hpaSync time.Duration, running bool) bool {
	if read.IsZero() {
		return false
	}
	return now.Sub(read) < MaxServedAge(interval, hpaSync, running)
}

// MaxServedAge is how old a sample the adapter serves may be (see Servable).
// A non-positive hpaSync means DefaultHPASyncPeriod.
func MaxServedAge(interval, hpaSync time.Duration, running bool) time.Duration {
	if !running {
		return interval
	}
	if hpaSync <= 0 {
		hpaSync = DefaultHPASyncPeriod
	}
	return min(interval, hpaSync/16)
}
