// SPDX-License-Identifier: Apache-2.0

package kafka_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"
)

// pki is a throwaway certificate authority with a server certificate for
// 127.0.0.1 and a client certificate, in the PEM forms a
// TriggerAuthentication carries.
type pki struct {
	caPEM           string
	serverCert      tls.Certificate
	clientCertPEM   string
	clientKeyPEM    string
	encryptedKeyPEM string // clientKeyPEM encrypted with keyPassword
	keyPassword     string
	otherKeyPEM     string // a key that matches no certificate
	pool            *x509.CertPool
}

var (
	pkiOnce sync.Once
	pkiVal  *pki
	pkiErr  error
)

// testPKI returns the package's test PKI, made on first use.
func testPKI(t *testing.T) *pki {
	t.Helper()
	pkiOnce.Do(func() { pkiVal, pkiErr = newPKI() })
	if pkiErr != nil {
		t.Fatalf("making the test PKI: %v", pkiErr)
	}
	return pkiVal
}

func newPKI() (*pki, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ebb test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) ([]byte, *ecdsa.PrivateKey, error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		return der, key, err
	}
	serverDER, serverKey, err := issue(2, "kafka", x509.ExtKeyUsageServerAuth, []net.IP{net.ParseIP("127.0.0.1")})
	if err != nil {
		return nil, err
	}
	clientDER, clientKey, err := issue(3, "ebb", x509.ExtKeyUsageClientAuth, nil)
	if err != nil {
		return nil, err
	}
	keyPEM := func(k *ecdsa.PrivateKey) (*pem.Block, error) {
		der, err := x509.MarshalECPrivateKey(k)
		return &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}, err
	}
	p := &pki{keyPassword: "key-pass-phrase"}
	p.caPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	p.clientCertPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: clientDER}))
	cb, err := keyPEM(clientKey)
	if err != nil {
		return nil, err
	}
	p.clientKeyPEM = string(pem.EncodeToMemory(cb))
	//nolint:staticcheck // legacy PEM encryption is what keyPassword decrypts.
	enc, err := x509.EncryptPEMBlock(rand.Reader, cb.Type, cb.Bytes, []byte(p.keyPassword), x509.PEMCipherAES256)
	if err != nil {
		return nil, err
	}
	p.encryptedKeyPEM = string(pem.EncodeToMemory(enc))
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	ob, err := keyPEM(other)
	if err != nil {
		return nil, err
	}
	p.otherKeyPEM = string(pem.EncodeToMemory(ob))
	sb, err := keyPEM(serverKey)
	if err != nil {
		return nil, err
	}
	p.serverCert, err = tls.X509KeyPair(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: serverDER}), pem.EncodeToMemory(sb))
	if err != nil {
		return nil, err
	}
	p.pool = x509.NewCertPool()
	p.pool.AddCert(caCert)
	return p, nil
}

// serverTLS is the brokers' TLS configuration; mutual asks for client
// certificates signed by the CA.
func (p *pki) serverTLS(mutual bool) *tls.Config {
	cfg := &tls.Config{Certificates: []tls.Certificate{p.serverCert}, MinVersion: tls.VersionTLS12}
	if mutual {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		cfg.ClientCAs = p.pool
	}
	return cfg
}

// clientTLS is the test client's TLS configuration.
func (p *pki) clientTLS(t *testing.T) *tls.Config {
	t.Helper()
	pair, err := tls.X509KeyPair([]byte(p.clientCertPEM), []byte(p.clientKeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{RootCAs: p.pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
}
