// SPDX-License-Identifier: Apache-2.0

package ociimage

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// goBuild compiles the main package pkg (relative to dir, or a full import
// path) into a static Linux binary for arch and returns its bytes. The
// flags make the output depend only on the sources, the Go toolchain and
// the -X values: no cgo, no paths of the build machine (-trimpath), no VCS
// stamp (-buildvcs=false), no build ID, no symbol table.
func goBuild(ctx context.Context, dir, pkg, arch string, x map[string]string) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "ebb-ociimage-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "bin")

	ldflags := []string{"-s", "-w", "-buildid="}
	keys := make([]string, 0, len(x))
	for k := range x {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := x[k]
		if strings.ContainsAny(k+v, " \t\n'\"") {
			return nil, fmt.Errorf("-X %s=%q: spaces and quotes are not supported in -X values", k, v)
		}
		ldflags = append(ldflags, "-X", k+"="+v)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", strings.Join(ldflags, " "), "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go build %s (GOARCH=%s): %w\n%s", pkg, arch, err, strings.TrimSpace(stderr.String()))
	}
	return os.ReadFile(out)
}
