// SPDX-License-Identifier: Apache-2.0

package scalers

import (
	"net"
	"sync"
)

// WireChecker follows a protocol's byte stream from a source as a client
// library reads it, and refuses it where it exceeds a bound: a length or a
// count announced that the library would allocate before the data arrive, a
// nesting its recursive decoder would follow. Check is given every chunk
// read, in order; once it returns an error it is not called again.
type WireChecker interface {
	Check(p []byte) error
}

// CheckedConn returns conn with its reads passed through check before the
// caller sees them: the read that brings bytes check refuses fails with
// check's error instead (its bytes are dropped), the connection is closed,
// and every later read fails the same way. A library reading through it
// never sees a refused header, so never allocates what it announced.
func CheckedConn(conn net.Conn, check WireChecker) net.Conn {
	return &checkedConn{Conn: conn, check: check}
}

type checkedConn struct {
	net.Conn
	check WireChecker

	mu  sync.Mutex // guards err; reads are not concurrent, but Close may race
	err error
}

func (c *checkedConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	failed := c.err
	c.mu.Unlock()
	if failed != nil {
		return 0, failed
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		if cerr := c.check.Check(p[:n]); cerr != nil {
			c.mu.Lock()
			c.err = cerr
			c.mu.Unlock()
			_ = c.Conn.Close()
			return 0, cerr
		}
	}
	return n, err
}
