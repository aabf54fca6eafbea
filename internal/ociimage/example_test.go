// SPDX-License-Identifier: Apache-2.0

package ociimage_test

import (
	"context"
	"fmt"

	"github.com/ebbscale/ebb/internal/ociimage"
)

// Build the operator's image from the repository's root, write it as a tar
// that `ctr -n k8s.io images import` reads, and push it.
func Example() {
	ctx := context.Background()
	img, err := ociimage.Build(ctx, ociimage.OperatorSpec("../..", "localhost:5000/ebb-operator:dev", "dev"))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := ociimage.WriteLayout("/tmp/ebb-operator.tar", img); err != nil {
		fmt.Println(err)
		return
	}
	pushed, err := ociimage.Push(ctx, img, "", ociimage.PushOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(pushed) // localhost:5000/ebb-operator@sha256:...
}

// One tar can hold several images: the pause image and the operator's, for
// a node that imports both at once.
func ExampleWriteLayout() {
	ctx := context.Background()
	imgs, err := ociimage.BuildAll(ctx,
		ociimage.PauseSpec("../.."),
		ociimage.OperatorSpec("../..", "ghcr.io/ebbscale/ebb-operator:dev", "dev"))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := ociimage.WriteLayout("/tmp/node-images.tar", imgs...); err != nil {
		fmt.Println(err)
	}
}
