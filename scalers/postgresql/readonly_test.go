// SPDX-License-Identifier: Apache-2.0

package postgresql_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ebbscale/ebb/scalers/postgresql"
	"github.com/ebbscale/ebb/scalers/scalertest"
)

// The query runs in a read-only transaction, as postgres (who may write
// anything): a query that writes, directly, through a function with a side
// effect, or by ending the transaction first, fails and changes nothing.
func TestAQueryThatWritesFailsAndChangesNothing(t *testing.T) {
	conn := admin(t)
	table := jobsTable(t, conn)
	exec(t, conn, "CREATE FUNCTION "+table+"_add() RETURNS int LANGUAGE sql AS 'INSERT INTO "+table+" (state) VALUES (''pending'') RETURNING 1'")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = conn.Exec(ctx, "DROP FUNCTION IF EXISTS "+table+"_add()")
	})
	typ := postgresql.NewType()
	for name, q := range map[string]string{
		"an INSERT ... RETURNING":              "INSERT INTO " + table + " (state) VALUES ('pending') RETURNING 1",
		"a function that inserts":              "SELECT " + table + "_add()",
		"a COMMIT before an INSERT":            "COMMIT; INSERT INTO " + table + " (state) VALUES ('pending') RETURNING 1",
		"a switch to read-write, then a write": "SET TRANSACTION READ WRITE; INSERT INTO " + table + " (state) VALUES ('pending') RETURNING 1",
		"a DROP TABLE":                         "DROP TABLE " + table,
	} {
		t.Run(name, func(t *testing.T) {
			sc := scalertest.NewScaler(t, typ, hostTrigger(pgPort, q))
			r, err := read(sc, 15*time.Second)
			if err == nil {
				t.Fatalf("Read = %+v, want an error", r)
			}
			var n int
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := conn.QueryRow(ctx, "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
				t.Fatalf("the table after the query: %v", err)
			}
			if n != 0 {
				t.Errorf("the table has %d rows after the query, want 0", n)
			}
		})
	}
	// A read still reads.
	if r := mustRead(t, scalertest.NewScaler(t, typ, hostTrigger(pgPort, "SELECT COUNT(*) FROM "+table))); r.Value != 0 {
		t.Errorf("Read = %v, want 0", r.Value)
	}
	_, err := read(scalertest.NewScaler(t, typ, hostTrigger(pgPort, "INSERT INTO "+table+" (state) VALUES ('x') RETURNING 1")), 15*time.Second)
	if err == nil || !strings.Contains(err.Error(), "SQLSTATE 25006 (read-only") {
		t.Errorf("the error of a write = %v, want SQLSTATE 25006 named", err)
	}
}
