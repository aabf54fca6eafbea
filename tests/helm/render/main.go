// SPDX-License-Identifier: Apache-2.0

// Command render writes Ebb's chart rendered with the given values files as
// one YAML stream (CRDs first): `make manifests` makes deploy/manifests with
// it.
//
//	go run ./tests/helm/render -chart deploy/helm/ebb -namespace ebb-system -f values.yaml -o out.yaml
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/ebbscale/ebb/tests/helm"
)

type files []string

func (f *files) String() string     { return strings.Join(*f, ",") }
func (f *files) Set(v string) error { *f = append(*f, v); return nil }

func main() {
	var valueFiles files
	chartDir := flag.String("chart", "deploy/helm/ebb", "the chart folder")
	namespace := flag.String("namespace", "ebb-system", "the release namespace")
	out := flag.String("o", "", "output file; stdout when empty")
	header := flag.String("header", "", "a comment put at the top of the output")
	flag.Var(&valueFiles, "f", "a values file (repeatable, later ones win)")
	flag.Parse()
	if err := run(*chartDir, *namespace, valueFiles, *out, *header); err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
}

func run(chartDir, namespace string, valueFiles []string, out, header string) error {
	c, err := helm.Load(chartDir)
	if err != nil {
		return err
	}
	values := map[string]any{}
	for _, f := range valueFiles {
		v, err := chartutil.ReadValuesFile(f)
		if err != nil {
			return err
		}
		values = chartutil.CoalesceTables(v.AsMap(), values)
	}
	r, err := helm.Render(c, namespace, values)
	if err != nil {
		return err
	}
	data, err := helm.YAML(append(r.CRDs, r.Objects...))
	if err != nil {
		return err
	}
	if header != "" {
		data = append([]byte("# "+strings.ReplaceAll(header, "\n", "\n# ")+"\n"), data...)
	}
	if out == "" {
		_, err = os.Stdout.Write(data)
		return err
	}
	return os.WriteFile(out, data, 0o644)
}
