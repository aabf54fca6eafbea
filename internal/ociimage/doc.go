// SPDX-License-Identifier: Apache-2.0

// Package ociimage builds Ebb's container images without a Docker daemon:
// it compiles a Go main package into a static Linux binary, puts it on a
// minimal base layer made here (no base image is pulled), and writes the
// result as an OCI image layout in a tar file that `ctr images import`,
// `kind load image-archive`, `docker load` and skopeo read, or pushes it to
// a registry.
//
// Builds are reproducible: the same commit, Go toolchain, target
// architecture and CA bundle give byte-identical tar files and the same
// manifest digest. Every timestamp (tar entries, the config's created,
// history, the created annotation) is one epoch: SOURCE_DATE_EPOCH when
// set, else the commit time of HEAD, else 0 (see [SourceDateEpoch]).
//
// The base layer holds /etc/passwd and /etc/group (root and nonroot, uid and
// gid 65532), /tmp (1777), /home/nonroot and, unless turned off, the
// build machine's CA bundle at /etc/ssl/certs/ca-certificates.crt. The CA
// bundle is the one input that is not in the repository: two machines with
// different bundles build images with different digests (the config's
// dev.ebb.image.ca-bundle.sha256 label says which bundle went in). Leaving
// it out would break every TLS connection to an event source, so it is in by
// default; [Spec.CABundle] pins a file or turns it off.
//
// The package is used by hack/image (make image) and by the in-cluster
// tests; it must not import testing.
package ociimage
