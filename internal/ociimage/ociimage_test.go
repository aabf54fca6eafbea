// SPDX-License-Identifier: Apache-2.0

package ociimage_test

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/ebbscale/ebb/internal/ociimage"
)

// epoch is the fixed time of the test images (SOURCE_DATE_EPOCH style).
var epoch = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// helloSpec is a small image: the testdata/hello program, a CA bundle
// from a test file, a fixed epoch.
func helloSpec(t *testing.T) ociimage.Spec {
	t.Helper()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\ntest\n-----END CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return ociimage.Spec{
		Dir:         ".",
		Package:     "./testdata/hello",
		Ref:         "ghcr.io/ebbscale/hello:v1.2.3",
		LinkerX:     map[string]string{"main.version": "v1.2.3"},
		Description: "test image",
		Revision:    "0123456789abcdef0123456789abcdef01234567",
		Created:     epoch,
		CABundle:    ca,
	}
}

func build(t *testing.T, spec ociimage.Spec) ociimage.Image {
	t.Helper()
	img, err := ociimage.Build(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func digest(t *testing.T, img ociimage.Image) string {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestBuildingTwiceGivesTheSameDigestAndTheSameBytes(t *testing.T) {
	spec := helloSpec(t)
	a, b := build(t, spec), build(t, spec)
	if digest(t, a) != digest(t, b) {
		t.Fatalf("digests differ: %s and %s", digest(t, a), digest(t, b))
	}
	dir := t.TempDir()
	pa, pb := filepath.Join(dir, "a.tar"), filepath.Join(dir, "b.tar")
	if err := ociimage.WriteLayout(pa, a); err != nil {
		t.Fatal(err)
	}
	if err := ociimage.WriteLayout(pb, b); err != nil {
		t.Fatal(err)
	}
	ba, _ := os.ReadFile(pa)
	bb, _ := os.ReadFile(pb)
	if len(ba) == 0 || !bytes.Equal(ba, bb) {
		t.Fatalf("layout tars differ (%d and %d bytes)", len(ba), len(bb))
	}

	other := spec
	other.LinkerX = map[string]string{"main.version": "v9"}
	if digest(t, build(t, other)) == digest(t, a) {
		t.Fatal("a different -X value gave the same digest")
	}
}

func TestSourceDateEpochSetsEveryTimestamp(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	spec := helloSpec(t)
	spec.Created = time.Time{}
	img := build(t, spec)
	want := time.Unix(1700000000, 0).UTC()
	cf, err := img.Image.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !cf.Created.Time.Equal(want) {
		t.Errorf("config created %v, want %v", cf.Created.Time, want)
	}
	for _, h := range cf.History {
		if !h.Created.Time.Equal(want) {
			t.Errorf("history %q created %v, want %v", h.CreatedBy, h.Created.Time, want)
		}
	}
	for _, f := range files(t, img) {
		if !f.ModTime.Equal(want) {
			t.Errorf("%s: mtime %v, want %v", f.Name, f.ModTime, want)
		}
	}
	m, _ := img.Image.Manifest()
	if got := m.Annotations[ociimage.AnnotationCreated]; got != "2023-11-14T22:13:20Z" {
		t.Errorf("created annotation %q", got)
	}
}

func TestSourceDateEpochFallsBackToTheCommitTime(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "")
	got, err := ociimage.SourceDateEpoch(context.Background(), ".")
	if err != nil {
		t.Fatal(err)
	}
	// The test runs in a git checkout: its HEAD is after the project began.
	if got.Before(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("epoch %v: not the commit time of HEAD", got)
	}
	got, err = ociimage.SourceDateEpoch(context.Background(), t.TempDir())
	if err != nil || got.Unix() != 0 {
		t.Errorf("outside git: %v, %v; want the Unix epoch", got, err)
	}
	t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
	if _, err := ociimage.SourceDateEpoch(context.Background(), "."); err == nil {
		t.Error("SOURCE_DATE_EPOCH=yesterday: no error")
	}
}

func TestTheImageRunsTheBinaryAsNonroot(t *testing.T) {
	img := build(t, helloSpec(t))
	cf, err := img.Image.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if c.User != "65532:65532" {
		t.Errorf("user %q", c.User)
	}
	if !reflect.DeepEqual(c.Entrypoint, []string{"/hello"}) {
		t.Errorf("entrypoint %q", c.Entrypoint)
	}
	if c.WorkingDir != "/home/nonroot" {
		t.Errorf("working dir %q", c.WorkingDir)
	}
	if !reflect.DeepEqual(c.Env, []string{"PATH=/usr/local/bin:/usr/bin:/bin"}) {
		t.Errorf("env %q", c.Env)
	}
	if cf.OS != "linux" || cf.Architecture == "" {
		t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
	}
	if !cf.Created.Time.Equal(epoch) {
		t.Errorf("created %v, want %v", cf.Created.Time, epoch)
	}
}

func TestTheBinaryIsStaticStrippedAndCarriesTheLinkerFlags(t *testing.T) {
	img := build(t, helloSpec(t))
	exe := filepath.Join(t.TempDir(), "hello")
	if err := os.WriteFile(exe, []byte(content(t, img, "hello")), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has a dynamic loader (PT_INTERP): not static")
		}
	}
	if f.Section(".symtab") != nil {
		t.Error("the binary has a symbol table: not stripped (-s)")
	}
	if f.Section(".note.go.buildid") != nil {
		t.Error("the binary has a Go build ID (-buildid= drops it)")
	}
	if runtime.GOOS != "linux" {
		return
	}
	out, err := exec.Command(exe).Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "version=v1.2.3") {
		t.Errorf("output %q: -X main.version=v1.2.3 not applied", out)
	}
}

func TestAnnotationsAndLabelsFollowTheOCIKeys(t *testing.T) {
	img := build(t, helloSpec(t))
	want := map[string]string{
		"org.opencontainers.image.title":       "hello",
		"org.opencontainers.image.description": "test image",
		"org.opencontainers.image.version":     "v1.2.3",
		"org.opencontainers.image.revision":    "0123456789abcdef0123456789abcdef01234567",
		"org.opencontainers.image.source":      "https://github.com/ebbscale/ebb",
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.created":     "2026-11-30T12:00:00Z",
	}
	m, err := img.Image.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m.Annotations, want) {
		t.Errorf("manifest annotations:\n got %v\nwant %v", m.Annotations, want)
	}
	if m.MediaType != "application/vnd.oci.image.manifest.v1+json" || m.Config.MediaType != "application/vnd.oci.image.config.v1+json" {
		t.Errorf("media types %s, %s", m.MediaType, m.Config.MediaType)
	}
	cf, _ := img.Image.ConfigFile()
	for k, v := range want {
		if cf.Config.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, cf.Config.Labels[k], v)
		}
	}
	if len(cf.Config.Labels[ociimage.LabelCABundle]) != 64 {
		t.Errorf("label %s = %q, want a sha256", ociimage.LabelCABundle, cf.Config.Labels[ociimage.LabelCABundle])
	}
}

func TestTheBaseLayerHasTheUsersTmpAndTheCABundle(t *testing.T) {
	img := build(t, helloSpec(t))
	byName := map[string]*tar.Header{}
	var names []string
	for _, h := range files(t, img) {
		byName[h.Name] = h
		names = append(names, h.Name)
	}
	for _, c := range []struct {
		name     string
		mode     int64
		uid, gid int
	}{
		{"etc/passwd", 0o644, 0, 0},
		{"etc/group", 0o644, 0, 0},
		{"etc/ssl/certs/ca-certificates.crt", 0o644, 0, 0},
		{"tmp/", 0o1777, 0, 0},
		{"home/nonroot/", 0o700, 65532, 65532},
		{"hello", 0o755, 0, 0},
	} {
		h := byName[c.name]
		if h == nil {
			t.Errorf("%s missing; the image has %q", c.name, names)
			continue
		}
		if h.Mode != c.mode || h.Uid != c.uid || h.Gid != c.gid {
			t.Errorf("%s: mode %o uid %d gid %d, want %o %d %d", c.name, h.Mode, h.Uid, h.Gid, c.mode, c.uid, c.gid)
		}
		if h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: user name %q, group name %q", c.name, h.Uname, h.Gname)
		}
	}
	passwd := content(t, img, "etc/passwd")
	if !strings.Contains(passwd, "nonroot:x:65532:65532:") || !strings.HasPrefix(passwd, "root:x:0:0:") {
		t.Errorf("passwd:\n%s", passwd)
	}

	spec := helloSpec(t)
	spec.CABundle = ociimage.NoCABundle
	img = build(t, spec)
	for _, h := range files(t, img) {
		if strings.HasPrefix(h.Name, "etc/ssl") {
			t.Errorf("CABundle none: %s in the image", h.Name)
		}
	}
	cf, _ := img.Image.ConfigFile()
	if got := cf.Config.Labels[ociimage.LabelCABundle]; got != "none" {
		t.Errorf("CABundle none: label %q", got)
	}
}

// The base layer depends only on the epoch and the CA bundle: its
// uncompressed digest is the same on every machine and in every checkout.
func TestTheBaseLayerIsTheSameEverywhere(t *testing.T) {
	spec := helloSpec(t)
	spec.CABundle = ociimage.NoCABundle
	layers, err := build(t, spec).Image.Layers()
	if err != nil {
		t.Fatal(err)
	}
	diffID, err := layers[0].DiffID()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := diffID.String(), "sha256:68dc41e8641f4eee76a29ea3cede94fa4cde5017b949cfc0c967871cea337bf6"; got != want {
		t.Errorf("base layer diff ID %s, want %s: the base layer changed", got, want)
	}
}

func TestTheLayoutTarReadsBackAsOCILayoutAndAsDockerArchive(t *testing.T) {
	img := build(t, helloSpec(t))
	pause := build(t, ociimage.Spec{Dir: ".", Package: ociimage.PausePackage, Ref: ociimage.PauseRef, Created: epoch, CABundle: ociimage.NoCABundle})
	tarPath := filepath.Join(t.TempDir(), "images.tar")
	if err := ociimage.WriteLayout(tarPath, img, pause); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	untar(t, tarPath, dir)
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 2 {
		t.Fatalf("index has %d entries, want 2", len(im.Manifests))
	}
	for i, want := range []struct{ ref, tag string }{
		{"ghcr.io/ebbscale/hello:v1.2.3", "v1.2.3"},
		{"ebb.local/pause:3.10", "3.10"},
	} {
		d := im.Manifests[i]
		if got := d.Annotations["io.containerd.image.name"]; got != want.ref {
			t.Errorf("entry %d: io.containerd.image.name %q, want %q", i, got, want.ref)
		}
		if got := d.Annotations["org.opencontainers.image.ref.name"]; got != want.tag {
			t.Errorf("entry %d: org.opencontainers.image.ref.name %q, want %q", i, got, want.tag)
		}
		if d.Platform == nil || d.Platform.OS != "linux" {
			t.Errorf("entry %d: platform %v", i, d.Platform)
		}
	}
	read, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := read.Digest(); got.String() != digest(t, img) {
		t.Errorf("read back %s, built %s", got, digest(t, img))
	}
	if err := validate.Image(read); err != nil {
		t.Error(err)
	}

	// docker load's view: manifest.json names the same config and layers.
	tag, _ := name.NewTag("ghcr.io/ebbscale/hello:v1.2.3")
	dimg, err := tarball.ImageFromPath(tarPath, &tag)
	if err != nil {
		t.Fatal(err)
	}
	wantCfg, _ := img.Image.ConfigName()
	if got, err := dimg.ConfigName(); err != nil || got != wantCfg {
		t.Errorf("docker archive config %v (%v), want %v", got, err, wantCfg)
	}
}

func TestPushUploadsTheSameDigest(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	img := build(t, helloSpec(t))
	host := strings.TrimPrefix(srv.URL, "http://")
	ref := host + "/ebbscale/hello:v1.2.3"
	pushed, err := ociimage.Push(context.Background(), img, ref, ociimage.PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := host + "/ebbscale/hello@" + digest(t, img); pushed != want {
		t.Errorf("pushed %s, want %s", pushed, want)
	}
	r, _ := name.ParseReference(ref)
	desc, err := remote.Get(r)
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest.String() != digest(t, img) {
		t.Errorf("registry has %s, built %s", desc.Digest, digest(t, img))
	}
	pulled, err := desc.Image()
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(pulled); err != nil {
		t.Error(err)
	}
}

func TestBuildRefusesAReferenceByDigest(t *testing.T) {
	spec := helloSpec(t)
	spec.Ref = "ghcr.io/ebbscale/hello@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	if _, err := ociimage.Build(context.Background(), spec); err == nil || !strings.Contains(err.Error(), "by tag") {
		t.Errorf("err %v, want one asking for a tag", err)
	}
}

func TestNormalizeRef(t *testing.T) {
	for in, want := range map[string]string{
		"ghcr.io/ebbscale/ebb-operator:dev": "ghcr.io/ebbscale/ebb-operator:dev",
		"busybox:1":                         "docker.io/library/busybox:1",
		"ebb.local/pause":                   "ebb.local/pause:latest",
		"localhost:5000/x@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef": "localhost:5000/x@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	} {
		got, err := ociimage.NormalizeRef(in)
		if err != nil || got != want {
			t.Errorf("NormalizeRef(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ociimage.NormalizeRef("UPPER/case:x"); err == nil {
		t.Error("NormalizeRef(UPPER/case:x): no error")
	}
}

// files lists the entries of every layer of img.
func files(t *testing.T, img ociimage.Image) []*tar.Header {
	t.Helper()
	layers, err := img.Image.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var hs []*tar.Header
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			hs = append(hs, h)
		}
		rc.Close()
	}
	return hs
}

// content is the file name's content in img's layers.
func content(t *testing.T, img ociimage.Image, name string) string {
	t.Helper()
	layers, _ := img.Image.Layers()
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			if h.Name == name {
				b, _ := io.ReadAll(tr)
				rc.Close()
				return string(b)
			}
		}
		rc.Close()
	}
	t.Fatalf("%s not in the image", name)
	return ""
}

func untar(t *testing.T, path, dir string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		b, _ := io.ReadAll(tr)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
