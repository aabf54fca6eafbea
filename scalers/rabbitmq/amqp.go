// SPDX-License-Identifier: Apache-2.0

package rabbitmq

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ebbscale/ebb/scalers"
)

// amqpKey identifies one pooled AMQP connection: endpoint, vhost and
// credentials. It is never logged.
type amqpKey struct {
	tls      bool
	addr     string // host:port
	vhost    string
	username string
	password string
	tlsOpts  tlsOpts
}

// amqpConn is a pooled AMQP connection with a few idle channels kept for
// reuse, so that a read costs one queue.declare round trip.
type amqpConn struct {
	conn *amqp.Connection
	// broken is set before a connection that stopped answering is dropped:
	// closing it then skips the close handshake.
	broken atomic.Bool

	mu   sync.Mutex
	idle []*amqp.Channel
}

const (
	// maxIdleChannels bounds the channels an amqpConn keeps open between
	// reads; reads beyond it open (and close) their own.
	maxIdleChannels = 8
	// closeTimeout bounds the close handshake of a connection being dropped.
	closeTimeout = 2 * time.Second
)

// openAMQP dials the broker. The dial and the AMQP handshake end at ctx's
// deadline; when ctx is cancelled first, openAMQP returns at once and the
// connection, if it still opens, is closed.
func (t *Type) openAMQP(ctx context.Context, k amqpKey) (*amqpConn, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultTimeout)
	}
	// The TLS handshake is done here rather than by the client, so that
	// the frame check (wire.go) sees the broker's plaintext: the client is
	// always given amqp://.
	scheme := "amqp"
	var tlsConfig *tls.Config
	if k.tls {
		host, _, _ := net.SplitHostPort(k.addr)
		var err error
		if tlsConfig, err = k.tlsOpts.config(host); err != nil { // checked when the trigger was parsed
			return nil, err
		}
	}
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName("ebb rabbitmq scaler")
	cfg := amqp.Config{
		SASL:       []amqp.Authentication{&amqp.PlainAuth{Username: k.username, Password: k.password}},
		Vhost:      k.vhost,
		Heartbeat:  10 * time.Second,
		Properties: props,
		Locale:     "en_US",
		Dial: func(network, addr string) (net.Conn, error) {
			c, err := t.egress.Dialer(net.Dialer{})(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			// The TLS and AMQP handshakes end at the deadline; the client
			// clears it once the connection is open.
			if err := c.SetDeadline(deadline); err != nil {
				_ = c.Close()
				return nil, err
			}
			if tlsConfig != nil {
				tc := tls.Client(c, tlsConfig)
				if err := tc.HandshakeContext(ctx); err != nil {
					_ = c.Close()
					return nil, err
				}
				c = tc
			}
			return scalers.CheckedConn(c, &amqpScanner{}), nil
		},
	}
	type result struct {
		conn *amqp.Connection
		err  error
	}
	done := make(chan result, 1)
	go func() {
		var c *amqp.Connection
		err := scalers.Guard(func() error {
			var err error
			c, err = amqp.DialConfig(scheme+"://"+k.addr+"/", cfg)
			return err
		})
		done <- result{c, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("connecting to %s: %w", k.addr, err)
			}
			if !time.Now().Before(deadline) {
				// The socket's deadline is ctx's, and it may pass a moment
				// before ctx says so: the handshake ran out of time.
				return nil, fmt.Errorf("connecting to %s: %w", k.addr, context.DeadlineExceeded)
			}
			return nil, describeDialError(r.err, k)
		}
		t.dials.Add(1)
		return &amqpConn{conn: r.conn}, nil
	case <-ctx.Done():
		// The handshake is bounded by the deadline set in Dial, so this
		// goroutine ends by then.
		go func() {
			if r := <-done; r.conn != nil {
				_ = scalers.Guard(func() error { return r.conn.CloseDeadline(time.Now().Add(closeTimeout)) })
			}
		}()
		return nil, fmt.Errorf("connecting to %s: %w", k.addr, ctx.Err())
	}
}

func describeDialError(err error, k amqpKey) error {
	var ae *amqp.Error
	if errors.As(err, &ae) {
		switch {
		case ae == amqp.ErrVhost || strings.Contains(ae.Reason, "vhost"):
			return fmt.Errorf("connecting to %s: vhost %q: %w", k.addr, k.vhost, ErrVhostNotFound)
		case ae == amqp.ErrCredentials || ae.Code == amqp.AccessRefused:
			return fmt.Errorf("connecting to %s: the broker refused the credentials", k.addr)
		}
	}
	return fmt.Errorf("connecting to %s: %w", k.addr, brokerWords(err))
}

func closeAMQP(c *amqpConn) {
	c.mu.Lock()
	c.idle = nil // closing the connection closes its channels
	c.mu.Unlock()
	deadline := time.Now().Add(closeTimeout)
	if c.broken.Load() {
		deadline = time.Now() // nothing will answer: just shut the socket
	}
	_ = c.conn.CloseDeadline(deadline)
}

func sameAMQP(a, b *amqpConn) bool { return a == b }

// channel takes an idle channel or opens one.
func (c *amqpConn) channel() (*amqp.Channel, error) {
	c.mu.Lock()
	for len(c.idle) > 0 {
		ch := c.idle[len(c.idle)-1]
		c.idle = c.idle[:len(c.idle)-1]
		if !ch.IsClosed() {
			c.mu.Unlock()
			return ch, nil
		}
	}
	c.mu.Unlock()
	return c.conn.Channel()
}

// putChannel keeps a healthy channel for the next read, or closes it when
// enough are kept.
func (c *amqpConn) putChannel(ch *amqp.Channel) {
	c.mu.Lock()
	if len(c.idle) < maxIdleChannels && !ch.IsClosed() {
		c.idle = append(c.idle, ch)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	_ = ch.Close()
}

// ready returns the number of messages ready for delivery in queue, by a
// passive declare. A missing queue closes the channel (the broker answers
// 404); the connection stays usable.
func (c *amqpConn) ready(queue string) (int, error) {
	ch, err := c.channel()
	if err != nil {
		return 0, err
	}
	q, err := ch.QueueDeclarePassive(queue, false, false, false, false, nil)
	if err != nil {
		_ = ch.Close()
		return 0, err
	}
	c.putChannel(ch)
	return q.Messages, nil
}

// readAMQP reads the queue's ready messages over the pooled connection. A
// connection that was closed (broker restart, network) is replaced; one that
// fails or stalls during the read is dropped so that the next read reconnects.
func (s *scaler) readAMQP(ctx context.Context) (float64, error) {
	k := s.plan.amqp
	c, err := s.amqpLease.Get(ctx)
	if err != nil {
		return 0, err
	}
	if c.conn.IsClosed() {
		s.invalidateAMQP(ctx, c)
		if c, err = s.amqpLease.Get(ctx); err != nil {
			return 0, err
		}
	}
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		var n int
		err := scalers.Guard(func() error {
			var err error
			n, err = c.ready(s.plan.queue)
			return err
		})
		done <- result{n, err}
	}()
	select {
	case r := <-done:
		if r.err == nil {
			return float64(r.n), nil
		}
		var ae *amqp.Error
		if errors.As(r.err, &ae) && ae.Code == amqp.NotFound {
			return 0, fmt.Errorf("queue %q in vhost %q at %s: %w", s.plan.queue, k.vhost, k.addr, ErrQueueNotFound)
		}
		if c.conn.IsClosed() || errors.Is(r.err, amqp.ErrClosed) || (ae != nil && !ae.Recover) {
			s.invalidateAMQP(ctx, c)
		}
		return 0, fmt.Errorf("reading queue %q in vhost %q at %s: %w", s.plan.queue, k.vhost, k.addr, brokerWords(r.err))
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			// The broker did not answer in time: the connection may be
			// wedged (a half-open TCP connection); start afresh next time.
			c.broken.Store(true)
			s.invalidateAMQP(ctx, c)
		}
		return 0, fmt.Errorf("reading queue %q in vhost %q at %s: %w", s.plan.queue, k.vhost, k.addr, ctx.Err())
	}
}

// invalidateAMQP drops c from the pool, even when ctx is already done.
func (s *scaler) invalidateAMQP(ctx context.Context, c *amqpConn) {
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout+time.Second)
	defer cancel()
	s.amqpLease.Invalidate(ictx, c, sameAMQP)
}

// brokerWords returns err with the text of an error the broker sent (an
// AMQP close with its reply text) replaced by its reply code: the reply
// text is the server's, and no byte of a tenant's server reaches a status.
// errors.Is and errors.As still see err.
func brokerWords(err error) error {
	var ae *amqp.Error
	if !errors.As(err, &ae) || !ae.Server {
		return err
	}
	return &brokerError{code: ae.Code, err: err}
}

type brokerError struct {
	code int
	err  error
}

func (e *brokerError) Error() string {
	what := "channel"
	if isConnectionCode(e.code) {
		what = "connection"
	}
	return fmt.Sprintf("the broker closed the %s with AMQP reply code %d", what, e.code)
}

func (e *brokerError) Unwrap() error { return e.err }

// isConnectionCode says whether an AMQP reply code closes the connection
// (the hard errors, 320 and 500-541) rather than a channel.
func isConnectionCode(code int) bool { return code == amqp.ConnectionForced || code >= 500 }
