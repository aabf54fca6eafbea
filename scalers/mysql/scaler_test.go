// SPDX-License-Identifier: Apache-2.0

package mysql_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/mysql"
	"github.com/ebbscale/ebb/scalers/scalertest"
	"github.com/ebbscale/ebb/scalers/sqlscaler/sqltest"
)

// The real MariaDB of the development and CI machines: root with an empty
// password on 127.0.0.1:3306, database test.
const (
	myHost = "127.0.0.1"
	myPort = "3306"
	myAddr = myHost + ":" + myPort
	myDB   = "test"
)

// admin connects to the real database as root, for setting up tables and
// users and for looking at the process list.
func admin(t testing.TB) *sql.DB {
	t.Helper()
	scalertest.RequireService(t, "MariaDB", myAddr)
	dc := driver.NewConfig()
	dc.User, dc.Net, dc.Addr, dc.DBName = "root", "tcp", myAddr, myDB
	conn, err := driver.NewConnector(dc)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	t.Cleanup(func() { _ = db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("connecting to MariaDB as root: %v", err)
	}
	return db
}

func exec(t testing.TB, db *sql.DB, query string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// jobsTable creates a uniquely named table of jobs with a state column and
// drops it at the end of the test.
func jobsTable(t testing.TB, db *sql.DB) string {
	t.Helper()
	name := sqltest.Unique("ebb_jobs")
	exec(t, db, "CREATE TABLE "+name+" (id INT AUTO_INCREMENT PRIMARY KEY, state VARCHAR(20) NOT NULL)")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = db.ExecContext(ctx, "DROP TABLE IF EXISTS "+name)
	})
	return name
}

func insertPending(t testing.TB, db *sql.DB, table string, n int) {
	t.Helper()
	exec(t, db, "INSERT INTO "+table+" (state) SELECT 'pending' FROM seq_1_to_"+fmt.Sprint(n))
}

// user creates a user with a random name and a password full of DSN
// punctuation, allowed to read the given tables, and drops it at the end of
// the test.
func user(t testing.TB, db *sql.DB, tables ...string) (name, password string) {
	t.Helper()
	name = sqltest.Unique("ebbu")[:16]
	password = sqltest.Unique("Pw") + `:@/?#'q\`
	exec(t, db, "CREATE USER '"+name+"'@'%' IDENTIFIED BY '"+strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(password)+"'")
	for _, tb := range tables {
		exec(t, db, "GRANT SELECT ON "+myDB+"."+tb+" TO '"+name+"'@'%'")
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = db.ExecContext(ctx, "DROP USER IF EXISTS '"+name+"'@'%'")
	})
	return name, password
}

// dsn is a go-sql-driver DSN for the user on addr.
func dsn(user, password, addr, db string) string {
	dc := driver.NewConfig()
	dc.User, dc.Passwd, dc.Net, dc.Addr, dc.DBName = user, password, "tcp", addr, db
	return dc.FormatDSN()
}

func trigger(md map[string]string) scalers.Trigger {
	return scalers.Trigger{Namespace: "default", ScaledObject: "worker", Index: 0, Name: "jobs", Type: "mysql", Metadata: md}
}

// hostTrigger is a trigger on the real database (or a proxy's port) as root.
func hostTrigger(port, query string, extra ...string) scalers.Trigger {
	md := map[string]string{"host": myHost, "port": port, "username": "root", "dbName": myDB, "query": query, "queryValue": "10"}
	for i := 0; i+1 < len(extra); i += 2 {
		md[extra[i]] = extra[i+1]
	}
	return trigger(md)
}

func read(sc scalers.Scaler, within time.Duration) (scalers.Reading, error) {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	return sc.Read(ctx)
}

func mustRead(t testing.TB, sc scalers.Scaler) scalers.Reading {
	t.Helper()
	r, err := read(sc, 15*time.Second)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return r
}

func assertNoPassword(t testing.TB, err error, password string) {
	t.Helper()
	if strings.Contains(err.Error(), password) {
		t.Errorf("error shows the password: %s", scalers.RedactString(err.Error(), password))
	}
}

func TestConformance(t *testing.T) {
	db := admin(t)
	name, password := user(t, db, jobsTable(t, db))
	typ := mysql.NewType()
	valid := trigger(map[string]string{"query": "SELECT 1", "queryValue": "5", "host": myHost, "port": myPort, "dbName": myDB})
	valid.AuthParams = map[string]string{"username": name, "password": password}
	unreachable := trigger(map[string]string{"query": "SELECT 1", "queryValue": "5"})
	unreachable.AuthParams = map[string]string{"connectionString": dsn(name, password, scalertest.FreeAddr(t), myDB)}

	with := func(md map[string]string, set ...string) scalers.Trigger {
		m := map[string]string{}
		for k, v := range md {
			m[k] = v
		}
		for i := 0; i+1 < len(set); i += 2 {
			if set[i+1] == "<delete>" {
				delete(m, set[i])
			} else {
				m[set[i]] = set[i+1]
			}
		}
		return trigger(m)
	}
	withDSN := func(tr scalers.Trigger, dsn string) scalers.Trigger {
		tr.AuthParams = map[string]string{"connectionString": dsn}
		return tr
	}
	base := hostTrigger(myPort, "SELECT 1").Metadata
	dsnOnly := map[string]string{"query": "SELECT 1", "queryValue": "5"}
	good := dsn(name, password, myAddr, myDB)
	scalertest.Run(t, scalertest.Suite{
		Type:        typ,
		Valid:       valid,
		Unreachable: unreachable,
		Secrets:     []string{password},
		Open:        typ.OpenConnections,
		WithEgress:  func(e *scalers.Egress) scalers.Type { return mysql.NewTypeWithEgress(e) },
		Hostile:     myHostile,
		At: func(addr string) scalers.Trigger {
			tr := trigger(map[string]string{"query": "SELECT 1", "queryValue": "5"})
			tr.AuthParams = map[string]string{"connectionString": dsn(name, password, addr, myDB)}
			return tr
		},
		Bad: []scalertest.BadMetadata{
			{Name: "a trigger without a query", Trigger: with(base, "query", "<delete>"), Key: "query"},
			{Name: "an empty query", Trigger: with(base, "query", " "), Key: "query"},
			{Name: "a trigger without queryValue", Trigger: with(base, "queryValue", "<delete>"), Key: "queryValue"},
			{Name: "a queryValue that is not a number", Trigger: with(base, "queryValue", "ten"), Key: "queryValue"},
			{Name: "a queryValue of zero", Trigger: with(base, "queryValue", "0"), Key: "queryValue"},
			{Name: "an activationQueryValue that is not a number", Trigger: with(base, "activationQueryValue", "x"), Key: "activationQueryValue"},
			{Name: "neither a connectionString nor a host", Trigger: with(base, "host", "<delete>", "port", "<delete>", "username", "<delete>", "dbName", "<delete>"), Key: "connectionString"},
			{Name: "a host without username", Trigger: with(base, "username", "<delete>"), Key: "username"},
			{Name: "a port that is not a number", Trigger: with(base, "port", "x"), Key: "port"},
			{Name: "a port above 65535", Trigger: with(base, "port", "99999"), Key: "port"},
			{Name: "a timeout that is not a duration", Trigger: with(base, "timeout", "later"), Key: "timeout"},
			{Name: "a password written in metadata", Trigger: with(base, "password", password), Key: "password"},
			{Name: "a passwordFromEnv naming a variable the container lacks", Trigger: with(base, "passwordFromEnv", "DB_PASSWORD"), Key: "password"},
			{Name: "a connectionString combined with a host", Trigger: withDSN(with(dsnOnly, "host", myHost), good), Key: "host"},
			{Name: "a connectionString combined with a dbName", Trigger: withDSN(with(dsnOnly, "dbName", myDB), good), Key: "dbName"},
			{Name: "a connectionString that does not parse", Trigger: withDSN(trigger(dsnOnly), name+":"+password+"@tcp("+myAddr+"/test"), Key: "connectionString"},
			{Name: "a connectionString with a bad parameter", Trigger: withDSN(trigger(dsnOnly), good+"?parseTime=perhaps"), Key: "connectionString"},
			{Name: "a connectionString that lets the server read local files", Trigger: withDSN(trigger(dsnOnly), good+"?allowAllFiles=true"), Key: "connectionString"},
			{Name: "a connectionString over a unix socket", Trigger: withDSN(trigger(dsnOnly), name+":"+password+"@unix(/run/mysqld/mysqld.sock)/test"), Key: "connectionString"},
		},
	})
}

func TestNeitherConnectionStringNorHostIsAnErrorNamingBothKeys(t *testing.T) {
	err := mysql.NewType().Validate(trigger(map[string]string{"query": "SELECT 1", "queryValue": "1"}))
	if err == nil || !strings.Contains(err.Error(), `"connectionString"`) || !strings.Contains(err.Error(), `"host"`) {
		t.Fatalf("Validate = %v, want an error naming connectionString and host", err)
	}
	if !strings.Contains(err.Error(), `trigger 0 "jobs" (mysql)`) {
		t.Errorf("error %q does not name the trigger", err)
	}
}

func TestAdmissionAcceptsConnectionParametersThatTheTriggerAuthenticationWillSupply(t *testing.T) {
	tests := []struct {
		name string
		md   map[string]string
	}{
		{"no connectionString and no host", map[string]string{"query": "SELECT 1", "queryValue": "1"}},
		{"a host whose username comes from the TriggerAuthentication", map[string]string{"query": "SELECT 1", "queryValue": "1", "host": "db"}},
		{"a connectionString from the environment", map[string]string{"query": "SELECT 1", "queryValue": "1", "connectionStringFromEnv": "DSN"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := trigger(tt.md)
			tr.AuthPending = true
			if err := mysql.NewType().Validate(tr); err != nil {
				t.Fatalf("Validate with AuthPending = %v", err)
			}
		})
	}
}

func TestTheValueFollowsTheRowsInTheTable(t *testing.T) {
	db := admin(t)
	table := jobsTable(t, db)
	typ := mysql.NewType()
	sc := scalertest.NewScaler(t, typ, hostTrigger(myPort, "SELECT COUNT(*) FROM "+table+" WHERE state='pending'"))

	if r := mustRead(t, sc); r.Value != 0 || r.Active {
		t.Fatalf("empty table: Read = %+v, want value 0, inactive", r)
	}
	insertPending(t, db, table, 37)
	if r := mustRead(t, sc); r.Value != 37 || !r.Active {
		t.Fatalf("after inserting 37 pending jobs: Read = %+v, want value 37, active", r)
	}
	exec(t, db, "UPDATE "+table+" SET state='done' ORDER BY id LIMIT 10")
	if r := mustRead(t, sc); r.Value != 27 || !r.Active {
		t.Fatalf("after marking 10 done: Read = %+v, want value 27, active", r)
	}
	exec(t, db, "DELETE FROM "+table)
	if r := mustRead(t, sc); r.Value != 0 || r.Active {
		t.Fatalf("after deleting every job: Read = %+v, want value 0, inactive", r)
	}
	if m := sc.Metric(); m.Name != "s0-mysql-test" || m.Target != 10 || m.ActivationTarget != 0 {
		t.Errorf("Metric = %+v, want name s0-mysql-test, target 10, activation 0", m)
	}
}

func TestTheTriggerIsActiveOnlyAboveTheActivationThreshold(t *testing.T) {
	db := admin(t)
	table := jobsTable(t, db)
	insertPending(t, db, table, 5)
	typ := mysql.NewType()
	query := "SELECT COUNT(*) FROM " + table + " WHERE state='pending'"
	tests := []struct {
		name       string
		activation string
		want       bool
	}{
		{"five rows with the default threshold of 0 are active", "", true},
		{"five rows above a threshold of 4.5 are active", "4.5", true},
		{"five rows at a threshold of 5 are not active", "5", false},
		{"five rows below a threshold of 10 are not active", "10", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := hostTrigger(myPort, query)
			if tt.activation != "" {
				tr.Metadata["activationQueryValue"] = tt.activation
			}
			r := mustRead(t, scalertest.NewScaler(t, typ, tr))
			if r.Value != 5 || r.Active != tt.want {
				t.Errorf("Read = %+v, want value 5 and active %v", r, tt.want)
			}
		})
	}
}

func TestEveryNumericTypeIsRead(t *testing.T) {
	admin(t)
	typ := mysql.NewType()
	tests := []struct {
		name  string
		query string
		want  float64
	}{
		{"a COUNT, a BIGINT", "SELECT COUNT(*) FROM seq_1_to_12", 12},
		{"a SUM, a DECIMAL", "SELECT SUM(seq) FROM seq_1_to_4", 10},
		{"a DECIMAL with a fraction", "SELECT CAST(12.5 AS DECIMAL(10,2))", 12.5},
		{"a DOUBLE", "SELECT CAST(2.5 AS DOUBLE)", 2.5},
		{"a FLOAT", "SELECT CAST(0.25 AS FLOAT)", 0.25},
		{"an unsigned BIGINT", "SELECT CAST(7 AS UNSIGNED)", 7},
		{"a negative number", "SELECT -3", -3},
		{"text that holds a number", "SELECT '42'", 42},
		{"an IFNULL over an empty SUM", "SELECT IFNULL(SUM(seq), 0) FROM seq_1_to_4 WHERE seq > 10", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustRead(t, scalertest.NewScaler(t, typ, hostTrigger(myPort, tt.query)))
			if r.Value != tt.want {
				t.Errorf("Read = %+v, want %v", r, tt.want)
			}
		})
	}
}

func TestAResultThatIsNotOneNumberIsAnErrorNotAZero(t *testing.T) {
	db := admin(t)
	table := jobsTable(t, db)
	insertPending(t, db, table, 2)
	typ := mysql.NewType()
	tests := []struct {
		name  string
		query string
		says  string
	}{
		{"NULL", "SELECT NULL", "NULL"},
		{"the sum of no rows, which is NULL", "SELECT SUM(id) FROM " + table + " WHERE state='gone'", "NULL"},
		{"text that is not a number", "SELECT state FROM " + table + " LIMIT 1", "(type VARCHAR) that is not a number"},
		{"a date and time", "SELECT NOW()", "type DATETIME"},
		{"no rows", "SELECT id FROM " + table + " WHERE 1 = 0", "no rows"},
		{"two rows", "SELECT id FROM " + table, "more than one row"},
		{"two columns", "SELECT 1, 2", "2 columns"},
		{"SQL that does not parse", "SELEC COUNT(*) FROM " + table, "SQL syntax"},
		{"a table that does not exist", "SELECT COUNT(*) FROM " + table + "_missing", "doesn't exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := read(scalertest.NewScaler(t, typ, hostTrigger(myPort, tt.query)), 15*time.Second)
			if err == nil {
				t.Fatalf("Read = %+v with no error", r)
			}
			if r != (scalers.Reading{}) {
				t.Errorf("Read returned %+v along with its error", r)
			}
			if !strings.Contains(err.Error(), tt.says) {
				t.Errorf("error %q does not say %q", err, tt.says)
			}
			if !strings.Contains(err.Error(), "MySQL at 127.0.0.1:3306/test") {
				t.Errorf("error %q does not say which database", err)
			}
		})
	}
	if r := mustRead(t, scalertest.NewScaler(t, typ, hostTrigger(myPort, "SELECT COUNT(*) FROM "+table))); r.Value != 2 {
		t.Errorf("after the errors, Read = %+v, want 2", r)
	}
}

func TestConnectionParametersFromATriggerAuthentication(t *testing.T) {
	db := admin(t)
	table := jobsTable(t, db)
	insertPending(t, db, table, 4)
	name, password := user(t, db, table)
	md := map[string]string{"query": "SELECT COUNT(*) FROM " + table + " WHERE state='pending' AND CURRENT_USER() LIKE '" + name + "@%'", "queryValue": "2"}
	tests := []struct {
		name string
		auth map[string]string
	}{
		{"a DSN", map[string]string{"connectionString": dsn(name, password, myAddr, myDB)}},
		{"a DSN without a password, and the password apart", map[string]string{"connectionString": dsn(name, "", myAddr, myDB), "password": password}},
		{"host, port, username, password and dbName", map[string]string{"host": myHost, "port": myPort, "username": name, "password": password, "dbName": myDB}},
	}
	typ := mysql.NewType()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := trigger(md)
			tr.AuthParams = tt.auth
			if r := mustRead(t, scalertest.NewScaler(t, typ, tr)); r.Value != 4 {
				t.Fatalf("Read = %+v, want 4", r)
			}
			for _, failing := range []string{"SELECT nope FROM " + table, "SELECT 'x'", "SELECT COUNT(*) FROM mysql.user"} {
				tr := trigger(map[string]string{"query": failing, "queryValue": "2"})
				tr.AuthParams = tt.auth
				_, err := read(scalertest.NewScaler(t, typ, tr), 15*time.Second)
				if err == nil {
					t.Fatalf("query %q read with no error", failing)
				}
				assertNoPassword(t, err, password)
			}
		})
	}
}

func TestAWrongPasswordIsAnErrorThatDoesNotShowEitherPassword(t *testing.T) {
	db := admin(t)
	name, password := user(t, db)
	wrong := "Wrong" + password
	typ := mysql.NewType()
	for _, auth := range []map[string]string{
		{"connectionString": dsn(name, wrong, myAddr, myDB)},
		{"host": myHost, "username": name, "password": wrong, "dbName": myDB},
	} {
		tr := trigger(map[string]string{"query": "SELECT 1", "queryValue": "1"})
		tr.AuthParams = auth
		r, err := read(scalertest.NewScaler(t, typ, tr), 10*time.Second)
		if err == nil {
			t.Fatalf("a wrong password read %+v with no error", r)
		}
		if !strings.Contains(err.Error(), "Access denied") {
			t.Errorf("error %q does not say access was denied", err)
		}
		assertNoPassword(t, err, wrong)
		assertNoPassword(t, err, password)
	}
}

func TestThePasswordNeverAppearsInErrors(t *testing.T) {
	db := admin(t)
	name, password := user(t, db)
	proxy := sqltest.NewProxy(t, myAddr, nil)
	proxy.Hang(true)
	typ := mysql.NewType()
	tests := []struct {
		name string
		auth map[string]string
	}{
		{"a port where nothing listens", map[string]string{"connectionString": dsn(name, password, scalertest.FreeAddr(t), myDB)}},
		{"a database that never answers", map[string]string{"connectionString": dsn(name, password, proxy.Addr(), myDB)}},
		{"a host that does not resolve", map[string]string{"host": "no-such-host.invalid", "username": name, "password": password}},
		{"a database the user may not use", map[string]string{"connectionString": dsn(name, password, myAddr, "mysql")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := trigger(map[string]string{"query": "SELECT 1", "queryValue": "1", "timeout": "1s"})
			tr.AuthParams = tt.auth
			r, err := read(scalertest.NewScaler(t, typ, tr), 10*time.Second)
			if err == nil {
				t.Fatalf("Read = %+v with no error", r)
			}
			assertNoPassword(t, err, password)
		})
	}
}

func TestTLSRequestedFromAServerWithoutTLSIsAnError(t *testing.T) {
	db := admin(t)
	var haveSSL string
	if err := db.QueryRow("SELECT @@have_ssl").Scan(&haveSSL); err != nil {
		t.Fatal(err)
	}
	if haveSSL == "YES" {
		t.Skip("this MariaDB offers TLS; nothing to check")
	}
	tr := trigger(map[string]string{"query": "SELECT 1", "queryValue": "1"})
	tr.AuthParams = map[string]string{"connectionString": "root@tcp(" + myAddr + ")/test?tls=true"}
	if r, err := read(scalertest.NewScaler(t, mysql.NewType(), tr), 10*time.Second); err == nil {
		t.Fatalf("tls=true read %+v from a server without TLS; it must not fall back to plain text", r)
	}
}

func TestTheDatabaseGoingAwayGivesErrorsThenReadsRecover(t *testing.T) {
	db := admin(t)
	table := jobsTable(t, db)
	insertPending(t, db, table, 3)
	proxy := sqltest.NewProxy(t, myAddr, nil)
	typ := mysql.NewType()
	sc := scalertest.NewScaler(t, typ, hostTrigger(proxy.Port(), "SELECT COUNT(*) FROM "+table+" WHERE state='pending'", "timeout", "2s"))
	if r := mustRead(t, sc); r.Value != 3 {
		t.Fatalf("Read = %+v, want 3", r)
	}

	proxy.Stop()
	for i := 0; i < 3; i++ {
		start := time.Now()
		r, err := read(sc, 10*time.Second)
		if err == nil {
			t.Fatalf("with the database gone, Read = %+v with no error", r)
		}
		if r != (scalers.Reading{}) {
			t.Errorf("with the database gone, Read returned %+v along with its error", r)
		}
		if d := time.Since(start); d > 4*time.Second {
			t.Errorf("a failed read took %s, beyond its 2s timeout", d)
		}
	}

	insertPending(t, db, table, 1)
	proxy.Start(t)
	sqltest.Eventually(t, 10*time.Second, "reads recover after the database comes back", func() bool {
		r, err := read(sc, 3*time.Second)
		return err == nil && r.Value == 4
	})
}

func TestADatabaseThatNeverAnswersIsBoundedByTheContext(t *testing.T) {
	admin(t)
	proxy := sqltest.NewProxy(t, myAddr, nil)
	proxy.Hang(true)
	typ := mysql.NewType()
	tests := []struct {
		name    string
		timeout string
		ctx     time.Duration
	}{
		{"the trigger's timeout ends the read", "500ms", time.Minute},
		{"the caller's deadline ends the read", "30s", 500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := scalertest.NewScaler(t, typ, hostTrigger(proxy.Port(), "SELECT 1", "timeout", tt.timeout))
			start := time.Now()
			r, err := read(sc, tt.ctx)
			if err == nil {
				t.Fatalf("Read = %+v with no error", r)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %q is not a deadline error", err)
			}
			if d := time.Since(start); d > 500*time.Millisecond+2*time.Second {
				t.Errorf("Read returned after %s, want about 500ms", d)
			}
		})
	}
}

func TestAReadWhoseContextEndsKillsItsStatementOnTheServer(t *testing.T) {
	db := admin(t)
	marker := sqltest.Unique("slow")
	typ := mysql.NewType()
	// A join of 10^10 rows: the server would run it for minutes, and it
	// does not notice a vanished client while it runs.
	slow := "SELECT COUNT(*) FROM seq_1_to_100000 a, seq_1_to_100000 b WHERE a.seq + b.seq = 3 /* " + marker + " */"
	sc := scalertest.NewScaler(t, typ, hostTrigger(myPort, slow))
	running := func() int {
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE CONCAT('%', ?, '%') AND ID <> CONNECTION_ID()", marker).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	t.Cleanup(func() {
		// Should the test fail, do not leave the statement running.
		rows, err := db.Query("SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE CONCAT('%', ?, '%') AND ID <> CONNECTION_ID()", marker)
		if err != nil {
			return
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if rows.Scan(&id) == nil {
				_, _ = db.Exec(fmt.Sprintf("KILL QUERY %d", id))
			}
		}
	})
	start := time.Now()
	_, err := read(sc, 500*time.Millisecond)
	if err == nil {
		t.Fatal("a query of minutes read with no error in 500 ms")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %q is not a deadline error", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Read returned after %s, want about 500ms", d)
	}
	sqltest.Eventually(t, 5*time.Second, "the statement is no longer running on the server", func() bool { return running() == 0 })
	// The pool still reads.
	if r := mustRead(t, scalertest.NewScaler(t, typ, hostTrigger(myPort, "SELECT 3"))); r.Value != 3 {
		t.Errorf("after the kill, Read = %+v, want 3", r)
	}
}

func TestManyTriggersOnOneDatabaseShareOnePool(t *testing.T) {
	db := admin(t)
	table := jobsTable(t, db)
	insertPending(t, db, table, 8)
	name, password := user(t, db, table)
	typ := mysql.NewType()
	const triggers = 60
	var scs []scalers.Scaler
	for i := 0; i < triggers; i++ {
		tr := trigger(map[string]string{"query": fmt.Sprintf("SELECT COUNT(*) + %d FROM %s WHERE state='pending'", i%3, table), "queryValue": "1"})
		tr.Index = i
		tr.AuthParams = map[string]string{"host": myHost, "username": name, "password": password, "dbName": myDB}
		scs = append(scs, scalertest.NewScaler(t, typ, tr))
	}
	if got := typ.OpenConnections(); got != 0 {
		t.Fatalf("before any read, %d pools are open, want 0 (New does no I/O)", got)
	}
	var wg sync.WaitGroup
	for round := 0; round < 3; round++ {
		for i, sc := range scs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := read(sc, 15*time.Second)
				if err != nil {
					t.Errorf("Read: %v", err)
				} else if want := float64(8 + i%3); r.Value != want {
					t.Errorf("trigger %d read %v, want %v", i, r.Value, want)
				}
			}()
		}
		wg.Wait()
	}
	if got := typ.OpenConnections(); got != 1 {
		t.Errorf("%d triggers on one database opened %d pools, want 1", triggers, got)
	}
	countConns := func() int {
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = ?", name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := countConns(); n < 1 || n > 4 {
		t.Errorf("the database has %d connections from the triggers' user, want 1 to 4", n)
	}
	for _, sc := range scs {
		_ = sc.Close()
	}
	if got := typ.OpenConnections(); got != 0 {
		t.Errorf("after every trigger closed, %d pools are open, want 0", got)
	}
	sqltest.Eventually(t, 10*time.Second, "closing the pool closes its connections on the server", func() bool { return countConns() == 0 })
}

func TestIdenticalQueriesInFlightReachTheDatabaseOnce(t *testing.T) {
	admin(t)
	proxy := sqltest.NewProxy(t, myAddr, sqltest.MySQLCounter)
	typ := mysql.NewType()
	const triggers = 50
	var scs []scalers.Scaler
	for i := 0; i < triggers; i++ {
		tr := hostTrigger(proxy.Port(), "SELECT 1 + SLEEP(1)")
		tr.Index = i
		scs = append(scs, scalertest.NewScaler(t, typ, tr))
	}
	// Warm the pool: a new connection costs one statement of its own (its
	// CONNECTION_ID(), kept for KILL QUERY).
	if r := mustRead(t, scs[0]); r.Value != 1 {
		t.Fatalf("Read = %+v, want 1", r)
	}
	before := proxy.Queries()
	var wg sync.WaitGroup
	for _, sc := range scs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r, err := read(sc, 15*time.Second); err != nil || r.Value != 1 {
				t.Errorf("Read = %+v, %v; want 1", r, err)
			}
		}()
	}
	wg.Wait()
	// A run is three statements: START TRANSACTION READ ONLY, the query,
	// ROLLBACK.
	if got := proxy.Queries() - before; got != 3 {
		t.Errorf("%d concurrent reads of one query sent %d statements, want 3 (one run)", triggers, got)
	}
	other := scalertest.NewScaler(t, typ, hostTrigger(proxy.Port(), "SELECT 2"))
	if r := mustRead(t, other); r.Value != 2 {
		t.Errorf("Read = %+v, want 2", r)
	}
	if got := proxy.Queries() - before; got != 6 {
		t.Errorf("after a different query, %d statements were sent, want 6 (two runs)", got)
	}
}
