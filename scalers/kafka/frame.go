package kafka

import (
	"encoding/binary"
	"fmt"
	"net"
)

// maxResponseSize bounds a response frame. kafka-go's decoder allocates what
// a frame announces, so a peer that is not a Kafka broker (an HTTP server, a
// TLS listener) would make it allocate gigabytes from the first four bytes
// of its answer; text and TLS records announce at least 0x15000000 bytes.
const maxResponseSize = 64 << 20

// frameGuard is a connection that checks the size prefix of every response
// frame the broker sends and fails the read when one is out of bounds, before
// the decoder sees it.
type frameGuard struct {
	net.Conn
	header  [4]byte
	filled  int   // bytes of header read so far
	payload int64 // bytes of the current frame's payload still to come
}

func (g *frameGuard) Read(b []byte) (int, error) {
	n, err := g.Conn.Read(b)
	for rest := b[:n]; len(rest) > 0; {
		if g.payload > 0 {
			skip := min(int64(len(rest)), g.payload)
			g.payload -= skip
			rest = rest[skip:]
			continue
		}
		c := copy(g.header[g.filled:], rest)
		g.filled += c
		rest = rest[c:]
		if g.filled < len(g.header) {
			break
		}
		g.filled = 0
		size := int32(binary.BigEndian.Uint32(g.header[:]))
		if size < 4 || size > maxResponseSize {
			return 0, fmt.Errorf("the peer does not answer like a Kafka broker (it announced a response of %d bytes): is this a Kafka listener, and does it need tls enable?", size)
		}
		g.payload = int64(size)
	}
	return n, err
}
