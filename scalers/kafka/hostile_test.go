// SPDX-License-Identifier: Apache-2.0

package kafka_test

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ebbscale/ebb/scalers/kafka"
	"github.com/ebbscale/ebb/scalers/scalertest"
)

// A hostile broker: the responses Ebb's client decodes announce counts and
// lengths far beyond the bytes that follow, inside frames small enough to
// pass the frame-size bound. kafka-go would allocate what they announce;
// the read must fail at once, allocating little.
func TestAHostileBrokersAnnouncedCountsAreRefusedBeforeTheyAreAllocated(t *testing.T) {
	huge := func(n int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(n)) }
	cases := map[string]func(key, version int16) []byte{
		"ApiVersions announcing two billion API keys": func(key, _ int16) []byte {
			return append([]byte{0, 0}, huge(2_000_000_000)...)
		},
		"Metadata announcing two billion brokers": func(key, version int16) []byte {
			if key == apiVersionsKey {
				return apiVersionsAnswer()
			}
			return append(make([]byte, 4), huge(2_000_000_000)...) // throttle, brokers
		},
		"Metadata with a broker host string longer than the response": func(key, version int16) []byte {
			if key == apiVersionsKey {
				return apiVersionsAnswer()
			}
			b := append(make([]byte, 4), huge(1)...)        // throttle, one broker
			b = append(b, 0, 0, 0, 1, 0x7f, 0xff, 'h', 'o') // node id, a host of 32767 bytes
			return append(b, make([]byte, 16)...)           // of which 18 follow
		},
	}
	for name, answer := range cases {
		t.Run(name, func(t *testing.T) {
			addr := scalertest.HostileTCP(t, func(conn net.Conn) { serveKafka(conn, answer) })
			sc := scalertest.NewScaler(t, kafka.NewType(), trigger(md("bootstrapServers", addr, "consumerGroup", "g", "topic", "t"), nil))
			err := scalertest.BoundedFailure(t, sc, 5*time.Second, 16<<20)
			t.Log(err)
			if !strings.Contains(err.Error(), "refusing the broker's") {
				t.Errorf("Read = %v, want the response refused", err)
			}
		})
	}
}

const apiVersionsKey = 18

// apiVersionsAnswer is an ApiVersions v0 answer offering what Ebb uses:
// ListOffsets v1-5, Metadata v0-8, OffsetFetch v1-5, FindCoordinator v0-2.
func apiVersionsAnswer() []byte {
	keys := [][3]int16{{2, 1, 5}, {3, 0, 8}, {9, 1, 5}, {10, 0, 2}, {18, 0, 2}}
	b := []byte{0, 0} // no error
	b = binary.BigEndian.AppendUint32(b, uint32(len(keys)))
	for _, k := range keys {
		for _, v := range k {
			b = binary.BigEndian.AppendUint16(b, uint16(v))
		}
	}
	return b
}

// serveKafka reads request frames and answers each with answer's body
// (after the correlation ID), framed.
func serveKafka(conn net.Conn, answer func(key, version int16) []byte) {
	r := bufio.NewReader(conn)
	for {
		var head [12]byte // size, key, version, correlation ID
		if _, err := io.ReadFull(r, head[:]); err != nil {
			return
		}
		size := int64(binary.BigEndian.Uint32(head[:4]))
		if _, err := io.CopyN(io.Discard, r, size-8); err != nil {
			return
		}
		key, version := int16(binary.BigEndian.Uint16(head[4:6])), int16(binary.BigEndian.Uint16(head[6:8]))
		body := answer(key, version)
		frame := binary.BigEndian.AppendUint32(nil, uint32(4+len(body)))
		frame = append(frame, head[8:12]...)
		if _, err := conn.Write(append(frame, body...)); err != nil {
			return
		}
	}
}
