// SPDX-License-Identifier: Apache-2.0

package ociimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// NonRootUID is the user (and group) the images run as: distroless's
// "nonroot", so a chart's runAsUser and a PodSecurity "restricted" namespace
// agree with the image.
const NonRootUID = 65532

// caBundlePath is where the CA bundle goes in the image; Go's crypto/x509
// looks there first on Linux.
const caBundlePath = "etc/ssl/certs/ca-certificates.crt"

// file is one entry of a layer. Names have no leading slash; a directory's
// name ends with a slash.
type file struct {
	name     string
	mode     int64 // permission bits, with the sticky bit where wanted
	uid, gid int
	data     []byte
}

func (f file) dir() bool { return strings.HasSuffix(f.name, "/") }

// baseFiles is the base layer: the users, the writable directories and,
// when caBundle is not nil, the CA bundle.
func baseFiles(caBundle []byte) []file {
	fs := []file{
		{name: "etc/", mode: 0o755},
		{name: "etc/passwd", mode: 0o644, data: []byte(
			"root:x:0:0:root:/root:/sbin/nologin\n" +
				"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{name: "etc/group", mode: 0o644, data: []byte(
			"root:x:0:\n" +
				"nonroot:x:65532:\n")},
		{name: "home/", mode: 0o755},
		{name: "home/nonroot/", mode: 0o700, uid: NonRootUID, gid: NonRootUID},
		{name: "root/", mode: 0o700},
		{name: "tmp/", mode: 0o1777},
	}
	if caBundle != nil {
		fs = append(fs,
			file{name: "etc/ssl/", mode: 0o755},
			file{name: "etc/ssl/certs/", mode: 0o755},
			file{name: caBundlePath, mode: 0o644, data: caBundle})
	}
	return fs
}

// layerTar writes files as a tar stream, sorted by name, every entry with
// mtime and no user or group names, so equal inputs give equal bytes.
func layerTar(files []file, mtime time.Time) ([]byte, error) {
	files = append([]file(nil), files...)
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	return orderedTar(files, mtime)
}

// orderedTar writes files as a tar stream in the order given, every entry
// with mtime, its uid and gid, and no user or group names.
func orderedTar(files []file, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{
			Name:    f.name,
			Mode:    f.mode,
			Uid:     f.uid,
			Gid:     f.gid,
			ModTime: mtime,
			Format:  tar.FormatPAX,
		}
		if f.dir() {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// gzipped compresses b with compress/gzip at the default level and an empty
// header (no name, no time), which is deterministic for one Go release. The
// best level took 7.1 s on the 92 MB operator binary against 2.5 s, for a
// layer 0.4 % smaller (27.41 MB against 27.52 MB).
func gzipped(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// newLayer is an OCI gzip layer holding files.
func newLayer(files []file, mtime time.Time) (v1.Layer, error) {
	t, err := layerTar(files, mtime)
	if err != nil {
		return nil, err
	}
	z, err := gzipped(t)
	if err != nil {
		return nil, err
	}
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(z)), nil
	}, tarball.WithMediaType(types.OCILayer))
}
