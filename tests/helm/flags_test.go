// SPDX-License-Identifier: Apache-2.0

package helm_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ebbscale/ebb/tests/controlplane"
)

// The operator binary accepts the arguments the chart gives it, for the
// defaults and every option: each flag exists and its value parses (the
// trailing -help stops the operator once every argument before it parsed).
func TestTheOperatorAcceptsTheChartsArguments(t *testing.T) {
	c, _ := loadChart(t)
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "ebb-operator")
	build := exec.Command("go", "build", "-o", bin, "./cmd/ebb-operator")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/ebb-operator: %v\n%s", err, out)
	}
	for _, tc := range append([]option{{name: "defaults"}}, options...) {
		t.Run(tc.name, func(t *testing.T) {
			a := args(t, render(t, c, tc.values))
			out, err := exec.Command(bin, append(a, "-help")...).CombinedOutput()
			if err != nil {
				t.Errorf("ebb-operator %v: %v\n%s", a, err, out)
			}
		})
	}
	ibin := filepath.Join(t.TempDir(), "ebb-interceptor")
	build = exec.Command("go", "build", "-o", ibin, "./cmd/ebb-interceptor")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/ebb-interceptor: %v\n%s", err, out)
	}
	for _, values := range []map[string]any{interceptorValues, interceptorFromClusterValues} {
		r := render(t, c, values)
		cs, _, _ := unstructured.NestedSlice(find(t, r, "Deployment", "ebb-interceptor").Object, "spec", "template", "spec", "containers")
		var a []string
		for _, x := range cs[0].(map[string]any)["args"].([]any) {
			a = append(a, x.(string))
		}
		// ebb-interceptor exits 1 on -help, saying so; any other error is a
		// bad argument.
		if out, err := exec.Command(ibin, append(a, "-help")...).CombinedOutput(); err != nil && !strings.Contains(string(out), "ebb-interceptor: flag: help requested") {
			t.Errorf("ebb-interceptor %v: %v\n%s", a, err, out)
		}
	}
}
