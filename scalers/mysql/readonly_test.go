// SPDX-License-Identifier: Apache-2.0

package mysql_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ebbscale/ebb/scalers/mysql"
	"github.com/ebbscale/ebb/scalers/scalertest"
)

// The query runs in a read-only transaction, as root (who may write
// anything): a query that writes, directly or through a function with a
// side effect, fails and changes nothing; a DSN asking for several
// statements per query is refused.
func TestAQueryThatWritesFailsAndChangesNothing(t *testing.T) {
	db := admin(t)
	table := jobsTable(t, db)
	fn := table + "_add"
	exec(t, db, "CREATE FUNCTION "+fn+"() RETURNS INT MODIFIES SQL DATA BEGIN INSERT INTO "+table+" (state) VALUES ('pending'); RETURN 1; END")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = db.ExecContext(ctx, "DROP FUNCTION IF EXISTS "+fn)
	})
	typ := mysql.NewType()
	for name, q := range map[string]string{
		"an INSERT ... RETURNING": "INSERT INTO " + table + " (state) VALUES ('pending') RETURNING 1",
		"a function that inserts": "SELECT " + fn + "()",
		"a COMMIT before a write": "COMMIT; INSERT INTO " + table + " (state) VALUES ('pending') RETURNING 1",
	} {
		t.Run(name, func(t *testing.T) {
			r, err := read(scalertest.NewScaler(t, typ, hostTrigger(myPort, q)), 15*time.Second)
			if err == nil {
				t.Fatalf("Read = %+v, want an error", r)
			}
			var n int
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
				t.Fatalf("the table after the query: %v", err)
			}
			if n != 0 {
				t.Errorf("the table has %d rows after the query, want 0", n)
			}
		})
	}
	if r := mustRead(t, scalertest.NewScaler(t, typ, hostTrigger(myPort, "SELECT COUNT(*) FROM "+table))); r.Value != 0 {
		t.Errorf("Read = %v, want 0", r.Value)
	}
	_, err := read(scalertest.NewScaler(t, typ, hostTrigger(myPort, "INSERT INTO "+table+" (state) VALUES ('x') RETURNING 1")), 15*time.Second)
	if err == nil || !strings.Contains(err.Error(), "error 1792") {
		t.Errorf("the error of a write = %v, want error 1792 (a write in a read-only transaction)", err)
	}
	tr := trigger(map[string]string{"query": "SELECT 1", "queryValue": "5"})
	tr.AuthParams = map[string]string{"connectionString": "root@tcp(" + myAddr + ")/" + myDB + "?multiStatements=true"}
	if err := typ.Validate(tr); err == nil || !strings.Contains(err.Error(), "multiStatements") {
		t.Errorf("Validate of a DSN with multiStatements=true = %v, want it refused", err)
	}
}
