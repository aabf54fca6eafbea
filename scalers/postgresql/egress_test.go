// SPDX-License-Identifier: Apache-2.0

package postgresql_test

import (
	"encoding/binary"
	"io"
	"net"

	"github.com/ebbscale/ebb/scalers/scalertest"
)

// readStartup reads a client's startup message (its length, then the rest)
// and says whether it came whole.
func readStartup(conn net.Conn) bool {
	var n [4]byte
	if _, err := io.ReadFull(conn, n[:]); err != nil {
		return false
	}
	_, err := io.CopyN(io.Discard, conn, int64(binary.BigEndian.Uint32(n[:]))-4)
	return err == nil
}

// pgHostile are servers whose words (an ErrorResponse's message, detail
// and hint, and its code) carry scalertest.Marker.
var pgHostile = []scalertest.HostileReply{
	{Name: "a PostgreSQL server that refuses the startup with a marked ErrorResponse", Serve: func(conn net.Conn) {
		if !readStartup(conn) {
			return
		}
		m := scalertest.Marker
		_, _ = conn.Write(pgError("S", "FATAL", "V", "FATAL", "C", "28P01", "M", m+" "+m, "D", m, "H", m))
		_, _ = io.Copy(io.Discard, conn)
	}},
	{Name: "a PostgreSQL server that gives a marked SQLSTATE", Serve: func(conn net.Conn) {
		if !readStartup(conn) {
			return
		}
		_, _ = conn.Write(pgError("S", scalertest.Marker, "C", scalertest.Marker, "M", scalertest.Marker))
		_, _ = io.Copy(io.Discard, conn)
	}},
}

// pgError is an ErrorResponse message of the given field codes and values.
func pgError(kv ...string) []byte {
	var body []byte
	for i := 0; i+1 < len(kv); i += 2 {
		body = append(body, kv[i][0])
		body = append(append(body, kv[i+1]...), 0)
	}
	body = append(body, 0)
	msg := []byte{'E'}
	msg = binary.BigEndian.AppendUint32(msg, uint32(len(body)+4))
	return append(msg, body...)
}
