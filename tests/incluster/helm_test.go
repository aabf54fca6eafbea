// SPDX-License-Identifier: Apache-2.0

package incluster_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/releaseutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/yaml"

	"github.com/ebbscale/ebb/internal/localcluster"
)

// The release the suite installs.
const (
	releaseName      = "ebb"
	releaseNamespace = "ebb-system"
	// helmTimeout bounds an install's or upgrade's wait for the
	// Deployments to be available, and an uninstall's for the objects to go.
	helmTimeout = 4 * time.Minute
)

// helmClient runs Helm actions against the cluster of a kubeconfig, as the
// helm CLI does, with the release stored in Secrets of releaseNamespace.
type helmClient struct {
	cfg   *action.Configuration
	chart *chart.Chart
	logf  func(format string, args ...any)
}

// Its discovery cache lives in cacheDir, not in ~/.kube/cache: every run
// is a new cluster, possibly at the same address.
func newHelmClient(kubeconfig, cacheDir string, logf func(string, ...any)) (*helmClient, error) {
	root, err := localcluster.RepoRoot()
	if err != nil {
		return nil, err
	}
	ch, err := loader.Load(filepath.Join(root, "deploy", "helm", "ebb"))
	if err != nil {
		return nil, fmt.Errorf("load the chart: %w", err)
	}
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig = &kubeconfig
	flags.CacheDir = &cacheDir
	ns := releaseNamespace
	flags.Namespace = &ns
	cfg := new(action.Configuration)
	if err := cfg.Init(flags, releaseNamespace, "secret", action.DebugLog(logf)); err != nil {
		return nil, fmt.Errorf("helm configuration: %w", err)
	}
	return &helmClient{cfg: cfg, chart: ch, logf: logf}, nil
}

// install is `helm install ebb deploy/helm/ebb -n ebb-system
// --create-namespace --wait`.
func (h *helmClient) install(ctx context.Context, values map[string]any) (*release.Release, error) {
	in := action.NewInstall(h.cfg)
	in.ReleaseName, in.Namespace = releaseName, releaseNamespace
	in.CreateNamespace = true
	in.Wait, in.Timeout = true, helmTimeout
	rel, err := in.RunWithContext(ctx, h.chart, values)
	if err != nil {
		return nil, fmt.Errorf("helm install: %w", err)
	}
	return rel, nil
}

// upgrade is `helm upgrade ebb deploy/helm/ebb -n ebb-system --wait` with
// values (not reusing the last release's).
func (h *helmClient) upgrade(ctx context.Context, values map[string]any) (*release.Release, error) {
	up := action.NewUpgrade(h.cfg)
	up.Namespace = releaseNamespace
	up.Wait, up.Timeout = true, helmTimeout
	rel, err := up.RunWithContext(ctx, releaseName, h.chart, values)
	if err != nil {
		return nil, fmt.Errorf("helm upgrade: %w", err)
	}
	return rel, nil
}

// uninstall is `helm uninstall ebb -n ebb-system --wait`.
func (h *helmClient) uninstall() error {
	un := action.NewUninstall(h.cfg)
	un.Wait, un.Timeout = true, helmTimeout
	if _, err := un.Run(releaseName); err != nil {
		return fmt.Errorf("helm uninstall: %w", err)
	}
	return nil
}

// manifestObjects are the objects of a release's manifest (its rendered
// templates; the chart's crds/ are not part of it).
func manifestObjects(rel *release.Release) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for name, doc := range releaseutil.SplitManifests(rel.Manifest) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	return out, nil
}

// chartValues are the suite's values: the local images (never pulled), two
// operator replicas with leader election, the webhook, the adapter, and one
// interceptor replica; the HPA sync period is the cluster's (1 s).
func chartValues(operatorRef, interceptorRef string) (map[string]any, error) {
	opRepo, opTag, err := splitRef(operatorRef)
	if err != nil {
		return nil, err
	}
	icRepo, icTag, err := splitRef(interceptorRef)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"image":          map[string]any{"repository": opRepo, "tag": opTag, "pullPolicy": "Never"},
		"replicaCount":   2,
		"leaderElection": true,
		"hpaSyncPeriod":  "1s",
		"resources":      map[string]any{"requests": map[string]any{"cpu": "50m", "memory": "64Mi"}},
		"webhook":        map[string]any{"enabled": true},
		"adapter":        map[string]any{"enabled": true},
		"interceptor": map[string]any{
			"enabled":      true,
			"image":        map[string]any{"repository": icRepo, "tag": icTag, "pullPolicy": "Never"},
			"replicaCount": 1,
			"holdTimeout":  "2m",
			"resources":    map[string]any{"requests": map[string]any{"cpu": "50m", "memory": "32Mi"}},
		},
	}, nil
}

// splitRef splits "ebb.local/ebb-operator:test" into repository and tag.
func splitRef(ref string) (repo, tag string, err error) {
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i:], "/") {
		return "", "", fmt.Errorf("image reference %q has no tag", ref)
	}
	return ref[:i], ref[i+1:], nil
}
