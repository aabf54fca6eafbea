// SPDX-License-Identifier: Apache-2.0

package demo

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/ebbscale/ebb/tests/controlplane"
)

func TestBuildProgressOffATerminalPrintsALineEveryTenth(t *testing.T) {
	var out bytes.Buffer
	b := newBuildProgress(&out)
	b.show(controlplane.BuildProgress{Binary: "etcd", Total: 100})
	for i := 1; i <= 100; i++ {
		b.show(controlplane.BuildProgress{Binary: "etcd", Total: 100, Compiled: i, Elapsed: time.Duration(i) * time.Second})
	}
	b.show(controlplane.BuildProgress{Binary: "etcd", Total: 100, Compiled: 100, Elapsed: 101 * time.Second, Done: true})

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 12 { // the start, each tenth, the end
		t.Fatalf("got %d lines, want 12:\n%s", len(lines), out.String())
	}
	if want := "  etcd                     [██████████░░░░░░░░░░]   50/100 packages  50s"; lines[5] != want {
		t.Errorf("the line at half way = %q, want %q", lines[5], want)
	}
	if want := "  etcd                     built in 1m41s"; lines[11] != want {
		t.Errorf("the last line = %q, want %q", lines[11], want)
	}
}
