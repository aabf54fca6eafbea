// SPDX-License-Identifier: Apache-2.0

package external

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/ebbscale/ebb/scalers"
	pb "github.com/ebbscale/ebb/scalers/external/externalscalerpb"
)

// maxReply bounds one message from a server (a reply, or one message of a
// stream): far more than a real answer needs (a few metrics of a few
// bytes each), small enough that a hostile server costs nothing.
const maxReply = 64 << 10

// connKey identifies one gRPC connection: the server and the TLS material.
// It holds a private key: it is never logged.
type connKey struct {
	addr          string
	tls, unsafe   bool
	ca, cert, key string
}

// conn is one pooled gRPC connection to a server, shared by every trigger
// on it.
type conn struct {
	cc     *grpc.ClientConn
	client pb.ExternalScalerClient
	addr   string

	mu sync.Mutex
	// lastFailure is why the last connection attempt failed, in Ebb's
	// words (a refused dial, an egress refusal, a TLS verdict), or nil
	// once one succeeded: a call that fails with Unavailable says it.
	lastFailure error
}

// openConn builds the connection for k. grpc.NewClient does no I/O: the
// channel connects on its first call, through the egress policy's dialer,
// and reconnects by itself (with a back-off of at most 5 s) after a failure.
func (t *shared) openConn(_ context.Context, k connKey) (*conn, error) {
	c := &conn{addr: k.addr}
	creds := insecure.NewCredentials()
	if k.tls {
		cfg, err := scalers.ClientTLS(scalers.TLSKeys{CA: k.ca, Cert: k.cert, Key: k.key})
		if err != nil {
			return nil, renameTLSKey(err)
		}
		if host, _, err := net.SplitHostPort(k.addr); err == nil {
			cfg.ServerName = host
		}
		cfg.InsecureSkipVerify = k.unsafe //nolint:gosec // the trigger's unsafeSsl asks for it
		creds = &noting{TransportCredentials: credentials.NewTLS(cfg), c: c}
	}
	dial := t.egress.Dialer(net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second})
	cc, err := grpc.NewClient("passthrough:///"+k.addr,
		grpc.WithTransportCredentials(creds),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			t.dials.Add(1)
			nc, err := dial(ctx, "tcp", addr)
			if err != nil {
				c.note(err)
			} else if !k.tls {
				c.note(nil)
			}
			return nc, err
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxReply)),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 500 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 5 * time.Second},
			MinConnectTimeout: 10 * time.Second,
		}),
		// gRPC servers refuse pings more often than every 5 minutes by
		// default; a dead peer under a stream is found within 5m20s.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 5 * time.Minute, Timeout: 20 * time.Second}),
		grpc.WithUserAgent("ebb-external-scaler"),
	)
	if err != nil {
		return nil, fmt.Errorf("external scaler %s: %w", k.addr, err)
	}
	c.cc, c.client = cc, pb.NewExternalScalerClient(cc)
	return c, nil
}

func closeConn(c *conn) { _ = c.cc.Close() }

func (c *conn) note(err error) {
	c.mu.Lock()
	c.lastFailure = err
	c.mu.Unlock()
}

func (c *conn) failure() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastFailure
}

// callError describes a failed call (made with ctx) in Ebb's words: the method and the
// gRPC code, and for a connection that could not be made, why (a refused
// dial, an egress refusal, a TLS verdict). The status message is the
// server's text and is never shown.
func (c *conn) callError(ctx context.Context, method string, err error, timeout time.Duration) error {
	code := status.Code(err)
	// The server sees the deadline too and may answer first: the call's
	// own context says whether it timed out.
	switch ctxErr := ctx.Err(); {
	case errors.Is(ctxErr, context.DeadlineExceeded) || code == codes.DeadlineExceeded:
		return fmt.Errorf("external scaler %s: %s: no answer within %s", c.addr, method, timeout)
	case ctxErr != nil || code == codes.Canceled:
		return fmt.Errorf("external scaler %s: %s: cancelled", c.addr, method)
	case code == codes.Unavailable:
		if f := c.failure(); f != nil {
			return fmt.Errorf("external scaler %s: %s: cannot connect: %w", c.addr, method, f)
		}
		return fmt.Errorf("external scaler %s: %s: the connection failed (gRPC code Unavailable)", c.addr, method)
	case code == codes.ResourceExhausted:
		return fmt.Errorf("external scaler %s: %s: %w (gRPC code ResourceExhausted; replies are limited to %d bytes)", c.addr, method, scalers.ErrReplyTooLarge, maxReply)
	}
	return fmt.Errorf("external scaler %s: %s: the server answered gRPC code %s", c.addr, method, code)
}

// noting records the verdict of each TLS handshake on its conn, in Ebb's
// words: a certificate's names and the server's alerts are the server's
// text.
type noting struct {
	credentials.TransportCredentials
	c *conn
}

func (n *noting) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	nc, info, err := n.TransportCredentials.ClientHandshake(ctx, authority, raw)
	if err != nil {
		n.c.note(tlsVerdict(err))
	} else {
		n.c.note(nil)
	}
	return nc, info, err
}

func (n *noting) Clone() credentials.TransportCredentials {
	return &noting{TransportCredentials: n.TransportCredentials.Clone(), c: n.c}
}

// tlsVerdict says why a handshake failed without quoting the server.
func tlsVerdict(err error) error {
	var (
		unknown   x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		header    tls.RecordHeaderError
		alert     tls.AlertError
		verifyErr *tls.CertificateVerificationError
	)
	switch {
	case errors.As(err, &unknown):
		return errors.New("TLS: the server's certificate is not signed by a trusted CA (caCert)")
	case errors.As(err, &hostname):
		return errors.New("TLS: the server's certificate is not valid for the host of scalerAddress")
	case errors.As(err, &invalid):
		return fmt.Errorf("TLS: the server's certificate is not valid (x509 reason %d: expired or not yet valid, or not for servers)", invalid.Reason)
	case errors.As(err, &header):
		return errors.New("TLS: the server does not speak TLS")
	case errors.As(err, &alert):
		return fmt.Errorf("TLS: the server refused the handshake (alert %d)", uint8(alert))
	case errors.As(err, &verifyErr):
		return errors.New("TLS: the server's certificate could not be verified")
	case errors.Is(err, context.DeadlineExceeded):
		return errors.New("TLS: the handshake timed out")
	}
	return errors.New("TLS: the handshake failed")
}
