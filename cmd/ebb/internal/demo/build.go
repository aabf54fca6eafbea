// SPDX-License-Identifier: Apache-2.0

package demo

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/ebbscale/ebb/internal/localcluster"
)

// ensureControlPlane builds the control plane's binaries, and with node
// the node's, when the tools folder lacks them — the first run on a machine
// — and shows the build's progress on out. The build's own output goes to a
// log file in the tools folder.
func ensureControlPlane(ctx context.Context, out io.Writer, node bool) error {
	dir := localcluster.ToolsDir()
	missing := localcluster.MissingBinaries(dir)
	var opts []localcluster.BuildOption
	if node {
		missing = append(missing, localcluster.MissingNodeBinaries(dir)...)
		opts = append(opts, localcluster.WithNodeBinaries())
	}
	if len(missing) == 0 {
		return nil
	}
	// Measured on 2 cores from empty Go caches (docs/benchmarks.md); much
	// less when the Go build cache holds the Kubernetes libraries already,
	// e.g. after `make demo` built bin/ebb.
	about := "up to about 9 minutes on 2 cores"
	if node {
		about = "up to about 9 minutes on 2 cores for the control plane and several more for the node's (kubelet, CoreDNS, metrics-server)"
	}
	what := "control plane"
	if node {
		what = "cluster"
	}
	fmt.Fprintf(out, "Building the local %s (%s) from the Go module proxy into %s:\n"+
		"first run only, %s, then cached.\n", what, strings.Join(missing, ", "), dir, about)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("build the control plane: %w", err)
	}
	logPath := filepath.Join(dir, "build.log")
	log, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("build the control plane: %w", err)
	}
	defer log.Close()
	p := newBuildProgress(out)
	if err := localcluster.BuildTools(ctx, dir, p.show, log, opts...); err != nil {
		return fmt.Errorf("%w (build log: %s)", err, logPath)
	}
	return nil
}

// buildProgress shows a build: on a terminal, one line per binary redrawn
// in place; otherwise a line per binary started and built, and one at
// every tenth of its packages.
type buildProgress struct {
	out      io.Writer
	terminal bool
	shown    int // tenths shown, lines mode
}

func newBuildProgress(out io.Writer) *buildProgress {
	f, ok := out.(*os.File)
	return &buildProgress{out: out, terminal: ok && term.IsTerminal(int(f.Fd()))}
}

func (b *buildProgress) show(p localcluster.BuildProgress) {
	line := buildLine(p)
	if b.terminal {
		end := ""
		if p.Done {
			end = "\n"
		}
		fmt.Fprintf(b.out, "\r\x1b[K%s%s", line, end)
		return
	}
	tenths := 0
	if p.Total > 0 {
		tenths = 10 * p.Compiled / p.Total
	}
	switch {
	case p.Done, p.Compiled == 0:
		b.shown = 0
	case tenths > b.shown:
		b.shown = tenths
	default:
		return
	}
	fmt.Fprintln(b.out, line)
}

// buildLine is one binary's progress, e.g.
//
//	ebb-kube                 [██████░░░░░░░░░░░░░░]  812/2431 packages  1m12s
func buildLine(p localcluster.BuildProgress) string {
	if p.Done {
		return fmt.Sprintf("  %-24s built in %s", p.Binary, p.Elapsed.Round(time.Second))
	}
	f := 0.0
	if p.Total > 0 {
		f = float64(p.Compiled) / float64(p.Total)
	}
	return fmt.Sprintf("  %-24s [%s] %4d/%d packages  %s", p.Binary, bar(f, 20, '█', '░'), p.Compiled, p.Total, p.Elapsed.Round(time.Second))
}
