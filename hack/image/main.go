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

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	out := fs.String("out", "bin/images", "directory the image tars are written to")
	dir := fs.String("dir", ".", "the module's root")
	operator := fs.String("image", "ghcr.io/ebbscale/ebb-operator", "the operator image's repository")
	interceptor := fs.String("interceptor-image", "ghcr.io/ebbscale/ebb-interceptor", "the interceptor image's repository")
	version := fs.String("version", "dev", "the images' tag and version (the operator's main.version)")
	registry := fs.String("registry", "", "push to <registry>/ebb-operator and <registry>/ebb-interceptor (implies -push; overrides -image and -interceptor-image)")
	push := fs.Bool("push", false, "push the operator and interceptor images after writing the tars")
	insecure := fs.Bool("insecure", false, "push over plain HTTP")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *registry != "" {
		r := strings.TrimSuffix(*registry, "/")
		*operator, *interceptor, *push = r+"/ebb-operator", r+"/ebb-interceptor", true
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	builds := []struct {
		file string
		spec ociimage.Spec
		push bool
	}{
		{"ebb-operator.tar", ociimage.OperatorSpec(*dir, *operator+":"+*version, *version), true},
		{"ebb-interceptor.tar", ociimage.InterceptorSpec(*dir, *interceptor+":"+*version, *version), true},
		{"pause.tar", ociimage.PauseSpec(*dir), false},
	}
	for _, b := range builds {
		start := time.Now()
		img, err := ociimage.Build(ctx, b.spec)
		if err != nil {
			return err
		}
		path := filepath.Join(*out, b.file)
		if err := ociimage.WriteLayout(path, img); err != nil {
			return err
		}
		digest, err := img.Digest()
		if err != nil {
			return err
		}
		fmt.Printf("%s  %s  %s  (%.1fs)\n", path, img.Ref, digest, time.Since(start).Seconds())
		if *push && b.push {
			pushed, err := ociimage.Push(ctx, img, "", ociimage.PushOptions{Insecure: *insecure})
			if err != nil {
				return err
			}
			fmt.Printf("pushed %s\n", pushed)
		}
	}
	return nil
}
