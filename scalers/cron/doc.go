// SPDX-License-Identifier: Apache-2.0

// Package cron is the cron trigger type: a trigger that is active, and asks
// for desiredReplicas, between the times its start and end schedules name,
// in a time zone.
//
// It reads no source, so its reads never fail. It tells the scale loop the
// moment a window opens or closes (scalers.Notifier), so a target at zero
// wakes at the window's start, not up to a polling interval later.
package cron
