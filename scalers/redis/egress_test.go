// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"bufio"
	"io"
	"net"

	"github.com/ebbscale/ebb/scalers/scalertest"
)

// redisHostile are servers whose words (error replies) carry
// scalertest.Marker.
var redisHostile = []scalertest.HostileReply{
	{Name: "a Redis server that answers every command with a marked error", Serve: func(conn net.Conn) {
		r := bufio.NewReader(conn)
		for {
			if _, err := r.ReadString('\n'); err != nil {
				return
			}
			if _, err := io.WriteString(conn, "-ERR "+scalertest.Marker+" "+scalertest.Marker+"\r\n"); err != nil {
				return
			}
		}
	}},
	{Name: "a Redis server that refuses the credentials with a marked error", Serve: func(conn net.Conn) {
		r := bufio.NewReader(conn)
		for {
			if _, err := r.ReadString('\n'); err != nil {
				return
			}
			if _, err := io.WriteString(conn, "-WRONGPASS "+scalertest.Marker+"\r\n"); err != nil {
				return
			}
		}
	}},
}
