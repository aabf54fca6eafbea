// SPDX-License-Identifier: Apache-2.0

package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ebbscale/ebb/internal/localcluster"
	"github.com/ebbscale/ebb/internal/ociimage"
)

// Cluster is a control plane with a real node.
type Cluster struct {
	*localcluster.ControlPlane
	// imageDir holds the layout tarballs of the images built.
	imageDir string
}

// New starts a cluster whose data lives under dir: it builds the pause
// image, starts the control plane and the node, and waits for the node to
// be Ready. The caller must Stop it.
func New(ctx context.Context, dir string) (*Cluster, error) {
	root, err := localcluster.RepoRoot()
	if err != nil {
		return nil, err
	}
	imageDir := filepath.Join(dir, "images")
	if err := os.MkdirAll(imageDir, 0o755); err != nil {
		return nil, err
	}
	pauseTar, err := buildImage(ctx, imageDir, ociimage.PauseSpec(root))
	if err != nil {
		return nil, err
	}
	cp, err := localcluster.New(ctx, localcluster.Options{
		Dir:  filepath.Join(dir, "controlplane"),
		Node: &localcluster.NodeOptions{PauseImage: ociimage.PauseRef, PauseImageTar: pauseTar},
	})
	if err != nil {
		return nil, err
	}
	return &Cluster{ControlPlane: cp, imageDir: imageDir}, nil
}

// Start starts a cluster for a test and stops it when the test ends,
// printing the tail of its logs first if the test failed.
func Start(t testing.TB) *Cluster {
	t.Helper()
	c, err := New(t.Context(), t.TempDir())
	if err != nil {
		t.Fatalf("start the cluster: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("cluster logs:\n%s", c.Logs(60))
		}
		if err := c.Stop(); err != nil {
			t.Errorf("stop the cluster: %v\n%s", err, c.Logs(30))
		}
	})
	return c
}

// LoadImage builds the image of spec (a main package of this repository,
// Spec.Dir defaulting to its root) and imports it into the node, where pods
// that name spec.Ref run it without a registry. It returns the image's
// normalized reference.
func (c *Cluster) LoadImage(ctx context.Context, spec ociimage.Spec) (string, error) {
	if spec.Dir == "" {
		root, err := localcluster.RepoRoot()
		if err != nil {
			return "", err
		}
		spec.Dir = root
	}
	tar, err := buildImage(ctx, c.imageDir, spec)
	if err != nil {
		return "", err
	}
	if err := c.Node.ImportImage(ctx, tar); err != nil {
		return "", err
	}
	return ociimage.NormalizeRef(spec.Ref)
}

// buildImage builds spec into a layout tarball in dir and returns its path.
func buildImage(ctx context.Context, dir string, spec ociimage.Spec) (string, error) {
	img, err := ociimage.Build(ctx, spec)
	if err != nil {
		return "", fmt.Errorf("build the image %s: %w", spec.Ref, err)
	}
	path := filepath.Join(dir, filepath.Base(spec.Package)+".tar")
	if err := ociimage.WriteLayout(path, img); err != nil {
		return "", fmt.Errorf("write the image %s: %w", spec.Ref, err)
	}
	return path, nil
}

// WaitFor polls cond every 200 ms until it holds, failing the test after
// timeout with what and cond's last word.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s: %s", timeout, what, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
