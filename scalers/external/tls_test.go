// SPDX-License-Identifier: Apache-2.0

package external

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
	"strings"
	"testing"
	"time"

	"github.com/ebbscale/ebb/scalers/external/externalscaler"
	"github.com/ebbscale/ebb/scalers/scalertest"
)

// authority is a throwaway CA made in the test.
type authority struct {
	cert  *x509.Certificate
	key   *ecdsa.PrivateKey
	pem   string
	roots *x509.CertPool
}

// leaf is a certificate the authority issued, in the forms a server and a
// TriggerAuthentication take.
type leaf struct {
	pair            tls.Certificate
	certPEM, keyPEM string
}

func newAuthority(t *testing.T, name string) *authority {
	t.Helper()
	a := &authority{}
	a.cert, a.key = a.sign(t, &x509.Certificate{Subject: pkix.Name{CommonName: name}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign})
	a.pem = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.cert.Raw}))
	a.roots = x509.NewCertPool()
	a.roots.AddCert(a.cert)
	return a
}

// sign issues tmpl with a new key: self-signed when a has no certificate
// yet.
func (a *authority) sign(t *testing.T, tmpl *x509.Certificate) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl.SerialNumber = serial
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	parent, parentKey := tmpl, key
	if a.cert != nil {
		parent, parentKey = a.cert, a.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func (a *authority) issue(t *testing.T, cn string, usage x509.ExtKeyUsage) leaf {
	t.Helper()
	cert, key := a.sign(t, &x509.Certificate{Subject: pkix.Name{CommonName: cn}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"}})
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	l := leaf{
		certPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})),
		keyPEM:  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
	}
	l.pair, err = tls.X509KeyPair([]byte(l.certPEM), []byte(l.keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestTLS(t *testing.T) {
	ca, other := newAuthority(t, "ebb test CA"), newAuthority(t, "another CA")
	serverLeaf := ca.issue(t, "scaler", x509.ExtKeyUsageServerAuth)
	clientLeaf := ca.issue(t, "ebb", x509.ExtKeyUsageClientAuth)
	strangerLeaf := other.issue(t, "stranger", x509.ExtKeyUsageClientAuth)
	src := &source{}
	src.set(5, true)
	tlsSrv := serve(t, "127.0.0.1:0", src.read, externalscaler.Options{}, &tls.Config{Certificates: []tls.Certificate{serverLeaf.pair}, MinVersion: tls.VersionTLS12})
	mtlsSrv := serve(t, "127.0.0.1:0", src.read, externalscaler.Options{}, &tls.Config{Certificates: []tls.Certificate{serverLeaf.pair},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.roots, MinVersion: tls.VersionTLS12})
	plain := serve(t, "127.0.0.1:0", src.read, externalscaler.Options{}, nil)
	// The same certificate (for 127.0.0.1 and localhost) on 127.0.0.2.
	misnamed := ""
	if l, err := net.Listen("tcp", "127.0.0.2:0"); err == nil {
		_ = l.Close()
		misnamed = serve(t, "127.0.0.2:0", src.read, externalscaler.Options{}, &tls.Config{Certificates: []tls.Certificate{serverLeaf.pair}, MinVersion: tls.VersionTLS12}).addr
	}

	for _, c := range []struct {
		name    string
		md      map[string]string
		auth    map[string]string
		wantErr string // empty: the read succeeds
	}{
		{"a CA from the TriggerAuthentication verifies the server", map[string]string{"scalerAddress": tlsSrv.addr}, map[string]string{"caCert": ca.pem}, ""},
		{"a server certificate the CA did not sign is refused", map[string]string{"scalerAddress": tlsSrv.addr}, map[string]string{"caCert": other.pem}, "not signed by a trusted CA"},
		{"enableTLS alone trusts the system's roots, not the test CA", map[string]string{"scalerAddress": tlsSrv.addr, "enableTLS": "true"}, nil, "not signed by a trusted CA"},
		{"unsafeSsl skips the verification", map[string]string{"scalerAddress": tlsSrv.addr, "enableTLS": "true", "unsafeSsl": "true"}, nil, ""},
		{"a host the certificate does not name is refused", map[string]string{"scalerAddress": misnamed}, map[string]string{"caCert": ca.pem}, "not valid for the host of scalerAddress"},
		{"TLS to a plaintext server fails", map[string]string{"scalerAddress": plain.addr}, map[string]string{"caCert": ca.pem}, "does not speak TLS"},
		{"mutual TLS with a client certificate reads", map[string]string{"scalerAddress": mtlsSrv.addr}, map[string]string{"caCert": ca.pem, "tlsClientCert": clientLeaf.certPEM, "tlsClientKey": clientLeaf.keyPEM}, ""},
		{"mutual TLS without a client certificate fails", map[string]string{"scalerAddress": mtlsSrv.addr}, map[string]string{"caCert": ca.pem}, "external scaler"},
		{"mutual TLS with a certificate the server's CA did not sign fails", map[string]string{"scalerAddress": mtlsSrv.addr}, map[string]string{"caCert": ca.pem, "tlsClientCert": strangerLeaf.certPEM, "tlsClientKey": strangerLeaf.keyPEM}, "external scaler"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.md["scalerAddress"] == "" {
				t.Skip("cannot listen on 127.0.0.2")
			}
			ext, _ := NewTypes()
			sc := scalertest.NewScaler(t, ext, trigger("external", c.md, c.auth))
			r, err := read(t, sc)
			switch {
			case c.wantErr == "" && (err != nil || r.Value != 5):
				t.Fatalf("Read = %+v, %v; want 5", r, err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("Read = %+v, %v; want an error saying %q", r, err, c.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "BEGIN") {
				t.Errorf("the error shows PEM: %v", err)
			}
		})
	}
}

// Triggers with different TLS material on one server hold one connection
// each: a connection is keyed by address and TLS material.
func TestDifferentTLSMaterialGetsItsOwnConnection(t *testing.T) {
	ca := newAuthority(t, "ebb test CA")
	serverLeaf := ca.issue(t, "scaler", x509.ExtKeyUsageServerAuth)
	clientLeaf := ca.issue(t, "ebb", x509.ExtKeyUsageClientAuth)
	src := &source{}
	src.set(1, true)
	srv := serve(t, "127.0.0.1:0", src.read, externalscaler.Options{}, &tls.Config{Certificates: []tls.Certificate{serverLeaf.pair},
		ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: ca.roots, MinVersion: tls.VersionTLS12})
	ext, _ := NewTypes()
	md := map[string]string{"scalerAddress": srv.addr}
	a := scalertest.NewScaler(t, ext, trigger("external", md, map[string]string{"caCert": ca.pem}))
	b := scalertest.NewScaler(t, ext, trigger("external", md, map[string]string{"caCert": ca.pem, "tlsClientCert": clientLeaf.certPEM, "tlsClientKey": clientLeaf.keyPEM}))
	if _, err := read(t, a); err != nil {
		t.Fatal(err)
	}
	if _, err := read(t, b); err != nil {
		t.Fatal(err)
	}
	if n := ext.OpenConnections(); n != 2 {
		t.Errorf("two sets of TLS material hold %d connections, want 2", n)
	}
}
