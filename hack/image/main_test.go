// SPDX-License-Identifier: Apache-2.0

package main

import (
	"testing"

	"github.com/ebbscale/ebb/internal/ociimage"
)

func TestPlan(t *testing.T) {
	type want struct {
		file, ref, pkg string
		push           bool
	}
	for _, c := range []struct {
		name string
		args []string
		want []want
	}{
		{"by default: the ghcr.io names, tagged dev, nothing pushed", nil, []want{
			{"ebb-operator.tar", "ghcr.io/ebbscale/ebb-operator:dev", "./cmd/ebb-operator", false},
			{"ebb-interceptor.tar", "ghcr.io/ebbscale/ebb-interceptor:dev", "./cmd/ebb-interceptor", false},
			{"pause.tar", ociimage.PauseRef, ociimage.PausePackage, false},
		}},
		{"-push pushes the operator and the interceptor to -image and -interceptor-image",
			[]string{"-image", "r.example/o", "-interceptor-image", "r.example/i", "-version", "v1", "-push"}, []want{
				{"ebb-operator.tar", "r.example/o:v1", "./cmd/ebb-operator", true},
				{"ebb-interceptor.tar", "r.example/i:v1", "./cmd/ebb-interceptor", true},
				{"pause.tar", ociimage.PauseRef, ociimage.PausePackage, false},
			}},
		{"-registry names both images under it and pushes them",
			[]string{"-registry", "localhost:5000/ebb/", "-image", "ignored/o", "-version", "v2"}, []want{
				{"ebb-operator.tar", "localhost:5000/ebb/ebb-operator:v2", "./cmd/ebb-operator", true},
				{"ebb-interceptor.tar", "localhost:5000/ebb/ebb-interceptor:v2", "./cmd/ebb-interceptor", true},
				{"pause.tar", ociimage.PauseRef, ociimage.PausePackage, false},
			}},
	} {
		t.Run(c.name, func(t *testing.T) {
			o, err := parse(c.args)
			if err != nil {
				t.Fatal(err)
			}
			jobs := plan(o)
			if len(jobs) != len(c.want) {
				t.Fatalf("%d jobs, want %d", len(jobs), len(c.want))
			}
			for i, w := range c.want {
				j := jobs[i]
				if j.file != w.file || j.spec.Ref != w.ref || j.spec.Package != w.pkg || j.push != w.push {
					t.Errorf("job %d: %s %s %s push=%v, want %s %s %s push=%v", i, j.file, j.spec.Ref, j.spec.Package, j.push, w.file, w.ref, w.pkg, w.push)
				}
			}
			if v := jobs[0].spec.LinkerX["main.version"]; v != o.version {
				t.Errorf("operator main.version %q, want %q", v, o.version)
			}
		})
	}
	if _, err := parse([]string{"extra"}); err == nil {
		t.Error("a stray argument: no error")
	}
}
