// SPDX-License-Identifier: Apache-2.0

// Command image builds Ebb's container images without a Docker daemon
// (internal/ociimage) and writes each as an OCI image layout tar:
//
//	bin/images/ebb-operator.tar     <image>:<version>
//	bin/images/ebb-interceptor.tar  <interceptor-image>:<version>
//	bin/images/pause.tar            ebb.local/pause:3.10 (the test node's sandbox image)
//
// With -push (or -registry) it also pushes the operator and interceptor
// images. make image runs it:
//
//	go run ./hack/image -version v0.3.0
//	go run ./hack/image -registry registry.example.com/ebb -version v0.3.0
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ebbscale/ebb/internal/ociimage"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

// options are the command's flags.
type options struct {
	out, dir              string
	operator, interceptor string
	version, registry     string
	push, insecure        bool
}

// job is one image to build, write to file and maybe push.
type job struct {
	file string
	spec ociimage.Spec
	push bool
}

func parse(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.StringVar(&o.out, "out", "bin/images", "directory the image tars are written to")
	fs.StringVar(&o.dir, "dir", ".", "the module's root")
	fs.StringVar(&o.operator, "image", "ghcr.io/ebbscale/ebb-operator", "the operator image's repository")
	fs.StringVar(&o.interceptor, "interceptor-image", "ghcr.io/ebbscale/ebb-interceptor", "the interceptor image's repository")
	fs.StringVar(&o.version, "version", "dev", "the images' tag and version (the operator's main.version)")
	fs.StringVar(&o.registry, "registry", "", "push to <registry>/ebb-operator and <registry>/ebb-interceptor (implies -push; overrides -image and -interceptor-image)")
	fs.BoolVar(&o.push, "push", false, "push the operator and interceptor images after writing the tars")
	fs.BoolVar(&o.insecure, "insecure", false, "push over plain HTTP")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return o, nil
}

// plan is what the options ask for: the operator, the interceptor and the
// pause image, the first two pushed when asked.
func plan(o options) []job {
	operator, interceptor, push := o.operator, o.interceptor, o.push
	if o.registry != "" {
		r := strings.TrimSuffix(o.registry, "/")
		operator, interceptor, push = r+"/ebb-operator", r+"/ebb-interceptor", true
	}
	return []job{
		{"ebb-operator.tar", ociimage.OperatorSpec(o.dir, operator+":"+o.version, o.version), push},
		{"ebb-interceptor.tar", ociimage.InterceptorSpec(o.dir, interceptor+":"+o.version, o.version), push},
		{"pause.tar", ociimage.PauseSpec(o.dir), false},
	}
}

func run(ctx context.Context, args []string) error {
	o, err := parse(args)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	for _, j := range plan(o) {
		start := time.Now()
		img, err := ociimage.Build(ctx, j.spec)
		if err != nil {
			return err
		}
		path := filepath.Join(o.out, j.file)
		if err := ociimage.WriteLayout(path, img); err != nil {
			return err
		}
		digest, err := img.Digest()
		if err != nil {
			return err
		}
		fmt.Printf("%s  %s  %s  (%.1fs)\n", path, img.Ref, digest, time.Since(start).Seconds())
		if j.push {
			pushed, err := ociimage.Push(ctx, img, "", ociimage.PushOptions{Insecure: o.insecure})
			if err != nil {
				return err
			}
			fmt.Printf("pushed %s\n", pushed)
		}
	}
	return nil
}
