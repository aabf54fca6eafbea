// SPDX-License-Identifier: Apache-2.0

package natsjetstream

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ebbscale/ebb/scalers"
)

// Bounded protocol.
//
// nats.go reads control lines of any length and, for a message (MSG, HMSG),
// allocates the size its header announces before the payload arrives; its
// reader runs on a goroutine of its own, where a panic or an allocation of
// gigabytes takes the process down. natsWire stands between the socket and
// nats.go and checks every line and every announced size first, refusing
// the connection past these bounds. Ebb's connection carries the server's
// INFO and the answers to its JetStream API requests (a consumer's info, a
// few KiB), nothing else.
const (
	// natsMaxLine bounds a control line. The largest is INFO, which lists
	// the cluster's client URLs: a few KiB for a large cluster.
	natsMaxLine = 64 << 10
	// natsMaxPayload bounds a message: a consumer info answer is 1 to 2
	// KiB (consumerInfoLimits bounds its decoding at 1 MiB).
	natsMaxPayload = 1 << 20
)

// natsWire is the connection nats.go reads through: it checks the byte
// stream (natsScanner) and, since nats.go would otherwise wrap the socket in
// TLS itself, out of the checker's sight, it also does the TLS upgrade:
// after the server's INFO, when the URL is tls:// or INFO says TLS is
// required (the rule nats.go follows), and before the first byte the client
// writes (CONNECT). The dialer tells nats.go to skip its own handshake
// (ctxDialer.SkipTLSHandshake).
type natsWire struct {
	raw    net.Conn
	conn   atomic.Pointer[net.Conn] // raw, or the TLS connection once up
	secure bool                     // a tls:// URL: TLS whatever INFO says
	tls    *tls.Config

	mu      sync.Mutex // guards scan, upgrade and failed
	scan    natsScanner
	upgrade bool  // INFO asked for TLS, not set up yet
	failed  error // the check's refusal, for every later read
}

func newNATSWire(raw net.Conn, secure bool, serverName string, roots *x509.CertPool) *natsWire {
	w := &natsWire{raw: raw, secure: secure, tls: &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12, RootCAs: roots}}
	w.conn.Store(&raw)
	w.scan.onInfo = w.info
	return w
}

func (w *natsWire) current() net.Conn { return *w.conn.Load() }

// info is called with the server's INFO line, under mu.
func (w *natsWire) info(tlsRequired bool) {
	if (w.secure || tlsRequired) && w.current() == w.raw {
		w.upgrade = true
	}
}

func (w *natsWire) Read(p []byte) (int, error) {
	w.mu.Lock()
	failed := w.failed
	w.mu.Unlock()
	if failed != nil {
		return 0, failed
	}
	n, err := w.current().Read(p)
	if n > 0 {
		w.mu.Lock()
		cerr := w.scan.Check(p[:n])
		if cerr != nil {
			w.failed = cerr
		}
		w.mu.Unlock()
		if cerr != nil {
			_ = w.raw.Close()
			return 0, cerr
		}
	}
	return n, err
}

func (w *natsWire) Write(p []byte) (int, error) {
	w.mu.Lock()
	due := w.upgrade
	w.upgrade = false
	w.mu.Unlock()
	if due {
		// nats.go set the connect deadline on the socket; the handshake
		// honours it.
		tc := tls.Client(w.raw, w.tls)
		if err := tc.Handshake(); err != nil {
			return 0, fmt.Errorf("TLS handshake: %w", err)
		}
		var c net.Conn = tc
		w.conn.Store(&c)
	}
	return w.current().Write(p)
}

func (w *natsWire) Close() error                       { return w.current().Close() }
func (w *natsWire) LocalAddr() net.Addr                { return w.raw.LocalAddr() }
func (w *natsWire) RemoteAddr() net.Addr               { return w.raw.RemoteAddr() }
func (w *natsWire) SetDeadline(t time.Time) error      { return w.raw.SetDeadline(t) }
func (w *natsWire) SetReadDeadline(t time.Time) error  { return w.raw.SetReadDeadline(t) }
func (w *natsWire) SetWriteDeadline(t time.Time) error { return w.raw.SetWriteDeadline(t) }

// natsScanner is a scalers.WireChecker for the server's side of the NATS
// protocol: control lines (INFO, MSG, HMSG, PING, PONG, +OK, -ERR) and
// message payloads. It keeps the current line (at most natsMaxLine bytes)
// to read the sizes a MSG or HMSG line announces.
type natsScanner struct {
	line []byte
	skip int64 // payload bytes and CRLF still to come
	// onInfo, when set, is told whether INFO says TLS is required.
	onInfo func(tlsRequired bool)
}

var _ scalers.WireChecker = (*natsScanner)(nil)

// errNotNATS is a byte stream that does not follow the NATS protocol where
// a size must be read from it.
var errNotNATS = errors.New("refusing the server's data: a message header is malformed (is this a NATS server?)")

func (s *natsScanner) Check(p []byte) error {
	for len(p) > 0 {
		if s.skip > 0 {
			n := min(int64(len(p)), s.skip)
			s.skip -= n
			p = p[n:]
			continue
		}
		i := bytes.IndexByte(p, '\n')
		end := len(p)
		if i >= 0 {
			end = i
		}
		if len(s.line)+end > natsMaxLine {
			return fmt.Errorf("refusing the server's data: %w", &scalers.TooLargeError{What: "bytes in a protocol line", Limit: natsMaxLine})
		}
		s.line = append(s.line, p[:end]...)
		if i < 0 {
			return nil
		}
		p = p[i+1:]
		if err := s.endLine(); err != nil {
			return err
		}
		s.line = s.line[:0]
	}
	return nil
}

func (s *natsScanner) endLine() error {
	fields := bytes.Fields(s.line)
	if len(fields) == 0 {
		return nil
	}
	switch string(bytes.ToUpper(fields[0])) {
	case "MSG":
		if len(fields) != 4 && len(fields) != 5 {
			return errNotNATS
		}
		size, ok := natsSize(fields[len(fields)-1])
		if !ok {
			return errNotNATS
		}
		return s.payload(size)
	case "HMSG":
		if len(fields) != 5 && len(fields) != 6 {
			return errNotNATS
		}
		head, ok1 := natsSize(fields[len(fields)-2])
		size, ok2 := natsSize(fields[len(fields)-1])
		if !ok1 || !ok2 || head > size {
			return errNotNATS
		}
		return s.payload(size)
	case "INFO":
		if s.onInfo != nil {
			var info struct {
				TLSRequired bool `json:"tls_required"`
			}
			args := bytes.TrimSpace(s.line[len(fields[0]):])
			_ = json.Unmarshal(args, &info) // nats.go reports a bad INFO itself
			s.onInfo(info.TLSRequired)
		}
	}
	return nil
}

func (s *natsScanner) payload(size int64) error {
	if size > natsMaxPayload {
		return fmt.Errorf("refusing the server's data: %w", &scalers.TooLargeError{What: "bytes in a message", Limit: natsMaxPayload})
	}
	s.skip = size + 2 // and CRLF
	return nil
}

// natsSize reads a size as nats.go does (decimal digits only), saturating
// past every bound.
func natsSize(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = min(n*10+int64(c-'0'), 1<<40)
	}
	return n, true
}
