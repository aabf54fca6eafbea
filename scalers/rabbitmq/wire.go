// SPDX-License-Identifier: Apache-2.0

package rabbitmq

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/ebbscale/ebb/scalers"
)

// Bounded frames.
//
// amqp091-go bounds each frame by the frame-max negotiated with the broker
// (128 KiB by default, 4 KiB before the negotiation), and allocates a
// frame's payload as it arrives rather than as announced. What it does not
// bound is message content: after a method that carries content (a
// delivery), it appends body frames until the size the content header
// announced (up to 2^64 bytes), on its own reader goroutine, for as long as
// the broker sends them. Ebb never consumes, publishes or gets a message
// (it declares queues passively), so a broker that sends content is not
// answering Ebb: amqpScanner refuses content header and body frames, and
// frames larger than any frame-max a broker offers, before the client
// reads them.
const (
	// amqpMaxFrame bounds a frame's payload. The client offers 128 KiB
	// (amqp091-go's default) and the negotiation takes the smaller of the
	// client's and the broker's frame_max, so no frame a broker may send
	// comes near 1 MiB.
	amqpMaxFrame = 1 << 20
	// The AMQP 0-9-1 frame types that carry message content.
	frameContentHeader = 2
	frameContentBody   = 3
)

// errContent is a broker sending message content Ebb never asked for.
var errContent = errors.New("refusing the broker's data: it sent message content, which Ebb never asks for")

// amqpScanner is a scalers.WireChecker for the broker's side of AMQP 0-9-1:
// frame headers (type, channel, size) and payloads, after the protocol
// header the broker may send instead of its first frame.
type amqpScanner struct {
	head   [7]byte
	filled int
	skip   int64 // payload and frame-end bytes still to come
	seen   int64 // bytes checked so far
}

var _ scalers.WireChecker = (*amqpScanner)(nil)

func (s *amqpScanner) Check(p []byte) error {
	for len(p) > 0 {
		if s.skip > 0 {
			n := min(int64(len(p)), s.skip)
			s.skip -= n
			s.seen += n
			p = p[n:]
			continue
		}
		if s.seen == 0 && p[0] == 'A' {
			// "AMQP" and a version: the broker refuses the protocol
			// version; the client reads it and fails.
			return nil
		}
		c := copy(s.head[s.filled:], p)
		s.filled += c
		s.seen += int64(c)
		p = p[c:]
		if s.filled < len(s.head) {
			return nil
		}
		s.filled = 0
		typ := s.head[0]
		size := int64(binary.BigEndian.Uint32(s.head[3:7]))
		if typ == frameContentHeader || typ == frameContentBody {
			return errContent
		}
		if size > amqpMaxFrame {
			return fmt.Errorf("refusing the broker's data: %w", &scalers.TooLargeError{What: "bytes in a frame", Limit: amqpMaxFrame})
		}
		s.skip = size + 1 // and the frame-end octet
	}
	return nil
}
