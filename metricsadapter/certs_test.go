// SPDX-License-Identifier: Apache-2.0

package metricsadapter

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	clocktesting "k8s.io/utils/clock/testing"
)

type countingListener struct{ n atomic.Int32 }

func (l *countingListener) Enqueue() { l.n.Add(1) }

func parseLeaf(t *testing.T, g *generatedCert) *x509.Certificate {
	t.Helper()
	certPEM, keyPEM := g.CurrentCertKeyContent()
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatalf("the certificate and key do not pair: %v", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

func TestGeneratedCertVerifiesForTheServiceName(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	g, err := newGeneratedCert(clk, nil, time.Hour, serviceDNSNames("ebb-metrics-adapter", "ebb-system"), []net.IP{net.IPv4(127, 0, 0, 1)}, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	leaf := parseLeaf(t, g)
	pool := x509.NewCertPool()
	block, _ := pem.Decode(g.CAPEM())
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pool.AddCert(ca)
	// The aggregator checks the name <service>.<namespace>.svc.
	for _, name := range []string{"ebb-metrics-adapter.ebb-system.svc", "localhost", "127.0.0.1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: pool, CurrentTime: clk.Now()}); err != nil {
			t.Errorf("the serving certificate does not verify for %s against the CA: %v", name, err)
		}
	}
}

func TestGeneratedCertIsRenewedAfterTwoThirdsOfItsValidity(t *testing.T) {
	start := time.Now()
	clk := clocktesting.NewFakeClock(start)
	g, err := newGeneratedCert(clk, nil, 3*time.Hour, []string{"localhost"}, nil, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	l := &countingListener{}
	g.AddListener(l)
	first := parseLeaf(t, g)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { g.Run(ctx, 1); close(done) }()
	defer func() { cancel(); <-done }()

	waitTimer := func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !clk.HasWaiters() {
			if time.Now().After(deadline) {
				t.Fatal("Run does not wait for the renewal time")
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitTimer()
	clk.Step(time.Hour + 59*time.Minute) // before two thirds
	if err := g.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if l.n.Load() != 0 {
		t.Fatalf("renewed before two thirds of the validity")
	}
	clk.Step(time.Minute) // two thirds
	deadline := time.Now().Add(10 * time.Second)
	for l.n.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("not renewed at two thirds of the validity")
		}
		time.Sleep(time.Millisecond)
	}
	second := parseLeaf(t, g)
	if second.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Error("the renewed certificate has the old serial number")
	}
	if !second.NotAfter.After(first.NotAfter) {
		t.Errorf("the renewed certificate expires %v, not after the old one (%v)", second.NotAfter, first.NotAfter)
	}
	if err := second.CheckSignatureFrom(mustCA(t, g)); err != nil {
		t.Errorf("the renewed certificate is not signed by the same CA (the caBundle would go stale): %v", err)
	}
}

func mustCA(t *testing.T, g *generatedCert) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(g.CAPEM())
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func TestAuthorityRoundTripsThroughItsSecretForm(t *testing.T) {
	ca, err := newAuthority(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	key, err := ca.keyPEM()
	if err != nil {
		t.Fatal(err)
	}
	back, err := parseAuthority(ca.pem, key)
	if err != nil {
		t.Fatal(err)
	}
	if !back.cert.Equal(ca.cert) || !back.key.Equal(ca.key) {
		t.Fatal("the CA read back differs from the one written")
	}
	other, err := newAuthority(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	otherKey, _ := other.keyPEM()
	if _, err := parseAuthority(ca.pem, otherKey); err == nil {
		t.Error("a CA certificate with another CA's key was accepted")
	}
	if _, err := parseAuthority([]byte("not pem"), key); err == nil {
		t.Error("a certificate that is not PEM was accepted")
	}
}
