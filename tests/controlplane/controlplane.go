// SPDX-License-Identifier: Apache-2.0

package controlplane

import (
	"context"
	"io"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/ebbscale/ebb/internal/localcluster"
)

// The types of internal/localcluster, under the names the tests use.
type (
	ControlPlane       = localcluster.ControlPlane
	Options            = localcluster.Options
	Option             = localcluster.Option
	LoopbackAPIService = localcluster.LoopbackAPIService
	BuildProgress      = localcluster.BuildProgress
)

// Start starts a control plane for a test and stops it when the test ends,
// printing the tail of its logs first if the test failed. Missing binaries
// fail the test with a message that says to run `make tools`.
func Start(t testing.TB, opts ...Option) *ControlPlane {
	t.Helper()
	o := Options{Dir: t.TempDir()}
	for _, opt := range opts {
		opt(&o)
	}
	cp, err := localcluster.New(t.Context(), o)
	if err != nil {
		t.Fatalf("start the control plane: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("control plane logs (%s):\n%s", cp.Dir, cp.Logs(60))
		}
		if err := cp.Stop(); err != nil {
			t.Errorf("stop the control plane: %v", err)
		}
	})
	return cp
}

// New is localcluster.New: a control plane the caller stops.
func New(ctx context.Context, o Options) (*ControlPlane, error) { return localcluster.New(ctx, o) }

// WithControllerManager is localcluster.WithControllerManager.
func WithControllerManager() Option { return localcluster.WithControllerManager() }

// WithHPASyncPeriod is localcluster.WithHPASyncPeriod.
func WithHPASyncPeriod(d time.Duration) Option { return localcluster.WithHPASyncPeriod(d) }

// WithGarbageCollector is localcluster.WithGarbageCollector.
func WithGarbageCollector() Option { return localcluster.WithGarbageCollector() }

// WithAggregator is localcluster.WithAggregator.
func WithAggregator() Option { return localcluster.WithAggregator() }

// NewScheme is localcluster.NewScheme.
func NewScheme() (*runtime.Scheme, error) { return localcluster.NewScheme() }

// RepoRoot is localcluster.RepoRoot.
func RepoRoot() (string, error) { return localcluster.RepoRoot() }

// CRDDir is localcluster.CRDDir.
func CRDDir() (string, error) { return localcluster.CRDDir() }

// ToolsDir is localcluster.ToolsDir.
func ToolsDir() string { return localcluster.ToolsDir() }

// MissingBinaries is localcluster.MissingBinaries.
func MissingBinaries(dir string) []string { return localcluster.MissingBinaries(dir) }

// BuildTools is localcluster.BuildTools.
func BuildTools(ctx context.Context, dir string, progress func(BuildProgress), log io.Writer) error {
	return localcluster.BuildTools(ctx, dir, progress, log)
}

// Processes is localcluster.Processes.
func Processes(dir string) ([]int, error) { return localcluster.Processes(dir) }
