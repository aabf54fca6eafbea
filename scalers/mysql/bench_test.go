// SPDX-License-Identifier: Apache-2.0

package mysql_test

import (
	"context"
	"testing"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/mysql"
	"github.com/ebbscale/ebb/scalers/scalertest"
	"github.com/ebbscale/ebb/scalers/sqlscaler/sqltest"
)

// BenchmarkThousandTriggersOnOneDatabase reads 1,000 triggers with the same
// query on one database, all at once, per iteration. It reports the pools the
// Type opens, the connections that reach the database, the statements that
// reach it per round of 1,000 reads (counted by a proxy that parses the wire
// protocol); scalertest.ReadRounds adds the time, bytes and allocations per
// read (the benchmark's goroutine per read and the in-process proxy included).
func BenchmarkThousandTriggersOnOneDatabase(b *testing.B) {
	admin(b)
	proxy := sqltest.NewProxy(b, myAddr, sqltest.MySQLCounter)
	typ := mysql.NewType()
	const triggers = 1000
	scs := make([]scalers.Scaler, triggers)
	for i := range scs {
		tr := hostTrigger(proxy.Port(), "SELECT COUNT(*) FROM information_schema.ENGINES")
		tr.Index = i
		scs[i] = scalertest.NewScaler(b, typ, tr)
	}
	mustRead(b, scs[0])
	q0 := proxy.Queries()
	scalertest.ReadRounds(b, scs)
	b.ReportMetric(float64(typ.OpenConnections()), "pools")
	b.ReportMetric(float64(proxy.Dialed()), "db-conns")
	b.ReportMetric(float64(proxy.Queries()-q0)/float64(b.N), "statements/round")
}

// BenchmarkOneRead is one trigger read over and over: every read is a round
// trip to the database (nothing to coalesce with).
func BenchmarkOneRead(b *testing.B) {
	admin(b)
	typ := mysql.NewType()
	sc := scalertest.NewScaler(b, typ, hostTrigger(myPort, "SELECT COUNT(*) FROM information_schema.ENGINES"))
	mustRead(b, sc)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := sc.Read(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
