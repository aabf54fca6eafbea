// SPDX-License-Identifier: Apache-2.0

package localcluster

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// KubeVersion is the Kubernetes version of the binaries the tools cache holds.
const KubeVersion = "v1.37.2"

const modulePath = "github.com/ebbscale/ebb"

// ToolsDir is the folder holding etcd, kube-apiserver and
// kube-controller-manager: $KUBEBUILDER_ASSETS, else $EBB_TOOLS_DIR, else
// $XDG_CACHE_HOME/ebb/tools-v1.37.2 (~/.cache when XDG_CACHE_HOME is unset),
// as the Makefile has it.
func ToolsDir() string {
	for _, env := range []string{"KUBEBUILDER_ASSETS", "EBB_TOOLS_DIR"} {
		if d := os.Getenv(env); d != "" {
			return d
		}
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = os.TempDir()
		}
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "ebb", "tools-"+KubeVersion)
}

// findBinaries returns the paths of the named binaries in dir, or an error
// that names the missing ones and says how to build them.
func findBinaries(dir string, names ...string) (map[string]string, error) {
	paths := make(map[string]string, len(names))
	var missing []string
	for _, n := range names {
		p := filepath.Join(dir, n)
		if !isExecutable(p) {
			missing = append(missing, n)
			continue
		}
		paths[n] = p
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("control plane binaries %s not found in %s: run `make tools` "+
			"(it builds them from the Go module proxy, about 7 minutes the first time, then cached), "+
			"or point KUBEBUILDER_ASSETS or EBB_TOOLS_DIR at a folder that holds them",
			strings.Join(missing, ", "), dir)
	}
	return paths, nil
}

// RepoRoot is the root of the Ebb repository: found from this source file's
// location, else by walking up from the working directory to the go.mod of
// module github.com/ebbscale/ebb.
func RepoRoot() (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		root := filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
		if isRepoRoot(root) {
			return root, nil
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find the repository root: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if isRepoRoot(dir) {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			break
		}
	}
	return "", errors.New("find the repository root: no go.mod of module " + modulePath +
		" above " + wd + "; run from inside the repository")
}

func isRepoRoot(dir string) bool {
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if fields := strings.Fields(s.Text()); len(fields) == 2 && fields[0] == "module" {
			return fields[1] == modulePath
		}
	}
	return false
}

// CRDDir is deploy/crds of the repository.
func CRDDir() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "deploy", "crds"), nil
}
