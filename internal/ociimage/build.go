// SPDX-License-Identifier: Apache-2.0

package ociimage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
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
	s, err := resolve(ctx, spec)
	if err != nil {
		return Image{}, err
	}
	ca, err := readCABundle(s.CABundle)
	if err != nil {
		return Image{}, err
	}
	exe, err := goBuild(ctx, s.Dir, s.Package, s.Arch, s.LinkerX)
	if err != nil {
		return Image{}, err
	}
	img, err := assemble(s, ca, exe)
	if err != nil {
		return Image{}, err
	}
	return Image{Ref: s.Ref, Image: img, Platform: v1.Platform{OS: "linux", Architecture: s.Arch}}, nil
}

// resolve checks spec and fills in its defaults; Ref comes back
// normalized.
func resolve(ctx context.Context, spec Spec) (Spec, error) {
	if spec.Package == "" {
		return spec, errors.New("ociimage: Spec.Package is empty")
	}
	ref, err := NormalizeRef(spec.Ref)
	if err != nil {
		return spec, err
	}
	if strings.Contains(ref, "@") {
		return spec, fmt.Errorf("ociimage: image reference %q: name the image by tag; its digest is known only once it is built", spec.Ref)
	}
	spec.Ref = ref
	if spec.Dir == "" {
		spec.Dir = "."
	}
	if spec.Arch == "" {
		spec.Arch = runtime.GOARCH
	}
	if spec.Created.IsZero() {
		if spec.Created, err = SourceDateEpoch(ctx, spec.Dir); err != nil {
			return spec, err
		}
	}
	spec.Created = spec.Created.UTC().Truncate(time.Second)
	if spec.Version == "" {
		if t, err := name.NewTag(ref); err == nil {
			spec.Version = t.TagStr()
		}
	}
	if spec.Revision == "" {
		spec.Revision = gitRevision(ctx, spec.Dir)
	}
	if spec.Source == "" {
		spec.Source = DefaultSource
	}
	if spec.Title == "" {
		spec.Title = binaryName(spec.Package)
	}
	return spec, nil
}

// binaryName is the binary's name in the image: the package path's last
// element.
func binaryName(pkg string) string {
	return path.Base(strings.TrimSuffix(pkg, "/"))
}

// annotations are the OCI annotations of the image s describes; empty
// values are left out.
func annotations(s Spec) map[string]string {
	anns := map[string]string{
		AnnotationTitle:       s.Title,
		AnnotationDescription: s.Description,
		AnnotationVersion:     s.Version,
		AnnotationRevision:    s.Revision,
		AnnotationSource:      s.Source,
		AnnotationLicenses:    "Apache-2.0",
		AnnotationCreated:     s.Created.Format(time.RFC3339),
	}
	for k, v := range anns {
		if v == "" {
			delete(anns, k)
		}
	}
	return anns
}

// assemble puts the base layer (with ca when not nil) and the binary exe
// into an OCI image for the resolved spec s.
func assemble(s Spec, ca, exe []byte) (v1.Image, error) {
	bin := binaryName(s.Package)
	base, err := newLayer(baseFiles(ca), s.Created)
	if err != nil {
		return nil, fmt.Errorf("ociimage: base layer: %w", err)
	}
	app, err := newLayer([]file{{name: bin, mode: 0o755, data: exe}}, s.Created)
	if err != nil {
		return nil, fmt.Errorf("ociimage: binary layer: %w", err)
	}
	when := v1.Time{Time: s.Created}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, History: v1.History{Created: when, CreatedBy: "ebb ociimage: base (users, /tmp, CA bundle)"}},
		mutate.Addendum{Layer: app, History: v1.History{Created: when, CreatedBy: "ebb ociimage: go build " + s.Package}},
	)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	anns := annotations(s)
	labels := maps.Clone(anns)
	labels[LabelCABundle] = NoCABundle
	if ca != nil {
		sum := sha256.Sum256(ca)
		labels[LabelCABundle] = hex.EncodeToString(sum[:])
	}
	cf = cf.DeepCopy()
	cf.Created = when
	cf.OS = "linux"
	cf.Architecture = s.Arch
	cf.Config = v1.Config{
		Entrypoint: []string{"/" + bin},
		Cmd:        s.Args,
		User:       fmt.Sprintf("%d:%d", NonRootUID, NonRootUID),
		WorkingDir: "/home/nonroot",
		Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
		Labels:     labels,
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, err
	}
	return mutate.Annotations(img, anns).(v1.Image), nil
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
