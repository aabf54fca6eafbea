// SPDX-License-Identifier: Apache-2.0

package natsjetstream

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/ebbscale/ebb/scalers"
)

const (
	// connectionName is how the pooled connections show in the server's
	// /connz.
	connectionName = "ebb nats-jetstream scaler"
	// pingInterval and maxPingsOut bound how long a connection that stopped
	// answering stays in the pool: nats.go closes it after maxPingsOut
	// unanswered pings, and the next read opens a new one.
	pingInterval = 5 * time.Second
	maxPingsOut  = 2
	// defaultConnectTimeout bounds a connect when the read has no deadline
	// (Read always sets one; this is a backstop).
	defaultConnectTimeout = 10 * time.Second
)

// natsConn is a pooled NATS connection. The connection does not reconnect
// by itself: when it closes (the server went away, pings went unanswered)
// the next read drops it from the pool and opens a new one.
type natsConn struct {
	nc *nats.Conn
	// lastErr is the last error the server sent on its own (a permissions
	// violation, say), shown when a request then gets no answer.
	lastErr atomic.Pointer[asyncError]
}

type asyncError struct {
	at  time.Time
	err error
}

// ctxDialer dials with the context of the read that opens the connection,
// so that cancelling the read stops the dial. It keeps the last dial error:
// nats.go reports only that no server was available. The connection it
// returns checks what the server sends and does the TLS upgrade itself
// (wire.go), so nats.go is told to skip its own.
type ctxDialer struct {
	ctx     context.Context
	dial    scalers.DialFunc // under the operator's egress policy
	secure  bool             // a tls:// URL among the servers
	roots   *x509.CertPool   // nil: the system's
	lastErr atomic.Pointer[error]
}

func (d *ctxDialer) Dial(network, address string) (net.Conn, error) {
	c, err := d.dial(d.ctx, network, address)
	if err != nil {
		d.lastErr.Store(&err)
		return nil, err
	}
	host, _, _ := net.SplitHostPort(address)
	return newNATSWire(c, d.secure, host, d.roots), nil
}

// SkipTLSHandshake tells nats.go that the connection does TLS itself.
func (d *ctxDialer) SkipTLSHandshake() bool { return true }

// openConn connects to the servers of k. The dial and the NATS handshake end
// at ctx's deadline; when ctx is cancelled first, openConn returns at once and
// the connection, if it still opens, is closed.
func (t *Type) openConn(ctx context.Context, k connKey) (*natsConn, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultConnectTimeout)
	}
	timeout := time.Until(deadline)
	if timeout <= 0 {
		return nil, fmt.Errorf("connecting to %s: %w", k.servers, context.DeadlineExceeded)
	}
	c := &natsConn{}
	dialer := &ctxDialer{ctx: ctx, dial: t.egress.Dialer(net.Dialer{}), secure: hasTLSURL(k.servers), roots: t.tlsRoots}
	opts := []nats.Option{
		nats.Name(connectionName),
		nats.NoReconnect(),
		nats.Timeout(timeout),
		nats.SkipHostLookup(), // the dialer resolves names, with ctx
		nats.SetCustomDialer(dialer),
		nats.PingInterval(pingInterval),
		nats.MaxPingsOutstanding(maxPingsOut),
		nats.NoCallbacksAfterClientClose(),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			c.lastErr.Store(&asyncError{at: time.Now(), err: err})
		}),
	}
	switch {
	case k.nkeySeed != "":
		kp, err := nkeys.FromSeed([]byte(k.nkeySeed))
		if err != nil {
			return nil, errors.New("the nkeySeed is not a valid NKey seed")
		}
		pub, err := kp.PublicKey()
		if err != nil {
			return nil, errors.New("the nkeySeed is not a valid NKey seed")
		}
		opts = append(opts, nats.Nkey(pub, kp.Sign))
	case k.token != "":
		opts = append(opts, nats.Token(k.token))
	case k.username != "" || k.password != "":
		opts = append(opts, nats.UserInfo(k.username, k.password))
	}

	type result struct {
		nc  *nats.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		var nc *nats.Conn
		err := scalers.Guard(func() error {
			var err error
			nc, err = nats.Connect(k.servers, opts...)
			return err
		})
		done <- result{nc, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("connecting to %s: %w", k.servers, err)
			}
			return nil, describeConnectError(r.err, dialer, k.servers)
		}
		t.dials.Add(1)
		c.nc = r.nc
		return c, nil
	case <-ctx.Done():
		// The dial follows ctx and the handshake ends at its deadline, so
		// this goroutine ends by then.
		go func() {
			if r := <-done; r.nc != nil {
				_ = scalers.Guard(func() error { r.nc.Close(); return nil })
			}
		}()
		return nil, fmt.Errorf("connecting to %s: %w", k.servers, ctx.Err())
	}
}

func describeConnectError(err error, d *ctxDialer, servers string) error {
	// nats.go gives a -ERR the server sends while connecting as a new error
	// with the server's words: only its kind is told.
	lower := strings.ToLower(err.Error())
	switch {
	case errors.Is(err, nats.ErrAuthorization), errors.Is(err, nats.ErrAuthExpired), errors.Is(err, nats.ErrAuthRevoked),
		strings.HasPrefix(lower, "nats: authorization violation"), strings.HasPrefix(lower, "nats: authentication"),
		strings.HasPrefix(lower, "nats: user authentication"):
		return fmt.Errorf("connecting to %s: the server refused the credentials", servers)
	case errors.Is(err, nats.ErrNoServers):
		if last := d.lastErr.Load(); last != nil {
			return fmt.Errorf("connecting to %s: %w", servers, *last)
		}
		return fmt.Errorf("connecting to %s: no server answered", servers)
	}
	return fmt.Errorf("connecting to %s: %w", servers, natsWords(err))
}

// natsOwn are nats.go's errors whose text is its own.
var natsOwn = []error{
	nats.ErrConnectionClosed, nats.ErrTimeout, nats.ErrNoServers, nats.ErrNoResponders,
	nats.ErrAuthorization, nats.ErrAuthExpired, nats.ErrAuthRevoked, nats.ErrPermissionViolation,
	nats.ErrStaleConnection, nats.ErrMaxConnectionsExceeded, nats.ErrSecureConnRequired,
	nats.ErrSecureConnWanted, nats.ErrMaxPayload, nats.ErrConnectionDraining, nats.ErrDrainTimeout,
	nats.ErrBadSubject, nats.ErrInvalidConnection, nats.ErrNoInfoReceived, nats.ErrInvalidContext,
}

// natsWords returns err in words that hold no byte the server sent: one of
// nats.go's own errors by its text alone (nats.go appends what the server
// said to some), a dial or wire failure as it is, anything else as "the
// server answered with an error". errors.Is still sees err.
func natsWords(err error) error {
	var op *net.OpError
	var tooLarge *scalers.TooLargeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &op), errors.As(err, &tooLarge), errors.Is(err, errNotNATS),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return err
	}
	if w := scalers.CertificateWords(err); w != err {
		return w
	}
	for _, own := range natsOwn {
		if errors.Is(err, own) {
			return scalers.Reword(err, own.Error())
		}
	}
	return scalers.Reword(err, "the server answered with an error")
}

func closeConn(c *natsConn) { c.nc.Close() }

// hasTLSURL says whether a server list has a tls:// URL: nats.go then uses
// TLS with every server of the list.
func hasTLSURL(servers string) bool {
	for u := range strings.SplitSeq(servers, ",") {
		if strings.HasPrefix(strings.TrimSpace(u), "tls://") {
			return true
		}
	}
	return false
}

func sameConn(a, b *natsConn) bool { return a == b }

// consumerInfoLimits bound the JetStream API's consumer info answer: a
// consumer's configuration and state, 1 to 2 KiB and fewer than 100 JSON
// values (a consumer filtering on many subjects lists them all).
var consumerInfoLimits = scalers.JSONLimits{Bytes: 1 << 20, Values: 20_000, Depth: 16}

// consumerInfo is the part of the JetStream API's consumer info answer Ebb
// reads.
type consumerInfo struct {
	Error *struct {
		Code        int                 `json:"code"`
		ErrCode     jetstream.ErrorCode `json:"err_code"`
		Description string              `json:"description"`
	} `json:"error"`
	Stream        string `json:"stream_name"`
	Name          string `json:"name"`
	NumPending    uint64 `json:"num_pending"`
	NumAckPending uint64 `json:"num_ack_pending"`
}

// readProtocol asks the JetStream API for the consumer's info over the
// pooled connection. A connection that was closed is replaced.
func (s *scaler) readProtocol(ctx context.Context) (counts, error) {
	p := &s.plan
	c, err := s.connLease.Get(ctx)
	if err != nil {
		return counts{}, err
	}
	if c.nc.IsClosed() {
		s.invalidate(ctx, c)
		if c, err = s.connLease.Get(ctx); err != nil {
			return counts{}, err
		}
	}
	what := fmt.Sprintf("consumer %q of stream %q at %s", p.consumer, p.stream, p.where)
	s.typ.requests.Add(1)
	start := time.Now()
	msg, err := c.nc.RequestWithContext(ctx, jetstream.DefaultAPIPrefix+"CONSUMER.INFO."+p.stream+"."+p.consumer, nil)
	if err != nil {
		switch {
		case errors.Is(err, nats.ErrNoResponders):
			return counts{}, fmt.Errorf("reading %s: %w for the account (no responder on the JetStream API)", what, ErrJetStreamNotEnabled)
		case errors.Is(err, nats.ErrConnectionClosed), c.nc.IsClosed():
			s.invalidate(ctx, c)
			// The connection refused what the server sent (wire.go): say
			// so rather than only that it closed.
			if le := c.nc.LastError(); errors.Is(le, scalers.ErrReplyTooLarge) || errors.Is(le, errNotNATS) {
				return counts{}, fmt.Errorf("reading %s: %w", what, le)
			}
		case ctx.Err() != nil:
			if ae := c.lastErr.Load(); ae != nil && !ae.at.Before(start) {
				return counts{}, fmt.Errorf("reading %s: %w (the server reported: %s)", what, ctx.Err(), natsWords(ae.err))
			}
		}
		return counts{}, fmt.Errorf("reading %s: %w", what, natsWords(err))
	}
	var info consumerInfo
	if err := scalers.DecodeJSON(msg.Data, consumerInfoLimits, &info); err != nil {
		return counts{}, fmt.Errorf("reading %s: the JetStream API's answer does not decode: %w", what, err)
	}
	if e := info.Error; e != nil {
		switch e.ErrCode {
		case jetstream.JSErrCodeStreamNotFound:
			return counts{}, fmt.Errorf("stream %q at %s: %w", p.stream, p.where, ErrStreamNotFound)
		case jetstream.JSErrCodeConsumerNotFound:
			return counts{}, fmt.Errorf("%s: %w", what, ErrConsumerNotFound)
		case jetstream.JSErrCodeJetStreamNotEnabledForAccount, jetstream.JSErrCodeJetStreamNotEnabled:
			return counts{}, fmt.Errorf("reading %s: %w for the account", what, ErrJetStreamNotEnabled)
		}
		// The description is the server's words: not repeated.
		return counts{}, fmt.Errorf("reading %s: the JetStream API answered code %d (error code %d)", what, e.Code, e.ErrCode)
	}
	if info.Name != p.consumer || info.Stream != p.stream {
		return counts{}, fmt.Errorf("reading %s: the JetStream API answered for another consumer", what)
	}
	return counts{pending: info.NumPending, ackPending: info.NumAckPending}, nil
}

// invalidate drops c from the pool, even when ctx is already done.
func (s *scaler) invalidate(ctx context.Context, c *natsConn) {
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	s.connLease.Invalidate(ictx, c, sameConn)
}
