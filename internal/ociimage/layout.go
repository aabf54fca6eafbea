// SPDX-License-Identifier: Apache-2.0

package ociimage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The annotations on an index entry that name the image: containerd's
// (ctr images import, kind load image-archive) and the OCI one, which holds
// the tag (what skopeo's oci-archive:<file>:<tag> looks up).
const (
	AnnotationContainerdName = "io.containerd.image.name"
	AnnotationRefName        = "org.opencontainers.image.ref.name"
)

// WriteLayout writes imgs as an OCI image layout in a tar file at path:
// oci-layout, index.json with one entry per image, blobs/sha256/..., and,
// for `docker load`, a manifest.json naming the same blobs (the format of
// docker save since Docker 25). Each index entry carries the image's full
// reference in io.containerd.image.name and its tag in
// org.opencontainers.image.ref.name, so `ctr -n k8s.io images import path`
// names the image imgs[i].Ref. Every entry has the mtime of the newest
// image's created time; the same images give the same bytes.
func WriteLayout(path string, imgs ...Image) error {
	b, err := layoutTar(imgs)
	if err != nil {
		return fmt.Errorf("ociimage: layout %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".layout-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// dockerManifest is one entry of docker save's manifest.json.
type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

func layoutTar(imgs []Image) ([]byte, error) {
	blobs := map[string][]byte{} // "sha256:..." -> content
	addBlob := func(b []byte) string {
		h, _, _ := v1.SHA256(bytes.NewReader(b))
		blobs[h.String()] = b
		return h.String()
	}
	blobPath := func(digest string) string {
		h, _ := v1.NewHash(digest)
		return "blobs/" + h.Algorithm + "/" + h.Hex
	}
	index := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}
	docker := []dockerManifest{}
	var mtime time.Time
	for _, img := range imgs {
		manifest, err := img.Image.RawManifest()
		if err != nil {
			return nil, err
		}
		mt, err := img.Image.MediaType()
		if err != nil {
			return nil, err
		}
		cfg, err := img.Image.RawConfigFile()
		if err != nil {
			return nil, err
		}
		cf, err := img.Image.ConfigFile()
		if err != nil {
			return nil, err
		}
		if cf.Created.After(mtime) {
			mtime = cf.Created.Time
		}
		dm := dockerManifest{Config: blobPath(addBlob(cfg))}
		layers, err := img.Image.Layers()
		if err != nil {
			return nil, err
		}
		for _, l := range layers {
			rc, err := l.Compressed()
			if err != nil {
				return nil, err
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				return nil, err
			}
			dm.Layers = append(dm.Layers, blobPath(addBlob(b)))
		}
		ref, err := name.ParseReference(img.Ref)
		if err != nil {
			return nil, fmt.Errorf("image reference %q: %w", img.Ref, err)
		}
		anns := map[string]string{AnnotationContainerdName: img.Ref}
		if t, ok := ref.(name.Tag); ok {
			anns[AnnotationRefName] = t.TagStr()
			dm.RepoTags = []string{img.Ref}
		}
		platform := img.Platform
		index.Manifests = append(index.Manifests, v1.Descriptor{
			MediaType:   mt,
			Size:        int64(len(manifest)),
			Digest:      mustHash(addBlob(manifest)),
			Annotations: anns,
			Platform:    &platform,
		})
		docker = append(docker, dm)
	}
	indexJSON, err := json.Marshal(index)
	if err != nil {
		return nil, err
	}
	dockerJSON, err := json.Marshal(docker)
	if err != nil {
		return nil, err
	}
	files := []file{
		{name: "oci-layout", mode: 0o644, data: []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{name: "index.json", mode: 0o644, data: indexJSON},
		{name: "manifest.json", mode: 0o644, data: dockerJSON},
		{name: "blobs/", mode: 0o755},
		{name: "blobs/sha256/", mode: 0o755},
	}
	digests := make([]string, 0, len(blobs))
	for d := range blobs {
		digests = append(digests, d)
	}
	sort.Strings(digests)
	for _, d := range digests {
		files = append(files, file{name: blobPath(d), mode: 0o644, data: blobs[d]})
	}
	// In the order given: oci-layout and index.json first, then the blobs
	// in digest order; every entry owned by 0:0.
	return orderedTar(files, mtime)
}

func mustHash(digest string) v1.Hash {
	h, err := v1.NewHash(digest)
	if err != nil {
		panic(err) // digest comes from v1.SHA256
	}
	return h
}
