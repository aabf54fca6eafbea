// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"errors"
	"fmt"

	"github.com/ebbscale/ebb/scalers"
)

// Bounds of a reply from a Redis server. go-redis allocates what a reply
// announces before the data arrive (an array of n elements, a bulk string
// of n bytes) and reads lines of any length and nesting of any depth, so a
// server that is not Redis, or one that lies, could make it allocate
// gigabytes from a few bytes, or overflow the stack. respScanner follows the
// byte stream of every connection and refuses a reply past these bounds
// before go-redis reads its header.
//
// Ebb's commands (LLEN, XLEN, XPENDING's summary, XINFO GROUPS, an XRANGE of
// at most lagScanLimit entries, TYPE, and the connection's AUTH, SELECT and
// CLIENT SETNAME) get small replies: a few integers, a list of consumer
// groups, at most 100 stream entries. The bounds leave room for streams
// with thousands of groups or consumers and entries of several MiB.
const (
	// respMaxLine bounds a line: a simple string, an error, a number or a
	// length. Redis's own error messages are below 1 KiB.
	respMaxLine = 64 << 10
	// respMaxBulk bounds a bulk string (and a RESP3 blob error or verbatim
	// string): a stream entry's field value in an XRANGE reply is the
	// largest Ebb reads.
	respMaxBulk = 16 << 20
	// respMaxCount bounds one aggregate's elements (array, set, push; a map
	// or an attribute counts two per entry). XINFO GROUPS lists a stream's
	// groups, XPENDING's summary its consumers with pending entries.
	respMaxCount = 1 << 20
	// respMaxElements bounds the elements of one reply, all levels.
	respMaxElements = 1 << 20
	// respMaxReply bounds one reply's bytes: 100 XRANGE entries of a few
	// hundred KiB each.
	respMaxReply = 64 << 20
	// respMaxDepth bounds nesting: Ebb's replies nest at most 4 levels
	// (XRANGE: entries, entry, fields), and go-redis reads recursively.
	respMaxDepth = 16
)

// errNotRESP is a byte stream that is not RESP2 or RESP3 as go-redis reads
// it (or uses RESP3's streamed types, which Ebb never asks for).
var errNotRESP = errors.New("refusing the server's reply: it is not a Redis reply (RESP)")

// respScanner is a scalers.WireChecker for RESP2 and RESP3: a state machine
// over type bytes, lengths and bulk payloads, with a stack of the open
// aggregates' remaining elements. It holds no reply data.
type respScanner struct {
	state respState
	typ   byte  // the type byte of the header being read
	line  int   // bytes of the current line so far
	num   int64 // the number being read from a header line
	neg   bool  // it has a minus sign
	digit bool  // it has a digit
	bad   bool  // the line is not a number (where one is needed)
	skip  int64 // payload bytes (and CRLF) left of a bulk string

	stack []respFrame
	// Of the reply in progress: its bytes and elements so far.
	replyBytes int64
	elements   int
}

type respState uint8

const (
	respType respState = iota // expecting an element's type byte
	respLine                  // reading the rest of a header line
	respBulk                  // skipping a bulk payload and its CRLF
)

// respFrame is an open aggregate: the elements it still needs; attr marks
// a RESP3 attribute, which precedes the element it annotates rather than
// being one.
type respFrame struct {
	left int64
	attr bool
}

var _ scalers.WireChecker = (*respScanner)(nil)

func newRESPScanner() *respScanner { return &respScanner{} }

// Check follows p, refusing the stream at the first header past a bound.
func (s *respScanner) Check(p []byte) error {
	for i := 0; i < len(p); {
		if s.state == respBulk {
			n := min(int64(len(p)-i), s.skip)
			if err := s.count(n); err != nil {
				return err
			}
			s.skip -= n
			i += int(n)
			if s.skip == 0 {
				s.state = respType
				s.complete()
			}
			continue
		}
		if err := s.count(1); err != nil {
			return err
		}
		c := p[i]
		i++
		switch s.state {
		case respType:
			if err := s.header(c); err != nil {
				return err
			}
		case respLine:
			if err := s.lineByte(c); err != nil {
				return err
			}
		}
	}
	return nil
}

// count adds n bytes to the reply in progress.
func (s *respScanner) count(n int64) error {
	s.replyBytes += n
	if s.replyBytes > respMaxReply {
		return fmt.Errorf("refusing the server's reply: %w", &scalers.TooLargeError{What: "bytes in one reply", Limit: respMaxReply})
	}
	return nil
}

func (s *respScanner) header(c byte) error {
	switch c {
	case '+', '-', ':', '_', ',', '#', '(', // lines
		'$', '!', '=', // bulk
		'*', '~', '>', '%', '|': // aggregates
	default:
		return errNotRESP
	}
	s.elements++
	if s.elements > respMaxElements {
		return fmt.Errorf("refusing the server's reply: %w", &scalers.TooLargeError{What: "elements in one reply", Limit: respMaxElements})
	}
	s.typ, s.state = c, respLine
	s.line, s.num, s.neg, s.digit, s.bad = 0, 0, false, false, false
	return nil
}

func (s *respScanner) lineByte(c byte) error {
	s.line++
	if s.line > respMaxLine {
		return fmt.Errorf("refusing the server's reply: %w", &scalers.TooLargeError{What: "bytes in a line", Limit: respMaxLine})
	}
	if c == '\n' {
		return s.endLine()
	}
	if !lengthType(s.typ) {
		return nil
	}
	switch {
	case c == '\r':
	case c == '-' && s.line == 1:
		s.neg = true
	case c >= '0' && c <= '9':
		s.digit = true
		s.num = s.num*10 + int64(c-'0')
		if s.num > 1<<40 { // past every bound, and far from overflow
			return s.tooLarge()
		}
	default:
		s.bad = true // "?" (a streamed type) included
	}
	return nil
}

// lengthType says whether a type's header line is a length or a count.
func lengthType(t byte) bool {
	switch t {
	case '$', '!', '=', '*', '~', '>', '%', '|':
		return true
	}
	return false
}

func (s *respScanner) tooLarge() error {
	switch s.typ {
	case '$', '!', '=':
		return fmt.Errorf("refusing the server's reply: %w", &scalers.TooLargeError{What: "bytes in a bulk string", Limit: respMaxBulk})
	}
	return fmt.Errorf("refusing the server's reply: %w", &scalers.TooLargeError{What: "elements in one aggregate", Limit: respMaxCount})
}

// endLine acts on a complete header line.
func (s *respScanner) endLine() error {
	s.state = respType
	if !lengthType(s.typ) {
		s.complete()
		return nil
	}
	if s.bad || !s.digit {
		return errNotRESP
	}
	if s.neg {
		if s.num != 1 { // -1 is the RESP2 null; no other length is negative
			return errNotRESP
		}
		s.complete()
		return nil
	}
	switch s.typ {
	case '$', '!', '=':
		if s.num > respMaxBulk {
			return s.tooLarge()
		}
		s.skip, s.state = s.num+2, respBulk
		return nil
	case '%', '|':
		s.num *= 2
	}
	if s.num > respMaxCount {
		return s.tooLarge()
	}
	if s.num == 0 {
		if s.typ != '|' {
			s.complete()
		}
		return nil
	}
	if len(s.stack) >= respMaxDepth {
		return fmt.Errorf("refusing the server's reply: %w", &scalers.TooLargeError{What: "levels of nesting", Limit: respMaxDepth})
	}
	s.stack = append(s.stack, respFrame{left: s.num, attr: s.typ == '|'})
	return nil
}

// complete records the end of an element, closing the aggregates it
// completes; at the top level, the reply is complete.
func (s *respScanner) complete() {
	for len(s.stack) > 0 {
		top := &s.stack[len(s.stack)-1]
		top.left--
		if top.left > 0 {
			return
		}
		attr := top.attr
		s.stack = s.stack[:len(s.stack)-1]
		if attr {
			return // the annotated element is still to come
		}
	}
	s.replyBytes, s.elements = 0, 0
}
