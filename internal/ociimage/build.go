// SPDX-License-Identifier: Apache-2.0

package ociimage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The OCI annotation keys (image-spec annotations.md) Build sets on the
// manifest and, as labels, in the config.
const (
	AnnotationTitle       = "org.opencontainers.image.title"
	AnnotationDescription = "org.opencontainers.image.description"
	AnnotationVersion     = "org.opencontainers.image.version"
	AnnotationRevision    = "org.opencontainers.image.revision"
	AnnotationSource      = "org.opencontainers.image.source"
	AnnotationLicenses    = "org.opencontainers.image.licenses"
	AnnotationCreated     = "org.opencontainers.image.created"
	// LabelCABundle is the sha256 of the CA bundle in the image, "none"
	// without one: the input that can differ between build machines.
	LabelCABundle = "dev.ebb.image.ca-bundle.sha256"
)

// DefaultSource is the source annotation when Spec.Source is empty.
const DefaultSource = "https://github.com/ebbscale/ebb"

// hostCABundle is the build machine's CA bundle (Debian's path; most
// distributions keep one there).
const hostCABundle = "/etc/ssl/certs/ca-certificates.crt"

// NoCABundle as Spec.CABundle leaves the CA bundle out of the image.
const NoCABundle = "none"

// Spec says what image to build.
type Spec struct {
	// Dir is the directory go build and git run in: the module's root or a
	// directory inside it. Empty means the current directory.
	Dir string
	// Package is the main package, relative to Dir ("./cmd/ebb-operator")
	// or an import path.
	Package string
	// Ref names the image: "ghcr.io/ebbscale/ebb-operator:v0.3.0". It goes
	// into the layout's index (the name ctr import gives the image) and is
	// where Push pushes by default.
	Ref string
	// Version is the version annotation and label; empty means Ref's tag.
	Version string
	// LinkerX are -X flags for the linker, e.g. {"main.version": "v0.3.0"}.
	LinkerX map[string]string
	// Title and Description are annotations; Title defaults to the
	// package's last path element.
	Title, Description string
	// Source is the source annotation; empty means DefaultSource.
	Source string
	// Revision is the revision annotation; empty means git's HEAD in Dir.
	Revision string
	// Created is the time of every timestamp in the image; zero means
	// SourceDateEpoch(Dir).
	Created time.Time
	// Arch is the GOARCH and the image's architecture; empty means the
	// build machine's.
	Arch string
	// CABundle is the PEM file put at /etc/ssl/certs/ca-certificates.crt.
	// Empty means the build machine's /etc/ssl/certs/ca-certificates.crt
	// when it exists; NoCABundle leaves it out.
	CABundle string
	// Args is the image's Cmd: arguments after the entrypoint.
	Args []string
}

// Image is a built image and the reference it is known by.
type Image struct {
	// Ref is the normalized reference: a registry, a repository and a tag
	// or digest ("docker.io/library/x:1", not "x:1").
	Ref   string
	Image v1.Image
	// Platform is the image's os and architecture.
	Platform v1.Platform
}

// Digest is the manifest's digest, "sha256:...".
func (i Image) Digest() (string, error) {
	h, err := i.Image.Digest()
	if err != nil {
		return "", err
	}
	return h.String(), nil
}

// Build compiles spec.Package and returns the image: a base layer (users,
// /tmp, /home/nonroot, CA bundle) and a layer with the binary at
// /<last element of the package path>, the entrypoint; it runs as
// 65532:65532 in /home/nonroot. Building the same spec twice gives the same
// digest.
func Build(ctx context.Context, spec Spec) (Image, error) {
	if spec.Package == "" {
		return Image{}, errors.New("ociimage: Spec.Package is empty")
	}
	ref, err := NormalizeRef(spec.Ref)
	if err != nil {
		return Image{}, err
	}
	if strings.Contains(ref, "@") {
		return Image{}, fmt.Errorf("ociimage: image reference %q: name the image by tag; its digest is known only once it is built", spec.Ref)
	}
	dir := spec.Dir
	if dir == "" {
		dir = "."
	}
	arch := spec.Arch
	if arch == "" {
		arch = runtime.GOARCH
	}
	created := spec.Created
	if created.IsZero() {
		if created, err = SourceDateEpoch(ctx, dir); err != nil {
			return Image{}, err
		}
	}
	created = created.UTC().Truncate(time.Second)
	version := spec.Version
	if version == "" {
		if t, err := name.NewTag(ref); err == nil {
			version = t.TagStr()
		}
	}
	revision := spec.Revision
	if revision == "" {
		revision = gitRevision(ctx, dir)
	}
	source := spec.Source
	if source == "" {
		source = DefaultSource
	}
	bin := path.Base(strings.TrimSuffix(spec.Package, "/"))
	title := spec.Title
	if title == "" {
		title = bin
	}
	ca, err := readCABundle(spec.CABundle)
	if err != nil {
		return Image{}, err
	}

	exe, err := goBuild(ctx, dir, spec.Package, arch, spec.LinkerX)
	if err != nil {
		return Image{}, err
	}

	anns := map[string]string{
		AnnotationTitle:    title,
		AnnotationVersion:  version,
		AnnotationRevision: revision,
		AnnotationSource:   source,
		AnnotationLicenses: "Apache-2.0",
		AnnotationCreated:  created.Format(time.RFC3339),
	}
	if spec.Description != "" {
		anns[AnnotationDescription] = spec.Description
	}
	for k, v := range anns {
		if v == "" {
			delete(anns, k)
		}
	}
	labels := make(map[string]string, len(anns)+1)
	for k, v := range anns {
		labels[k] = v
	}
	labels[LabelCABundle] = NoCABundle
	if ca != nil {
		sum := sha256.Sum256(ca)
		labels[LabelCABundle] = hex.EncodeToString(sum[:])
	}

	base, err := newLayer(baseFiles(ca), created)
	if err != nil {
		return Image{}, fmt.Errorf("ociimage: base layer: %w", err)
	}
	app, err := newLayer([]file{{name: bin, mode: 0o755, data: exe}}, created)
	if err != nil {
		return Image{}, fmt.Errorf("ociimage: binary layer: %w", err)
	}
	when := v1.Time{Time: created}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, History: v1.History{Created: when, CreatedBy: "ebb ociimage: base (users, /tmp, CA bundle)"}},
		mutate.Addendum{Layer: app, History: v1.History{Created: when, CreatedBy: "ebb ociimage: go build " + spec.Package}},
	)
	if err != nil {
		return Image{}, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return Image{}, err
	}
	cf = cf.DeepCopy()
	cf.Created = when
	cf.OS = "linux"
	cf.Architecture = arch
	cf.Config = v1.Config{
		Entrypoint: []string{"/" + bin},
		Cmd:        spec.Args,
		User:       fmt.Sprintf("%d:%d", NonRootUID, NonRootUID),
		WorkingDir: "/home/nonroot",
		Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
		Labels:     labels,
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return Image{}, err
	}
	img = mutate.Annotations(img, anns).(v1.Image)
	return Image{Ref: ref, Image: img, Platform: v1.Platform{OS: "linux", Architecture: arch}}, nil
}

// NormalizeRef returns ref with its registry and repository spelled out
// the way containerd and the kubelet name images: "busybox:1" is
// "docker.io/library/busybox:1". A reference without tag or digest gets
// ":latest".
func NormalizeRef(ref string) (string, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", fmt.Errorf("ociimage: image reference %q: %w", ref, err)
	}
	reg := r.Context().RegistryStr()
	if reg == name.DefaultRegistry {
		reg = "docker.io"
	}
	repo := reg + "/" + r.Context().RepositoryStr()
	if d, ok := r.(name.Digest); ok {
		return repo + "@" + d.DigestStr(), nil
	}
	return repo + ":" + r.Identifier(), nil
}

func readCABundle(p string) ([]byte, error) {
	switch p {
	case NoCABundle:
		return nil, nil
	case "":
		b, err := os.ReadFile(hostCABundle)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return b, err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("ociimage: CA bundle: %w", err)
	}
	return b, nil
}
