// SPDX-License-Identifier: Apache-2.0

package localcluster

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestReadBuildOutputCountsCompiledPackagesPerBinary(t *testing.T) {
	out := strings.Join([]string{
		"ebb-tools: building etcd (first run only)",
		"ebb-tools: packages etcd 3",
		"go.etcd.io/etcd/api/v3/version",
		"net/http", // standard library: not counted
		"go.etcd.io/etcd/server/v3",
		"ebb-tools: built etcd in 30 s",
		"go: downloading k8s.io/api v0.37.2",
		"ebb-tools: packages kube-apiserver 2",
		"k8s.io/apiserver/pkg/server",
	}, "\n")
	clock := time.Unix(0, 0)
	now := func() time.Time { clock = clock.Add(time.Second); return clock }
	var got []BuildProgress
	var log bytes.Buffer
	readBuildOutput(strings.NewReader(out), func(p BuildProgress) { got = append(got, p) }, &log, now)

	want := []BuildProgress{
		{Binary: "etcd", Total: 3},
		{Binary: "etcd", Total: 3, Compiled: 1, Elapsed: time.Second},
		{Binary: "etcd", Total: 3, Compiled: 2, Elapsed: 2 * time.Second},
		{Binary: "etcd", Total: 3, Compiled: 2, Elapsed: 3 * time.Second, Done: true},
		{Binary: "kube-apiserver", Total: 2},
		{Binary: "kube-apiserver", Total: 2, Compiled: 1, Elapsed: time.Second},
	}
	if len(got) != len(want) {
		t.Fatalf("progress calls = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("progress call %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, line := range []string{"building etcd", "go: downloading k8s.io/api", "net/http"} {
		if !strings.Contains(log.String(), line) {
			t.Errorf("the log lacks %q:\n%s", line, log.String())
		}
	}
	if strings.Contains(log.String(), "k8s.io/apiserver/pkg/server") {
		t.Errorf("package names went to the log:\n%s", log.String())
	}
}

func TestBuildEnvAsksForTheNodeBinariesOnlyWithWithNodeBinaries(t *testing.T) {
	base := []string{"PATH=/usr/bin", "EBB_TOOLS_NODE=1", "EBB_TOOLS_PROGRESS=0", "HOME=/root"}
	for name, tc := range map[string]struct {
		opts []BuildOption
		want []string
	}{
		"the default builds the control plane's binaries only": {
			want: []string{"PATH=/usr/bin", "HOME=/root", "EBB_TOOLS_PROGRESS=1"},
		},
		"WithNodeBinaries builds the node's too": {
			opts: []BuildOption{WithNodeBinaries()},
			want: []string{"PATH=/usr/bin", "HOME=/root", "EBB_TOOLS_PROGRESS=1", "EBB_TOOLS_NODE=1"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			var o buildOptions
			for _, opt := range tc.opts {
				opt(&o)
			}
			got := buildEnv(base, o)
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("buildEnv = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestBuildToolsBuildsWhatIsMissing runs the real build script into a new
// folder holding the control plane (links to the cached one) but not
// controller-gen: BuildTools builds controller-gen (from the Go build cache,
// as `make tools` left it), reports it, and leaves the control plane alone.
func TestBuildToolsBuildsWhatIsMissing(t *testing.T) {
	src := ToolsDir()
	if missing := MissingBinaries(src); len(missing) > 0 {
		t.Fatalf("the tools folder %s lacks %v: run `make tools`", src, missing)
	}
	dir := t.TempDir()
	for _, name := range Binaries {
		if err := os.Symlink(filepath.Join(src, name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	var steps []BuildProgress
	var log bytes.Buffer
	if err := BuildTools(t.Context(), dir, func(p BuildProgress) { steps = append(steps, p) }, &log); err != nil {
		t.Fatalf("BuildTools: %v\n%s", err, log.String())
	}
	if !isExecutable(filepath.Join(dir, "controller-gen")) {
		t.Fatalf("after BuildTools, %s has no controller-gen", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "ebb-kube")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("BuildTools built ebb-kube (stat: %v), though etcd, kube-apiserver and kube-controller-manager were there", err)
	}
	if len(steps) < 2 {
		t.Fatalf("progress = %+v, want at least a start and a finish", steps)
	}
	first, last := steps[0], steps[len(steps)-1]
	if first.Binary != "controller-gen" || first.Total < 100 || first.Done {
		t.Errorf("first progress = %+v, want controller-gen with its packages counted (over 100)", first)
	}
	if last.Binary != "controller-gen" || !last.Done || last.Compiled > last.Total {
		t.Errorf("last progress = %+v, want controller-gen done with at most its packages compiled", last)
	}
}
