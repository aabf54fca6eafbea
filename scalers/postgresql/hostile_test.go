// SPDX-License-Identifier: Apache-2.0

package postgresql_test

import (
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ebbscale/ebb/scalers/postgresql"
	"github.com/ebbscale/ebb/scalers/scalertest"
)

// A server that announces a message of a gigabyte (pgx's own bound) is
// refused at the header, before pgx allocates it.
func TestAHostilePostgreSQLServerIsRefusedAtTheMessageHeader(t *testing.T) {
	addr := scalertest.HostileTCP(t, func(conn net.Conn) {
		var size [4]byte
		if _, err := io.ReadFull(conn, size[:]); err != nil {
			return
		}
		if _, err := io.CopyN(io.Discard, conn, int64(binary.BigEndian.Uint32(size[:]))-4); err != nil {
			return
		}
		// An authentication request of 1,000,000,000 bytes.
		_, _ = conn.Write(binary.BigEndian.AppendUint32([]byte{'R'}, 1_000_000_000))
		_, _ = io.Copy(io.Discard, conn)
	})
	_, port, _ := net.SplitHostPort(addr)
	sc := scalertest.NewScaler(t, postgresql.NewType(), hostTrigger(port, "SELECT 1", "timeout", "5s"))
	err := scalertest.BoundedFailure(t, sc, 5*time.Second, 16<<20)
	if !strings.Contains(err.Error(), "body length") {
		t.Errorf("Read = %v, want the message refused for its length", err)
	}
}
