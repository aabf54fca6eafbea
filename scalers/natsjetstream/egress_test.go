// SPDX-License-Identifier: Apache-2.0

package natsjetstream

import (
	"bufio"
	"io"
	"net"

	"github.com/ebbscale/ebb/scalers/scalertest"
)

// natsHostile are servers whose words (-ERR lines, INFO fields) carry
// scalertest.Marker.
var natsHostile = []scalertest.HostileReply{
	{Name: "a NATS server that refuses the connection with a marked -ERR", Serve: func(conn net.Conn) {
		_, _ = io.WriteString(conn, `INFO {"server_id":"`+scalertest.Marker+`","server_name":"`+scalertest.Marker+`","version":"2.10.0","proto":1,"max_payload":1048576,"headers":true,"jetstream":true}`+"\r\n")
		r := bufio.NewReader(conn)
		if _, err := r.ReadString('\n'); err != nil {
			return
		}
		_, _ = io.WriteString(conn, "-ERR '"+scalertest.Marker+" "+scalertest.Marker+"'\r\n")
		_, _ = io.Copy(io.Discard, r)
	}},
	{Name: "a NATS server that answers PING with a marked -ERR", Serve: func(conn net.Conn) {
		_, _ = io.WriteString(conn, `INFO {"server_id":"x","version":"2.10.0","proto":1,"max_payload":1048576,"headers":true}`+"\r\n")
		r := bufio.NewReader(conn)
		for {
			if _, err := r.ReadString('\n'); err != nil {
				return
			}
			if _, err := io.WriteString(conn, "-ERR 'Authorization Violation "+scalertest.Marker+"'\r\n"); err != nil {
				return
			}
		}
	}},
}
