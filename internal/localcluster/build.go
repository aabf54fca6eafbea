// SPDX-License-Identifier: Apache-2.0

package localcluster

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Binaries are the control plane's programs, as tests/tools/build.sh names
// them in the tools folder.
var Binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager"}

// MissingBinaries lists the Binaries that dir lacks.
func MissingBinaries(dir string) []string { return missingOf(dir, Binaries) }

// MissingNodeBinaries lists the NodeBinaries that dir lacks.
func MissingNodeBinaries(dir string) []string { return missingOf(dir, NodeBinaries) }

// missingOf lists the programs of names that dir lacks.
func missingOf(dir string, names []string) []string {
	var missing []string
	for _, n := range names {
		if !isExecutable(filepath.Join(dir, n)) {
			missing = append(missing, n)
		}
	}
	return missing
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// BuildProgress is a step of BuildTools.
type BuildProgress struct {
	// Binary is the program being built.
	Binary string
	// Compiled counts its packages compiled so far (standard library
	// excluded) and Total the packages it is made of: Compiled stays below
	// Total when some were compiled before (the Go build cache holds them).
	Compiled, Total int
	// Elapsed is the time since the build of Binary began.
	Elapsed time.Duration
	// Done is set once Binary is built.
	Done bool
}

// BuildTools builds the control plane's binaries missing from dir with
// tests/tools/build.sh (the one recipe `make tools` uses, and the same lock:
// a concurrent `make tools` is waited for, not repeated), calling progress
// from the calling goroutine at every package compiled. It builds from the
// Go module proxy (or the module cache): about 7 minutes the first time on
// 2 cores. The script's other output goes to log.
//
// With WithNodeBinaries it builds the NodeBinaries as well.
func BuildTools(ctx context.Context, dir string, progress func(BuildProgress), log io.Writer, opts ...BuildOption) error {
	root, err := RepoRoot()
	if err != nil {
		return fmt.Errorf("build the control plane: %w", err)
	}
	var o buildOptions
	for _, opt := range opts {
		opt(&o)
	}
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "tests", "tools", "build.sh"), dir)
	cmd.Env = buildEnv(os.Environ(), o)
	// Its stdout holds only dir; log is written by readBuildOutput alone.
	cmd.Stdout = nil
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("build the control plane: %w", err)
	}
	last := readBuildOutput(stderr, progress, log, time.Now)
	if err := cmd.Wait(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("build the control plane (tests/tools/build.sh): %w; its last lines:\n%s", err, strings.Join(last, "\n"))
	}
	return nil
}

// BuildOption changes what BuildTools builds.
type BuildOption func(*buildOptions)

type buildOptions struct {
	node bool
}

// WithNodeBinaries makes BuildTools build the NodeBinaries that dir lacks
// too (build.sh's EBB_TOOLS_NODE=1), for a control plane with a node.
func WithNodeBinaries() BuildOption {
	return func(o *buildOptions) { o.node = true }
}

// buildEnv is build.sh's environment: env with progress reports on and,
// with o.node, the node's binaries asked for. An EBB_TOOLS_NODE of env is
// dropped otherwise, so that the default build stays the control plane's.
func buildEnv(env []string, o buildOptions) []string {
	out := make([]string, 0, len(env)+2)
	for _, kv := range env {
		if !strings.HasPrefix(kv, "EBB_TOOLS_NODE=") && !strings.HasPrefix(kv, "EBB_TOOLS_PROGRESS=") {
			out = append(out, kv)
		}
	}
	out = append(out, "EBB_TOOLS_PROGRESS=1")
	if o.node {
		out = append(out, "EBB_TOOLS_NODE=1")
	}
	return out
}

// readBuildOutput follows build.sh's stderr (see its header), calls progress
// and copies every line but package names to log. It returns the last lines,
// for an error message.
func readBuildOutput(r io.Reader, progress func(BuildProgress), log io.Writer, now func() time.Time) []string {
	var (
		cur   BuildProgress
		start time.Time
		last  []string
	)
	s := bufio.NewScanner(r)
	for s.Scan() {
		line := s.Text()
		last = append(last, line)
		if len(last) > 20 {
			last = last[1:]
		}
		rest, ok := strings.CutPrefix(line, "ebb-tools: ")
		switch {
		case ok && strings.HasPrefix(rest, "packages "):
			f := strings.Fields(rest)
			if len(f) == 3 {
				total, _ := strconv.Atoi(f[2])
				cur, start = BuildProgress{Binary: f[1], Total: total}, now()
				progress(cur)
			}
		case ok && strings.HasPrefix(rest, "built ") && cur.Binary != "":
			cur.Done, cur.Elapsed = true, now().Sub(start)
			progress(cur)
			cur = BuildProgress{}
		case cur.Binary != "" && isPackagePath(line):
			cur.Compiled++
			cur.Elapsed = now().Sub(start)
			progress(cur)
		default:
			fmt.Fprintln(log, line)
		}
	}
	return last
}

// isPackagePath tells a line of `go build -v` (a package path, e.g.
// k8s.io/apiserver/pkg/server) from a message.
func isPackagePath(line string) bool {
	first, _, _ := strings.Cut(line, "/")
	return line != "" && !strings.ContainsAny(line, " \t:") && strings.Contains(first, ".")
}
