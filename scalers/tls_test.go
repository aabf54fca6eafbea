// SPDX-License-Identifier: Apache-2.0

package scalers

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testPEM is a self-signed certificate and its key, in the PEM forms a
// TriggerAuthentication holds, plus the key encrypted with password.
type testPEM struct {
	cert, key, encryptedKey, password string
}

func newTestPEM(t *testing.T) testPEM {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ebb tls test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	const password = "key-pass-phrase"
	//nolint:staticcheck // the legacy PEM encryption is what keyPassword decrypts.
	enc, err := x509.EncryptPEMBlock(rand.Reader, "EC PRIVATE KEY", kd, []byte(password), x509.PEMCipherAES256)
	if err != nil {
		t.Fatal(err)
	}
	return testPEM{
		cert:         string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		key:          string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})),
		encryptedKey: string(pem.EncodeToMemory(enc)),
		password:     password,
	}
}

func TestClientTLS(t *testing.T) {
	p := newTestPEM(t)
	other := newTestPEM(t)
	ok := []struct {
		name       string
		keys       TLSKeys
		roots      bool
		clientCert bool
	}{
		{"no material trusts the system's roots and sends no certificate", TLSKeys{}, false, false},
		{"a ca replaces the system's roots", TLSKeys{CA: p.cert}, true, false},
		{"a cert and a key in the clear are the client certificate", TLSKeys{Cert: p.cert, Key: p.key}, false, true},
		{"an encrypted key is decrypted with keyPassword", TLSKeys{Cert: p.cert, Key: p.encryptedKey, KeyPassword: p.password}, false, true},
		{"ca, cert and key together", TLSKeys{CA: p.cert, Cert: p.cert, Key: p.key}, true, true},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ClientTLS(tc.keys)
			if err != nil {
				t.Fatalf("ClientTLS = %v", err)
			}
			if cfg.MinVersion < 0x0303 {
				t.Errorf("MinVersion = %#x, want TLS 1.2 or later", cfg.MinVersion)
			}
			if cfg.InsecureSkipVerify || cfg.ServerName != "" {
				t.Errorf("InsecureSkipVerify = %v, ServerName = %q: they are the caller's", cfg.InsecureSkipVerify, cfg.ServerName)
			}
			if got := cfg.RootCAs != nil; got != tc.roots {
				t.Errorf("RootCAs set = %v, want %v", got, tc.roots)
			}
			if got := len(cfg.Certificates) == 1; got != tc.clientCert {
				t.Errorf("client certificates = %d, want one: %v", len(cfg.Certificates), tc.clientCert)
			}
		})
	}

	bad := []struct {
		name string
		keys TLSKeys
		key  string
	}{
		{"a ca without PEM certificates", TLSKeys{CA: "not a certificate"}, "ca"},
		{"a key without cert", TLSKeys{Key: p.key}, "cert"},
		{"a cert without key", TLSKeys{Cert: p.cert}, "key"},
		{"a keyPassword without cert and key", TLSKeys{KeyPassword: p.password}, "keyPassword"},
		{"a key that is not PEM", TLSKeys{Cert: p.cert, Key: "not a key"}, "key"},
		{"a keyPassword with a key in the clear", TLSKeys{Cert: p.cert, Key: p.key, KeyPassword: p.password}, "keyPassword"},
		{"an encrypted key without keyPassword", TLSKeys{Cert: p.cert, Key: p.encryptedKey}, "keyPassword"},
		{"a wrong keyPassword", TLSKeys{Cert: p.cert, Key: p.encryptedKey, KeyPassword: "wrong"}, "keyPassword"},
		{"a key that is not the cert's", TLSKeys{Cert: p.cert, Key: other.key}, "cert"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ClientTLS(tc.keys)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Key != tc.key {
				t.Fatalf("ClientTLS = %v, %v; want a FieldError for key %q", cfg, err, tc.key)
			}
			for _, secret := range []string{"PRIVATE KEY", p.password, "wrong"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error %q shows %q", err, secret)
				}
			}
		})
	}
}

// The legacy PEM encryption has no integrity check: about one wrong
// password in 256 leaves valid padding and decrypts to garbage without an
// error. Each of 2,000 wrong passwords (some 8 of them such) must still be a
// wrong keyPassword, never a confusing error about cert.
func TestClientTLSNamesKeyPasswordForEveryWrongPassword(t *testing.T) {
	p := newTestPEM(t)
	for i := range 2000 {
		_, err := ClientTLS(TLSKeys{Cert: p.cert, Key: p.encryptedKey, KeyPassword: "wrong-" + strconv.Itoa(i)})
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Key != "keyPassword" {
			t.Fatalf("wrong password %d: ClientTLS = %v; want a FieldError for keyPassword", i, err)
		}
	}
}
