// SPDX-License-Identifier: Apache-2.0

package localcluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

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
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("front proxy CA key: %w", err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "ebb-test-front-proxy-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("front proxy CA: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("front proxy CA: %w", err)
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("front proxy client key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: FrontProxyClientName},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("front proxy client certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("front proxy client key: %w", err)
	}

	fp := &FrontProxy{
		CAFile:         filepath.Join(dir, "front-proxy-ca.crt"),
		CAPEM:          pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}),
		ClientCertFile: filepath.Join(dir, "front-proxy-client.crt"),
		ClientKeyFile:  filepath.Join(dir, "front-proxy-client.key"),
		AllowedNames:   []string{FrontProxyClientName},
	}
	files := map[string][]byte{
		fp.CAFile:         fp.CAPEM,
		fp.ClientCertFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		fp.ClientKeyFile:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
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
