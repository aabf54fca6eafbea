// SPDX-License-Identifier: Apache-2.0

package helm

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Rendered is a rendered release.
type Rendered struct {
	// CRDs are the chart's crds/ files, in name order.
	CRDs []*unstructured.Unstructured
	// Objects are the rendered templates' objects, in install order.
	Objects []*unstructured.Unstructured
	// Notes is the rendered NOTES.txt.
	Notes string
}

// Load loads the chart folder.
func Load(dir string) (*chart.Chart, error) {
	return loader.Load(dir)
}

// Render renders the chart as release "ebb" in namespace with the values
// (merged over values.yaml, checked against values.schema.json) the way
// `helm template` does, Kubernetes version 1.37.
func Render(c *chart.Chart, namespace string, values map[string]any) (*Rendered, error) {
	caps := chartutil.DefaultCapabilities.Copy()
	caps.KubeVersion = chartutil.KubeVersion{Version: "v1.37.2", Major: "1", Minor: "37"}
	vals, err := chartutil.ToRenderValues(c, values, chartutil.ReleaseOptions{Name: "ebb", Namespace: namespace, IsInstall: true, Revision: 1}, caps)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(c, vals)
	if err != nil {
		return nil, err
	}
	out := &Rendered{}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		body := files[name]
		switch {
		case strings.HasSuffix(name, "NOTES.txt"):
			out.Notes = body
			continue
		case strings.HasPrefix(path.Base(name), "_"), !strings.HasSuffix(name, ".yaml"):
			continue
		}
		objs, err := decode(body)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out.Objects = append(out.Objects, objs...)
	}
	sort.SliceStable(out.Objects, func(i, j int) bool { return kindOrder(out.Objects[i]) < kindOrder(out.Objects[j]) })
	for _, f := range c.CRDObjects() {
		objs, err := decode(string(f.File.Data))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Filename, err)
		}
		out.CRDs = append(out.CRDs, objs...)
	}
	return out, nil
}

// decode splits a YAML stream into objects, skipping empty documents.
func decode(body string) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	r := utilyaml.NewYAMLReader(bufioReader(body))
	for {
		doc, err := r.Read()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		var m map[string]any
		if err := utilyaml.Unmarshal(doc, &m); err != nil {
			return nil, fmt.Errorf("%w\n%s", err, doc)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() == "" || u.GetAPIVersion() == "" {
			return nil, fmt.Errorf("a document without kind or apiVersion:\n%s", doc)
		}
		out = append(out, u)
	}
}

// installOrder is the order objects are applied in, like Helm's.
var installOrder = []string{
	"Namespace", "CustomResourceDefinition", "ServiceAccount", "Secret", "ConfigMap",
	"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Service",
	"Issuer", "Certificate", "Deployment", "PodDisruptionBudget", "APIService",
	"ValidatingWebhookConfiguration", "ServiceMonitor",
}

func kindOrder(u *unstructured.Unstructured) int {
	for i, k := range installOrder {
		if k == u.GetKind() {
			return i
		}
	}
	return len(installOrder)
}

// YAML writes objects as one YAML stream with a source comment per object.
func YAML(objs []*unstructured.Unstructured) ([]byte, error) {
	var b bytes.Buffer
	for _, o := range objs {
		data, err := yaml.Marshal(o.Object)
		if err != nil {
			return nil, err
		}
		b.WriteString("---\n")
		b.Write(data)
	}
	return b.Bytes(), nil
}

func bufioReader(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }
