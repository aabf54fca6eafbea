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
	"net"
	"os"
	"path/filepath"
)

// writeNodeAPIServerCerts writes, into the API server's certificate folder,
// what envtest would make there itself, but for a server that pods reach
// too: a serving certificate valid for loopback, NodeIP, the kubernetes
// Service's cluster IP and its DNS names, and the service-account signing
// key, and the client certificate the API server shows the kubelet (for
// logs, exec and port-forward; group system:masters), which the kubelet
// trusts through the same CA. It returns the CA's PEM, which clients (and
// pods, through the kube-root-ca.crt ConfigMap) trust.
func writeNodeAPIServerCerts(dir string) ([]byte, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("API server certificates: %w", err)
	}
	ca, err := newLocalCA("ebb-local-cluster-ca")
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := ca.sign(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc." + ClusterDomain},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(NodeIP), net.ParseIP(KubernetesServiceIP)},
	})
	if err != nil {
		return nil, err
	}
	kubeletClientPEM, kubeletClientKeyPEM, err := ca.sign(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return nil, err
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("service account signing key: %w", err)
	}
	saPub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("service account signing key: %w", err)
	}
	caPEM := ca.certPEM()
	files := map[string][]byte{
		// The names envtest's APIServer uses: it makes none of them when
		// apiserver.crt exists.
		"apiserver.crt": certPEM,
		"apiserver.key": keyPEM,
		"sa-signer.crt": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: saPub}),
		"sa-signer.key": pemKey(saKey),
		// Ebb's own names.
		kubeletClientCert: kubeletClientPEM,
		kubeletClientKey:  kubeletClientKeyPEM,
	}
	for name, data := range files {
		if data == nil {
			return nil, fmt.Errorf("API server certificates: encode %s", name)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return nil, fmt.Errorf("API server certificates: %w", err)
		}
	}
	return caPEM, nil
}

// The files of the API server's client certificate for kubelets, in its
// certificate folder.
const (
	kubeletClientCert = "kubelet-client.crt"
	kubeletClientKey  = "kubelet-client.key"
)
