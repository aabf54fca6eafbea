// SPDX-License-Identifier: Apache-2.0

package ociimage

import "context"

// PauseRef is the pause image's name: the node's containerd uses it as
// sandbox_image. It is never pulled (ebb.local is not a registry); import
// the tar PauseSpec builds first.
const PauseRef = "ebb.local/pause:3.10"

// PausePackage is the pause image's main package.
const PausePackage = "github.com/ebbscale/ebb/internal/ociimage/pause"

// PauseSpec is the pause image built from the module at dir.
func PauseSpec(dir string) Spec {
	return Spec{
		Dir:         dir,
		Package:     PausePackage,
		Ref:         PauseRef,
		Title:       "pause",
		Description: "Ebb's pod sandbox process: holds the namespaces, reaps zombies, exits on SIGTERM.",
	}
}

// OperatorSpec is the ebb-operator image built from the module at dir,
// with main.version set to version.
func OperatorSpec(dir, ref, version string) Spec {
	return Spec{
		Dir:         dir,
		Package:     "./cmd/ebb-operator",
		Ref:         ref,
		Version:     version,
		LinkerX:     map[string]string{"main.version": version},
		Description: "Ebb's operator: the ScaledObject controller, the external metrics adapter and the admission webhook.",
	}
}

// InterceptorSpec is the ebb-interceptor image built from the module at
// dir.
func InterceptorSpec(dir, ref, version string) Spec {
	return Spec{
		Dir:         dir,
		Package:     "./cmd/ebb-interceptor",
		Ref:         ref,
		Version:     version,
		Description: "Ebb's HTTP interceptor: counts requests per route and holds them while a backend scales from zero.",
	}
}

// BuildAll builds specs in order (go build shares its cache between them).
func BuildAll(ctx context.Context, specs ...Spec) ([]Image, error) {
	imgs := make([]Image, 0, len(specs))
	for _, s := range specs {
		img, err := Build(ctx, s)
		if err != nil {
			return nil, err
		}
		imgs = append(imgs, img)
	}
	return imgs, nil
}
