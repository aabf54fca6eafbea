// SPDX-License-Identifier: Apache-2.0

package localcluster

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// FrontProxyClientName is the common name of the front-proxy client
// certificate, the one name an aggregated API server accepts requests from.
const FrontProxyClientName = "front-proxy-client"

// FrontProxy is the certificate set of the API server's aggregation layer:
// the API server presents the client certificate to aggregated API servers
// (Ebb's metrics adapter), which trust it through the CA.
type FrontProxy struct {
	// CAFile is the PEM CA that signed the client certificate; the API
	// server's --requestheader-client-ca-file.
	CAFile string
	// CAPEM is the content of CAFile.
	CAPEM []byte
	// ClientCertFile and ClientKeyFile are the API server's
	// --proxy-client-cert-file and --proxy-client-key-file.
	ClientCertFile string
	ClientKeyFile  string
	// AllowedNames are the accepted common names of the client certificate.
	AllowedNames []string
}

// newFrontProxy makes a CA and a client certificate signed by it in dir.
func newFrontProxy(dir string) (*FrontProxy, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("front proxy certificates: %w", err)
	}
	ca, err := newLocalCA("ebb-test-front-proxy-ca")
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := ca.sign(&x509.Certificate{
		Subject:     pkix.Name{CommonName: FrontProxyClientName},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return nil, err
	}

	fp := &FrontProxy{
		CAFile:         filepath.Join(dir, "front-proxy-ca.crt"),
		CAPEM:          ca.certPEM(),
		ClientCertFile: filepath.Join(dir, "front-proxy-client.crt"),
		ClientKeyFile:  filepath.Join(dir, "front-proxy-client.key"),
		AllowedNames:   []string{FrontProxyClientName},
	}
	files := map[string][]byte{
		fp.CAFile:         fp.CAPEM,
		fp.ClientCertFile: certPEM,
		fp.ClientKeyFile:  keyPEM,
	}
	for path, data := range files {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, fmt.Errorf("front proxy certificates: %w", err)
		}
	}
	return fp, nil
}

// configure passes the aggregation layer's flags to the API server.
func (fp *FrontProxy) configure(args *envtest.Arguments) {
	args.Set("proxy-client-cert-file", fp.ClientCertFile)
	args.Set("proxy-client-key-file", fp.ClientKeyFile)
	args.Set("requestheader-client-ca-file", fp.CAFile)
	args.Set("requestheader-allowed-names", fp.AllowedNames...)
	args.Set("requestheader-extra-headers-prefix", "X-Remote-Extra-")
	args.Set("requestheader-group-headers", "X-Remote-Group")
	args.Set("requestheader-username-headers", "X-Remote-User")
	args.Set("enable-aggregator-routing", "false")
}
