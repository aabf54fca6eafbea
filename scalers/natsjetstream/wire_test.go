// SPDX-License-Identifier: Apache-2.0

package natsjetstream

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/scalertest"
)

// scanNATS feeds data to a fresh scanner in chunks of n bytes (all at once
// when n is 0).
func scanNATS(data []byte, n int) error { return scalertest.CheckInChunks(&natsScanner{}, data, n) }

const natsInfo = `INFO {"server_id":"NA","version":"2.10.24","proto":1,"headers":true,"max_payload":1048576,"jetstream":true}` + "\r\n"

func TestTheNATSScannerPassesWhatAServerSends(t *testing.T) {
	stream := natsInfo + "PING\r\n+OK\r\nPONG\r\n" +
		"MSG _INBOX.abc.1 1 17\r\n{\"num_pending\":3}\r\n" +
		"msg _INBOX.abc.2 1 _INBOX.r 5\r\nMSG 1\r\n" + // a payload that looks like a header
		"HMSG _INBOX.abc.3 1 22 27\r\nNATS/1.0 503\r\n\r\n\r\n\r\nhello\r\n" +
		"-ERR 'Permissions Violation for Publish to \"x\"'\r\n"
	for _, chunk := range []int{0, 1, 7} {
		if err := scanNATS([]byte(stream), chunk); err != nil {
			t.Errorf("chunks of %d: %v", chunk, err)
		}
	}
}

func TestTheNATSScannerRefusesWhatNatsGoWouldAllocateBlindly(t *testing.T) {
	cases := map[string]struct {
		data    string
		tooMuch bool
	}{
		"a message of two billion bytes":     {"MSG a 1 2000000000\r\n", true},
		"a message with headers of 2 GB":     {"HMSG a 1 10 2000000000\r\n", true},
		"a size past int64":                  {"MSG a 1 99999999999999999999999\r\n", true},
		"an endless control line":            {"INFO {" + strings.Repeat(" ", natsMaxLine), true},
		"headers larger than the message":    {"HMSG a 1 10 5\r\n", false},
		"a size that is not a number":        {"MSG a 1 -5\r\n", false},
		"a message line with too few fields": {"MSG 5\r\n", false},
	}
	for name, c := range cases {
		for _, chunk := range []int{0, 3} {
			err := scanNATS([]byte(c.data), chunk)
			if c.tooMuch && !errors.Is(err, scalers.ErrReplyTooLarge) || !c.tooMuch && !errors.Is(err, errNotNATS) {
				t.Errorf("%s (chunks of %d): %v", name, chunk, err)
			}
		}
	}
}

// hostileNATS speaks enough of the protocol to take a connection and a
// request, and answers the request with reply.
func hostileNATS(t *testing.T, info, reply string) string {
	return scalertest.HostileTCP(t, func(conn net.Conn) {
		if _, err := conn.Write([]byte(info)); err != nil {
			return
		}
		r := bufio.NewReader(conn)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			switch {
			case strings.HasPrefix(line, "PING"):
				_, _ = conn.Write([]byte("PONG\r\n"))
			case strings.HasPrefix(line, "PUB"), strings.HasPrefix(line, "HPUB"):
				_, _ = r.ReadString('\n') // the payload
				_, _ = conn.Write([]byte(reply))
			}
		}
	})
}

func TestAHostileNATSServerIsRefusedBeforeNatsGoAllocates(t *testing.T) {
	cases := map[string]struct{ info, reply string }{
		"an answer announcing two billion bytes": {natsInfo, "MSG _INBOX.x 1 2000000000\r\n"},
		"an answer with 2 GB of headers":         {natsInfo, "HMSG _INBOX.x 1 100 2000000000\r\n"},
		"an endless INFO line":                   {"INFO {" + strings.Repeat("x", 4<<20), ""},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			addr := hostileNATS(t, c.info, c.reply)
			sc := scalertest.NewScaler(t, NewType(), trigger(map[string]string{"natsServerURL": "nats://" + addr, "stream": "s", "consumer": "c", "timeout": "3s"}, nil))
			err := scalertest.BoundedFailure(t, sc, 5*time.Second, 32<<20)
			if !errors.Is(err, scalers.ErrReplyTooLarge) {
				t.Errorf("Read = %v, want ErrReplyTooLarge", err)
			}
		})
	}
}

// Over tls://, the connection does the TLS upgrade itself after INFO, so
// that the check sees the server's plaintext; reads work as over nats://.
func TestATLSServerIsReadThroughTheCheck(t *testing.T) {
	dir := t.TempDir()
	pool := writeTLSPair(t, dir)
	srv := startServer(t, serverOptions{config: "tls {\n  cert_file: \"" + filepath.Join(dir, "cert.pem") + "\"\n  key_file: \"" + filepath.Join(dir, "key.pem") + "\"\n}\n"})
	a := connectAdmin(t, "tls://"+srv.addr, nats.Secure(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	stream := a.stream("tls")
	consumer, _ := a.pullConsumer(stream, "worker")
	a.publish(stream, 4)

	typ := NewType()
	typ.tlsRoots = pool
	meta := map[string]string{"stream": stream, "consumer": consumer}
	wantValue(t, scalertest.NewScaler(t, typ, trigger(scalertest.With(meta, "natsServerURL", "tls://"+srv.addr), nil)), 4)
	// A server that requires TLS is upgraded for a nats:// URL too, as
	// nats.go would.
	wantValue(t, scalertest.NewScaler(t, typ, trigger(scalertest.With(meta, "natsServerURL", "nats://"+srv.addr), nil)), 4)
	// Without the CA, the handshake fails: the certificate is checked.
	err := readError(t, scalertest.NewScaler(t, NewType(), trigger(scalertest.With(meta, "natsServerURL", "tls://"+srv.addr, "timeout", "3s"), nil)))
	if !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a server whose certificate is not trusted: %v", err)
	}
}

// writeTLSPair writes a self-signed certificate for 127.0.0.1 (cert.pem,
// key.pem) to dir and returns a pool that trusts it.
func writeTLSPair(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "nats-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return pool
}

// FuzzNATSStream feeds a server's bytes to the scanner: it never panics,
// and its verdict does not depend on how the bytes are split.
func FuzzNATSStream(f *testing.F) {
	f.Add([]byte(natsInfo+"PONG\r\nMSG _INBOX.a 1 2\r\n{}\r\n"), uint8(3))
	f.Add([]byte("HMSG a 1 12 14\r\nNATS/1.0\r\n\r\n{}\r\n"), uint8(1))
	f.Add([]byte("MSG a 1 2000000000\r\n"), uint8(5))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		whole := scanNATS(data, 0)
		if split := scanNATS(data, int(chunk)); (whole == nil) != (split == nil) {
			t.Fatalf("whole: %v; in chunks of %d: %v", whole, chunk, split)
		}
	})
}

// FuzzConsumerInfo feeds JetStream API answers to the decoding of a
// consumer's info: it never panics, and its errors never quote the answer.
func FuzzConsumerInfo(f *testing.F) {
	f.Add([]byte(`{"type":"io.nats.jetstream.api.v1.consumer_info_response","stream_name":"S","name":"C","num_pending":3,"num_ack_pending":1}`))
	f.Add([]byte(`{"error":{"code":404,"err_code":10014,"description":"consumer not found"}}`))
	f.Add([]byte(`[` + strings.Repeat(`{},`, 100) + `{}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var info consumerInfo
		err := scalers.DecodeJSON(data, consumerInfoLimits, &info)
		if err != nil && len(data) >= 8 && strings.Contains(err.Error(), string(data)) {
			t.Fatalf("error %q quotes the answer", err)
		}
	})
}
