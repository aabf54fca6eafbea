// SPDX-License-Identifier: Apache-2.0

package sqltest

import (
	"encoding/binary"
	"testing"

	"github.com/ebbscale/ebb/tests/faultproxy"
)

// Proxy is the fault proxy of tests/faultproxy.
type Proxy = faultproxy.Proxy

// Counter counts queries in a client's byte stream.
type Counter = faultproxy.Counter

// NewProxy starts a fault proxy to target; count, if not nil, makes one
// Counter per client connection (PostgresCounter, MySQLCounter).
func NewProxy(t testing.TB, target string, count func() Counter) *Proxy {
	t.Helper()
	return faultproxy.New(t, target, count)
}

// PostgresCounter counts the PostgreSQL frontend messages that run a
// statement: Query ('Q', the simple protocol) and Execute ('E').
func PostgresCounter() Counter { return &pgCounter{} }

type pgCounter struct {
	buf     []byte
	started bool // the startup message has been seen; messages are typed from then on
}

func (c *pgCounter) Feed(p []byte) int {
	c.buf = append(c.buf, p...)
	n := 0
	for {
		if !c.started {
			// Untyped: SSLRequest, GSSENCRequest or StartupMessage: int32 length, int32 code.
			if len(c.buf) < 8 {
				return n
			}
			l := int(binary.BigEndian.Uint32(c.buf))
			if len(c.buf) < l {
				return n
			}
			code := binary.BigEndian.Uint32(c.buf[4:])
			if code>>16 == 3 { // protocol 3.x: the startup message
				c.started = true
			}
			c.buf = c.buf[l:]
			continue
		}
		if len(c.buf) < 5 {
			return n
		}
		l := int(binary.BigEndian.Uint32(c.buf[1:]))
		if len(c.buf) < 1+l {
			return n
		}
		if c.buf[0] == 'Q' || c.buf[0] == 'E' {
			n++
		}
		c.buf = c.buf[1+l:]
	}
}

// MySQLCounter counts the MySQL client commands that run a statement:
// COM_QUERY and COM_STMT_EXECUTE, sent as packets with sequence number 0.
func MySQLCounter() Counter { return &mysqlCounter{} }

type mysqlCounter struct {
	buf []byte
}

func (c *mysqlCounter) Feed(p []byte) int {
	c.buf = append(c.buf, p...)
	n := 0
	for len(c.buf) >= 4 {
		l := int(c.buf[0]) | int(c.buf[1])<<8 | int(c.buf[2])<<16
		if len(c.buf) < 4+l {
			break
		}
		seq := c.buf[3]
		if seq == 0 && l > 0 && (c.buf[4] == 0x03 || c.buf[4] == 0x17) {
			n++
		}
		c.buf = c.buf[4+l:]
	}
	return n
}
