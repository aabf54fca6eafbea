// SPDX-License-Identifier: Apache-2.0

package ociimage

import (
	"context"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// PushOptions change how Push talks to the registry.
type PushOptions struct {
	// Insecure allows plain HTTP (go-containerregistry already uses it for
	// localhost, loopback and private addresses).
	Insecure bool
	// Transport replaces http.DefaultTransport (a test's httptest client).
	Transport http.RoundTripper
}

// Push uploads img to the registry under ref (img.Ref when ref is empty),
// with the credentials of the Docker config (~/.docker/config.json,
// credential helpers), and returns the full reference by digest it was
// pushed as.
func Push(ctx context.Context, img Image, ref string, opts PushOptions) (string, error) {
	if ref == "" {
		ref = img.Ref
	}
	var nopts []name.Option
	if opts.Insecure {
		nopts = append(nopts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nopts...)
	if err != nil {
		return "", fmt.Errorf("ociimage: push: image reference %q: %w", ref, err)
	}
	ropts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}
	if opts.Transport != nil {
		ropts = append(ropts, remote.WithTransport(opts.Transport))
	}
	if err := remote.Write(r, img.Image, ropts...); err != nil {
		return "", fmt.Errorf("ociimage: push %s: %w", ref, err)
	}
	d, err := img.Image.Digest()
	if err != nil {
		return "", err
	}
	return r.Context().Digest(d.String()).String(), nil
}
