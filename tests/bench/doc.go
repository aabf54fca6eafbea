// SPDX-License-Identifier: Apache-2.0

// Package bench holds Ebb's benchmarks against real parts (the control
// plane, the machine's event sources). They are Go benchmarks: `go test`
// only compiles them; docs/benchmarks.md gives the command of each and its
// figures.
package bench
