// SPDX-License-Identifier: Apache-2.0

package mysql_test

import (
	"io"
	"net"

	"github.com/ebbscale/ebb/scalers/scalertest"
)

// myHostile are servers whose words (an ERR packet's message and SQLSTATE)
// carry scalertest.Marker.
var myHostile = []scalertest.HostileReply{
	{Name: "a MySQL server that greets with a marked ERR packet", Serve: func(conn net.Conn) {
		_, _ = conn.Write(myErr(1045, "28000", scalertest.Marker+" "+scalertest.Marker))
		_, _ = io.Copy(io.Discard, conn)
	}},
	{Name: "a MySQL server that gives a marked SQLSTATE", Serve: func(conn net.Conn) {
		_, _ = conn.Write(myErr(1146, scalertest.Marker[:5], scalertest.Marker))
		_, _ = io.Copy(io.Discard, conn)
	}},
}

// myErr is an ERR packet (sequence 0) with an error number, SQLSTATE and
// message.
func myErr(number uint16, state, msg string) []byte {
	payload := []byte{0xff, byte(number), byte(number >> 8), '#'}
	payload = append(append(payload, state...), msg...)
	return append([]byte{byte(len(payload)), byte(len(payload) >> 8), byte(len(payload) >> 16), 0}, payload...)
}
