// SPDX-License-Identifier: Apache-2.0

package rabbitmq

import (
	"encoding/binary"
	"io"
	"net"

	"github.com/ebbscale/ebb/scalers/scalertest"
)

// amqpHostile are brokers whose words (an AMQP close's reply text) carry
// scalertest.Marker.
var amqpHostile = []scalertest.HostileReply{
	{Name: "an AMQP broker that closes the connection with a marked reply text", Serve: func(conn net.Conn) {
		var proto [8]byte
		if _, err := io.ReadFull(conn, proto[:]); err != nil {
			return
		}
		_, _ = conn.Write(amqpClose(541, scalertest.Marker+" "+scalertest.Marker))
		_, _ = io.Copy(io.Discard, conn)
	}},
	{Name: "an AMQP broker that refuses access with a marked reply text", Serve: func(conn net.Conn) {
		var proto [8]byte
		if _, err := io.ReadFull(conn, proto[:]); err != nil {
			return
		}
		_, _ = conn.Write(amqpClose(403, "ACCESS_REFUSED - "+scalertest.Marker))
		_, _ = io.Copy(io.Discard, conn)
	}},
}

// amqpClose is a connection.close method frame on channel 0.
func amqpClose(code uint16, text string) []byte {
	payload := binary.BigEndian.AppendUint16(nil, 10) // class connection
	payload = binary.BigEndian.AppendUint16(payload, 50)
	payload = binary.BigEndian.AppendUint16(payload, code)
	payload = append(payload, byte(len(text)))
	payload = append(payload, text...)
	payload = binary.BigEndian.AppendUint16(payload, 0)
	payload = binary.BigEndian.AppendUint16(payload, 0)
	frame := []byte{1, 0, 0}
	frame = binary.BigEndian.AppendUint32(frame, uint32(len(payload)))
	frame = append(frame, payload...)
	return append(frame, 0xce)
}
