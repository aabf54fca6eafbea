// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/ebbscale/ebb/internal/localcluster"
)

// The shipped binaries carry no test code: neither the testing package nor
// anything under tests/ is among their dependencies (the local control
// plane they need is internal/localcluster).
func TestBinariesImportNoTestCode(t *testing.T) {
	root, err := localcluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-deps", "./cmd/...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps ./cmd/...: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "testing" || strings.HasPrefix(pkg, "github.com/ebbscale/ebb/tests/") {
			t.Errorf("a shipped binary depends on %s", pkg)
		}
	}
}
