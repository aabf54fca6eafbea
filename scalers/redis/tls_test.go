// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ebbscale/ebb/scalers/scalertest"
)

// The loopback Redis speaks plain TCP; these tests put a TLS-terminating
// proxy in front of it, with a throwaway certificate authority.

// testCA is a certificate authority with a server certificate for 127.0.0.1
// and a client certificate, in the PEM forms a TriggerAuthentication holds.
type testCA struct {
	caPEM           string
	pool            *x509.CertPool
	server          tls.Certificate
	clientCertPEM   string
	clientKeyPEM    string
	encryptedKeyPEM string // clientKeyPEM, encrypted with keyPassword
	keyPassword     string
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	now := time.Now()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey := key()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ebb redis test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte, der []byte) {
		k := key()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "redis"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		}
		d, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kd, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), kd
	}
	serverCert, serverKey, _ := issue(2, x509.ExtKeyUsageServerAuth)
	server, err := tls.X509KeyPair(serverCert, serverKey)
	if err != nil {
		t.Fatal(err)
	}
	clientCert, clientKey, clientDER := issue(3, x509.ExtKeyUsageClientAuth)
	const keyPassword = "key-password-Xy7"
	//nolint:staticcheck // the legacy PEM encryption is what keyPassword decrypts.
	enc, err := x509.EncryptPEMBlock(rand.Reader, "EC PRIVATE KEY", clientDER, []byte(keyPassword), x509.PEMCipherAES256)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return &testCA{
		caPEM:  string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})),
		pool:   pool,
		server: server, clientCertPEM: string(clientCert), clientKeyPEM: string(clientKey),
		encryptedKeyPEM: string(pem.EncodeToMemory(enc)), keyPassword: keyPassword,
	}
}

// tlsProxy serves TLS on a loopback port and forwards the plain bytes to the
// real Redis. With clientCerts it requires a client certificate from ca.
func tlsProxy(t testing.TB, ca *testCA, clientCerts bool) string {
	t.Helper()
	cfg := &tls.Config{Certificates: []tls.Certificate{ca.server}, MinVersion: tls.VersionTLS12}
	if clientCerts {
		cfg.ClientAuth, cfg.ClientCAs = tls.RequireAndVerifyClientCert, ca.pool
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]struct{}{}
	track := func(c net.Conn) {
		mu.Lock()
		conns[c] = struct{}{}
		mu.Unlock()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			track(c)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				if err := c.(*tls.Conn).Handshake(); err != nil {
					return
				}
				up, err := net.Dial("tcp", redisAddr)
				if err != nil {
					return
				}
				track(up)
				defer up.Close()
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
				go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
				<-done
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func TestTLSToTheServer(t *testing.T) {
	a := newAdmin(t)
	ca := newTestCA(t)
	addr := tlsProxy(t, ca, false)
	list := a.list(6)
	lists, _, _ := testTypes(t)
	meta := map[string]string{"address": addr, "listName": list}

	t.Run("reads when the server's CA is given", func(t *testing.T) {
		expect(t, scalertest.MustRead(t, newScaler(t, lists, listTrigger(meta, map[string]string{"tls": "enable", "ca": ca.caPEM}))), 6, true)
	})
	t.Run("reads with enableTLS and unsafeSsl, as KEDA's keys say", func(t *testing.T) {
		expect(t, scalertest.MustRead(t, newScaler(t, lists, listTrigger(scalertest.With(meta, "enableTLS", "true", "unsafeSsl", "true"), nil))), 6, true)
	})
	t.Run("a certificate from an unknown authority is an error", func(t *testing.T) {
		err := readErr(t, newScaler(t, lists, listTrigger(scalertest.With(meta, "enableTLS", "true", "timeout", "5s"), nil)))
		if !strings.Contains(err.Error(), "certificate") {
			t.Errorf("error %q does not say the certificate failed to verify", err)
		}
	})
	t.Run("a plaintext client on the TLS port is an error within its timeout", func(t *testing.T) {
		readErr(t, newScaler(t, lists, listTrigger(scalertest.With(meta, "timeout", "2s"), nil)))
	})
}

func TestMutualTLSWithAClientCertificate(t *testing.T) {
	a := newAdmin(t)
	ca := newTestCA(t)
	addr := tlsProxy(t, ca, true)
	stream := a.stream(3)
	_, streams, _ := testTypes(t)
	meta := map[string]string{"address": addr, "stream": stream, "streamLength": "1"}

	t.Run("reads with the certificate and its key", func(t *testing.T) {
		auth := map[string]string{"tls": "enable", "ca": ca.caPEM, "cert": ca.clientCertPEM, "key": ca.clientKeyPEM}
		expect(t, scalertest.MustRead(t, newScaler(t, streams, streamTrigger(meta, auth))), 3, true)
	})
	t.Run("reads with an encrypted key and its keyPassword", func(t *testing.T) {
		auth := map[string]string{"tls": "enable", "ca": ca.caPEM, "cert": ca.clientCertPEM, "key": ca.encryptedKeyPEM, "keyPassword": ca.keyPassword}
		expect(t, scalertest.MustRead(t, newScaler(t, streams, streamTrigger(meta, auth))), 3, true)
	})
	t.Run("an encrypted key without its keyPassword is refused at admission", func(t *testing.T) {
		auth := map[string]string{"tls": "enable", "ca": ca.caPEM, "cert": ca.clientCertPEM, "key": ca.encryptedKeyPEM}
		err := streams.Validate(streamTrigger(meta, auth))
		if err == nil || !strings.Contains(err.Error(), `"keyPassword"`) {
			t.Errorf("Validate = %v, want an error naming keyPassword", err)
		}
	})
	t.Run("is refused without a client certificate, and the error shows no key", func(t *testing.T) {
		err := readErr(t, newScaler(t, streams, streamTrigger(scalertest.With(meta, "timeout", "5s"), map[string]string{"tls": "enable", "ca": ca.caPEM})))
		if strings.Contains(err.Error(), "PRIVATE KEY") || strings.Contains(err.Error(), ca.keyPassword) {
			t.Errorf("error text shows key material: %v", err)
		}
	})
}
