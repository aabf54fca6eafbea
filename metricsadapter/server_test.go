// SPDX-License-Identifier: Apache-2.0

package metricsadapter

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/ebbscale/ebb/controller"
)

// writePair writes a serving certificate for localhost, signed by a new CA,
// into dir as tls.crt and tls.key (atomically, as a Secret volume or
// cert-manager would) and returns the DER of the certificate.
func writePair(t *testing.T, dir string) []byte {
	t.Helper()
	g, err := newGeneratedCert(clocktesting.NewFakeClock(time.Now()), nil, time.Hour, []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM := g.CurrentCertKeyContent()
	for name, data := range map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM} {
		tmp := filepath.Join(dir, "."+name+".tmp")
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pair.Certificate[0]
}

// servedCert is the leaf certificate the server presents.
func servedCert(t *testing.T, addr string) []byte {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
		&tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}) //nolint:gosec // the test compares the presented certificate itself
	if err != nil {
		t.Fatalf("TLS handshake with the adapter: %v", err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Raw
}

// A certificate given with --adapter-cert-dir is what the adapter serves,
// and a new one written over it is served without a restart. (The API
// server of cfg is unreachable: the TLS layer does not need it.)
func TestGivenCertificateIsServedAndReloaded(t *testing.T) {
	dir := t.TempDir()
	first := writePair(t, dir)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &rest.Config{Host: "https://127.0.0.1:1", Timeout: time.Second}
	srv, err := NewServer(cfg, emptySource{}, ServerOptions{Listener: lis, CertDir: dir, Log: logr.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	if srv.CAPEM() != nil {
		t.Error("a server with given certificates reports a generated CA")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Start: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("the server did not stop within 30 s")
		}
	})

	addr := srv.Addr().String()
	waitFor(t, 20*time.Second, "the given certificate is served", func() bool {
		return bytes.Equal(servedCert(t, addr), first)
	})
	second := writePair(t, dir)
	waitFor(t, 90*time.Second, "the rewritten certificate is served", func() bool {
		return bytes.Equal(servedCert(t, addr), second)
	})
	leaf, err := x509.ParseCertificate(second)
	if err != nil {
		t.Fatal(err)
	}
	if err := leaf.VerifyHostname("localhost"); err != nil {
		t.Fatal(err)
	}
}

func TestMissingCertificateFilesAreRefused(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	_, err = NewServer(&rest.Config{Host: "https://127.0.0.1:1"}, emptySource{}, ServerOptions{Listener: lis, CertDir: t.TempDir(), Log: logr.Discard()})
	if err == nil {
		t.Fatal("NewServer accepted a certificate folder without tls.crt and tls.key")
	}
}

type emptySource struct{}

func (emptySource) ExternalMetric(context.Context, controller.MetricRef) (float64, error) {
	return 0, controller.ErrMetricNotFound
}

func (emptySource) ListMetrics() []controller.MetricRef { return nil }

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
