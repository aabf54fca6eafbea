// SPDX-License-Identifier: Apache-2.0

package metricsadapter

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/utils/clock"
)

// caValidity is how long a generated CA is valid: long enough never to need
// renewal, as only the serving certificates it signs are exposed.
const caValidity = 10 * 365 * 24 * time.Hour

// DefaultCertValidity is how long a generated serving certificate is valid.
// It is renewed when two thirds of that have passed.
const DefaultCertValidity = 90 * 24 * time.Hour

// generatedCert is the adapter's serving certificate when none is given: a
// CA (made at start, or shared by the replicas through a Secret; its
// certificate goes into the APIService's caBundle) signs a serving certificate for the given names, renewed with a
// new key when two thirds of its validity have passed. Listeners (the API
// server's TLS configuration) are told of every renewal.
//
// It is a dynamiccertificates.CertKeyContentProvider and ControllerRunner:
// the API server runs it with its serving loop.
type generatedCert struct {
	clock    clock.Clock
	validity time.Duration
	dnsNames []string
	ips      []net.IP
	log      logr.Logger

	caKey  *ecdsa.PrivateKey
	caCert *x509.Certificate
	caPEM  []byte

	mu        sync.RWMutex
	certPEM   []byte
	keyPEM    []byte
	notBefore time.Time
	listeners []dynamiccertificates.Listener
}

var (
	_ dynamiccertificates.CertKeyContentProvider = (*generatedCert)(nil)
	_ dynamiccertificates.ControllerRunner       = (*generatedCert)(nil)
)

// authority is the CA that signs the generated serving certificates.
type authority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte // the certificate
}

// newAuthority makes a CA valid for caValidity.
func newAuthority(now time.Time) (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("metrics adapter CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: fmt.Sprintf("ebb-metrics-adapter-ca@%d", now.Unix())},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("metrics adapter CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("metrics adapter CA: %w", err)
	}
	return &authority{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// keyPEM is the CA's private key in PEM.
func (a *authority) keyPEM() ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(a.key)
	if err != nil {
		return nil, fmt.Errorf("metrics adapter CA key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

// parseAuthority reads a CA written by keyPEM and pem.
func parseAuthority(certPEM, keyPEM []byte) (*authority, error) {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, fmt.Errorf("metrics adapter CA: not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("metrics adapter CA: %w", err)
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("metrics adapter CA key: %w", err)
	}
	if !cert.IsCA || !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("metrics adapter CA: the certificate is not a CA or does not match the key")
	}
	return &authority{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cb.Bytes})}, nil
}

// newGeneratedCert makes a serving certificate signed by ca (a new CA when
// nil).
func newGeneratedCert(clk clock.Clock, ca *authority, validity time.Duration, dnsNames []string, ips []net.IP, log logr.Logger) (*generatedCert, error) {
	if validity <= 0 {
		validity = DefaultCertValidity
	}
	if ca == nil {
		var err error
		if ca, err = newAuthority(clk.Now()); err != nil {
			return nil, err
		}
	}
	g := &generatedCert{clock: clk, validity: validity, dnsNames: dnsNames, ips: ips, log: log,
		caKey: ca.key, caCert: ca.cert, caPEM: ca.pem}
	if err := g.renew(); err != nil {
		return nil, err
	}
	return g, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		// crypto/rand does not fail on Linux; a fixed serial is still valid.
		return big.NewInt(1)
	}
	return n.Add(n, big.NewInt(1))
}

// renew makes a new key and serving certificate and tells the listeners.
func (g *generatedCert) renew() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("metrics adapter serving key: %w", err)
	}
	now := g.clock.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: firstOr(g.dnsNames, "ebb-metrics-adapter")},
		NotBefore:    now.Add(-5 * time.Minute), // clock skew
		NotAfter:     now.Add(g.validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     g.dnsNames,
		IPAddresses:  g.ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, g.caCert, &key.PublicKey, g.caKey)
	if err != nil {
		return fmt.Errorf("metrics adapter serving certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return fmt.Errorf("metrics adapter serving key: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	g.mu.Lock()
	g.certPEM, g.keyPEM, g.notBefore = certPEM, keyPEM, now
	listeners := append([]dynamiccertificates.Listener(nil), g.listeners...)
	g.mu.Unlock()
	for _, l := range listeners {
		l.Enqueue()
	}
	return nil
}

// CAPEM is the PEM certificate of the CA that signs the serving certificate.
func (g *generatedCert) CAPEM() []byte { return g.caPEM }

// Name identifies the provider in the API server's logs.
func (g *generatedCert) Name() string { return "ebb-metrics-adapter-generated" }

// CurrentCertKeyContent returns the current serving certificate and key.
func (g *generatedCert) CurrentCertKeyContent() ([]byte, []byte) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.certPEM, g.keyPEM
}

// AddListener registers a listener told of every renewal.
func (g *generatedCert) AddListener(l dynamiccertificates.Listener) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.listeners = append(g.listeners, l)
}

// renewAt is when the current certificate is due for renewal.
func (g *generatedCert) renewAt() time.Time {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.notBefore.Add(g.validity * 2 / 3)
}

// RunOnce renews the certificate if it is due.
func (g *generatedCert) RunOnce(context.Context) error {
	if g.clock.Now().Before(g.renewAt()) {
		return nil
	}
	return g.renew()
}

// Run renews the certificate whenever it is due, until ctx ends. A failed
// renewal is retried after a minute; the current certificate stays valid
// for a third of its validity meanwhile.
func (g *generatedCert) Run(ctx context.Context, _ int) {
	for {
		wait := g.renewAt().Sub(g.clock.Now())
		if wait > 0 {
			t := g.clock.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C():
			}
		}
		if g.clock.Now().Before(g.renewAt()) {
			continue // woken early
		}
		if err := g.renew(); err != nil {
			g.log.Error(err, "Renewing the metrics adapter's serving certificate")
			t := g.clock.NewTimer(time.Minute)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C():
			}
			continue
		}
		g.log.V(1).Info("Renewed the metrics adapter's serving certificate")
	}
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
}
