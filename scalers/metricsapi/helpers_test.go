// SPDX-License-Identifier: Apache-2.0

package metricsapi

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/scalertest"
)

// trigger builds a metrics-api trigger with the given metadata and
// TriggerAuthentication parameters.
func trigger(meta, auth map[string]string) scalers.Trigger {
	return scalers.Trigger{
		Namespace:    "default",
		ScaledObject: "worker",
		Name:         "metrics-api-0",
		Type:         TypeName,
		Metadata:     meta,
		AuthParams:   auth,
	}
}

// meta is the metadata of a JSON trigger on url, with kv set over it.
func meta(url string, kv ...string) map[string]string {
	return scalertest.With(map[string]string{"url": url, "valueLocation": "components.worker.tasks", "targetValue": "5"}, kv...)
}

// api is a metrics API on loopback: it answers every request with body
// (of contentType) when check accepts the request, and 401 otherwise. It
// counts the requests and keeps the last one.
type api struct {
	srv  *httptest.Server
	hits atomic.Int64

	mu          sync.Mutex
	body        []byte
	contentType string
	check       func(r *http.Request) bool
	last        *http.Request
	// hold, when set, is waited on before each answer.
	hold chan struct{}
}

func newAPI(body []byte, contentType string) *api {
	a := &api{body: body, contentType: contentType}
	a.srv = httptest.NewUnstartedServer(http.HandlerFunc(a.serve))
	return a
}

// startAPI serves body over plain HTTP.
func startAPI(t *testing.T, body []byte, contentType string) *api {
	t.Helper()
	a := newAPI(body, contentType)
	a.srv.Start()
	t.Cleanup(a.srv.Close)
	return a
}

// startTLSAPI serves body over HTTPS with the PKI's server certificate,
// asking for a client certificate signed by its CA when mutual.
func startTLSAPI(t *testing.T, p *pki, body []byte, mutual bool) *api {
	t.Helper()
	a := newAPI(body, "application/json")
	a.srv.TLS = &tls.Config{Certificates: []tls.Certificate{p.server}, MinVersion: tls.VersionTLS12}
	if mutual {
		a.srv.TLS.ClientAuth = tls.RequireAndVerifyClientCert
		a.srv.TLS.ClientCAs = p.pool
	}
	a.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are what some tests expect
	a.srv.StartTLS()
	t.Cleanup(a.srv.Close)
	return a
}

func (a *api) serve(w http.ResponseWriter, r *http.Request) {
	a.hits.Add(1)
	a.mu.Lock()
	a.last = r.Clone(context.Background())
	body, ct, check, hold := a.body, a.contentType, a.check, a.hold
	a.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
	}
	if check != nil && !check(r) {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", ct)
	_, _ = w.Write(body)
}

func (a *api) URL() string { return a.srv.URL }

func (a *api) set(body []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.body = body
}

func (a *api) setCheck(check func(r *http.Request) bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.check = check
}

func (a *api) lastRequest() *http.Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last
}

// pki is a certificate authority made for the test, with a server
// certificate for 127.0.0.1 and a client certificate, in the PEM forms a
// TriggerAuthentication carries.
type pki struct {
	caPEM, clientCertPEM, clientKeyPEM string
	server                             tls.Certificate
	pool                               *x509.CertPool
}

var testPKI = sync.OnceValues(newPKI)

func mustPKI(t *testing.T) *pki {
	t.Helper()
	p, err := testPKI()
	if err != nil {
		t.Fatalf("making the test PKI: %v", err)
	}
	return p
}

func newPKI() (*pki, error) {
	caKey, caDER, err := issue(&x509.Certificate{
		Subject: pkix.Name{CommonName: "ebb metrics-api test CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}, nil, nil)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	serverKey, serverDER, err := issue(&x509.Certificate{
		Subject: pkix.Name{CommonName: "127.0.0.1"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}, ca, caKey)
	if err != nil {
		return nil, err
	}
	clientKey, clientDER, err := issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "ebb"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}, ca, caKey)
	if err != nil {
		return nil, err
	}
	keyPEM := func(k *ecdsa.PrivateKey) string {
		der, _ := x509.MarshalPKCS8PrivateKey(k)
		return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	}
	certPEM := func(der []byte) string {
		return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	}
	server, err := tls.X509KeyPair([]byte(certPEM(serverDER)), []byte(keyPEM(serverKey)))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &pki{
		caPEM: certPEM(caDER), clientCertPEM: certPEM(clientDER), clientKeyPEM: keyPEM(clientKey),
		server: server, pool: pool,
	}, nil
}

// issue makes a key and a certificate of tmpl signed by parent (self-signed
// when parent is nil), valid for a day.
func issue(tmpl, parent *x509.Certificate, parentKey crypto.Signer) (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	return key, der, err
}
