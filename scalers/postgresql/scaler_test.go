// SPDX-License-Identifier: Apache-2.0

package postgresql_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/postgresql"
	"github.com/ebbscale/ebb/scalers/scalertest"
	"github.com/ebbscale/ebb/scalers/sqlscaler/sqltest"
)

// The real PostgreSQL of the development and CI machines: trust
// authentication on 127.0.0.1, user postgres, database test.
const (
	pgHost = "127.0.0.1"
	pgPort = "5432"
	pgAddr = pgHost + ":" + pgPort
	pgDB   = "test"
)

// admin connects to the real database as postgres, for setting up tables and
// roles and for looking at pg_stat_activity.
func admin(t testing.TB) *pgx.Conn {
	t.Helper()
	scalertest.RequireService(t, "PostgreSQL", pgAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, "host="+pgHost+" port="+pgPort+" user=postgres dbname="+pgDB+" sslmode=disable")
	if err != nil {
		t.Fatalf("connecting to PostgreSQL as postgres: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func exec(t testing.TB, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// jobsTable creates a uniquely named table of jobs with a state column and
// drops it at the end of the test.
func jobsTable(t testing.TB, conn *pgx.Conn) string {
	t.Helper()
	name := sqltest.Unique("ebb_jobs")
	exec(t, conn, "CREATE TABLE "+name+" (id serial PRIMARY KEY, state text NOT NULL)")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = conn.Exec(ctx, "DROP TABLE IF EXISTS "+name)
	})
	return name
}

// role creates a login role with a random name and password and drops it at
// the end of the test.
func role(t testing.TB, conn *pgx.Conn) (name, password string) {
	t.Helper()
	name = sqltest.Unique("ebb_role")
	password = sqltest.Unique("Pw") + `'q\ @:/?#`
	exec(t, conn, "CREATE ROLE "+name+" LOGIN PASSWORD '"+strings.ReplaceAll(password, "'", "''")+"'")
	exec(t, conn, "GRANT SELECT ON ALL TABLES IN SCHEMA public TO "+name)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = conn.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", name)
		_, _ = conn.Exec(ctx, "DROP OWNED BY "+name)
		_, _ = conn.Exec(ctx, "DROP ROLE IF EXISTS "+name)
	})
	return name, password
}

// pgURL is a connection URL with the user and password escaped.
func pgURL(user, password, addr, db string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(user, password), Host: addr, Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String()
}

func trigger(md map[string]string) scalers.Trigger {
	return scalers.Trigger{Namespace: "default", ScaledObject: "worker", Index: 0, Name: "jobs", Type: "postgresql", Metadata: md}
}

// hostTrigger is a trigger on the real database (or addr) as postgres.
func hostTrigger(port, query string, extra ...string) scalers.Trigger {
	md := map[string]string{
		"host": pgHost, "port": port, "userName": "postgres", "dbName": pgDB, "sslmode": "disable",
		"query": query, "targetQueryValue": "10",
	}
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

func TestConformance(t *testing.T) {
	conn := admin(t)
	user, password := role(t, conn)
	typ := postgresql.NewType()
	valid := trigger(map[string]string{"query": "SELECT 1", "targetQueryValue": "5", "host": pgHost, "port": pgPort, "dbName": pgDB, "sslmode": "disable"})
	valid.AuthParams = map[string]string{"userName": user, "password": password}
	unreachable := trigger(map[string]string{"query": "SELECT 1", "targetQueryValue": "5"})
	unreachable.AuthParams = map[string]string{"connection": pgURL(user, password, scalertest.FreeAddr(t), "test")}

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
	base := hostTrigger(pgPort, "SELECT 1").Metadata
	withAuth := func(tr scalers.Trigger, auth ...string) scalers.Trigger {
		tr.AuthParams = map[string]string{}
		for i := 0; i+1 < len(auth); i += 2 {
			tr.AuthParams[auth[i]] = auth[i+1]
		}
		return tr
	}
	connOnly := map[string]string{"query": "SELECT 1", "targetQueryValue": "5"}
	scalertest.Run(t, scalertest.Suite{
		Type:        typ,
		Valid:       valid,
		Unreachable: unreachable,
		Secrets:     []string{password},
		Open:        typ.OpenConnections,
		WithEgress:  func(e *scalers.Egress) scalers.Type { return postgresql.NewTypeWithEgress(e) },
		Hostile:     pgHostile,
		At: func(addr string) scalers.Trigger {
			tr := trigger(map[string]string{"query": "SELECT 1", "targetQueryValue": "5"})
			tr.AuthParams = map[string]string{"connection": pgURL(user, password, addr, "test")}
			return tr
		},
		Bad: []scalertest.BadMetadata{
			{Name: "a trigger without a query", Trigger: with(base, "query", "<delete>"), Key: "query"},
			{Name: "an empty query", Trigger: with(base, "query", "  "), Key: "query"},
			{Name: "a trigger without targetQueryValue", Trigger: with(base, "targetQueryValue", "<delete>"), Key: "targetQueryValue"},
			{Name: "a targetQueryValue that is not a number", Trigger: with(base, "targetQueryValue", "ten"), Key: "targetQueryValue"},
			{Name: "a targetQueryValue of zero", Trigger: with(base, "targetQueryValue", "0"), Key: "targetQueryValue"},
			{Name: "a negative targetQueryValue", Trigger: with(base, "targetQueryValue", "-3"), Key: "targetQueryValue"},
			{Name: "an activationTargetQueryValue that is not a number", Trigger: with(base, "activationTargetQueryValue", "some"), Key: "activationTargetQueryValue"},
			{Name: "neither a connection nor a host", Trigger: with(base, "host", "<delete>", "port", "<delete>", "userName", "<delete>", "dbName", "<delete>", "sslmode", "<delete>"), Key: "connection"},
			{Name: "a host without userName", Trigger: with(base, "userName", "<delete>"), Key: "userName"},
			{Name: "a host without dbName", Trigger: with(base, "dbName", "<delete>"), Key: "dbName"},
			{Name: "a port that is not a number", Trigger: with(base, "port", "fivefour"), Key: "port"},
			{Name: "a port of zero", Trigger: with(base, "port", "0"), Key: "port"},
			{Name: "a port above 65535", Trigger: with(base, "port", "70000"), Key: "port"},
			{Name: "an sslmode that libpq does not know", Trigger: with(base, "sslmode", "on"), Key: "sslmode"},
			{Name: "a timeout that is not a duration", Trigger: with(base, "timeout", "soon"), Key: "timeout"},
			{Name: "a timeout of zero", Trigger: with(base, "timeout", "0s"), Key: "timeout"},
			{Name: "a password written in metadata", Trigger: with(base, "password", password), Key: "password"},
			{Name: "a passwordFromEnv naming a variable the container lacks", Trigger: with(base, "passwordFromEnv", "PG_PASSWORD"), Key: "password"},
			{Name: "a connection combined with a host", Trigger: withAuth(with(connOnly, "host", pgHost), "connection", "postgres://u:"+password+"@"+pgAddr+"/test"), Key: "host"},
			{Name: "a connection combined with a port", Trigger: withAuth(with(connOnly, "port", "5432"), "connection", "postgres://u:"+password+"@"+pgAddr+"/test"), Key: "port"},
			{Name: "a connection combined with an sslmode", Trigger: withAuth(with(connOnly, "sslmode", "require"), "connection", "host=x"), Key: "sslmode"},
			{Name: "a connection URL that does not parse", Trigger: withAuth(trigger(connOnly), "connection", "postgres://u:"+password+"@"+pgHost+":notaport/test"), Key: "connection"},
			{Name: "a key=value connection string with an unterminated quote", Trigger: withAuth(trigger(connOnly), "connection", "host=x password='"+password), Key: "connection"},
			{Name: "a connection string that names a passfile of the operator", Trigger: withAuth(trigger(connOnly), "connection", "host=x user=u passfile=/etc/passwd"), Key: "connection"},
			{Name: "a connection string that names a service file", Trigger: withAuth(trigger(connOnly), "connection", "postgres://u:"+password+"@x/db?servicefile=/tmp/s&service=a"), Key: "connection"},
			{Name: "a connection string that sets pgx pool sizes", Trigger: withAuth(trigger(connOnly), "connection", "host=x pool_max_conns=100"), Key: "connection"},
		},
	})
}

func TestNeitherConnectionNorHostIsAnErrorNamingBothKeys(t *testing.T) {
	err := postgresql.NewType().Validate(trigger(map[string]string{"query": "SELECT 1", "targetQueryValue": "1"}))
	if err == nil || !strings.Contains(err.Error(), `"connection"`) || !strings.Contains(err.Error(), `"host"`) {
		t.Fatalf("Validate = %v, want an error naming connection and host", err)
	}
	if !strings.Contains(err.Error(), `trigger 0 "jobs" (postgresql)`) {
		t.Errorf("error %q does not name the trigger", err)
	}
}

func TestAdmissionAcceptsConnectionParametersThatTheTriggerAuthenticationWillSupply(t *testing.T) {
	tests := []struct {
		name string
		md   map[string]string
	}{
		{"no connection and no host", map[string]string{"query": "SELECT 1", "targetQueryValue": "1"}},
		{"a host whose userName and dbName come from the TriggerAuthentication", map[string]string{"query": "SELECT 1", "targetQueryValue": "1", "host": "db"}},
		{"a connection from the environment", map[string]string{"query": "SELECT 1", "targetQueryValue": "1", "connectionFromEnv": "PG_URL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := trigger(tt.md)
			tr.AuthPending = true
			if err := postgresql.NewType().Validate(tr); err != nil {
				t.Fatalf("Validate with AuthPending = %v", err)
			}
		})
	}
}

func TestTheValueFollowsTheRowsInTheTable(t *testing.T) {
	conn := admin(t)
	table := jobsTable(t, conn)
	typ := postgresql.NewType()
	sc := scalertest.NewScaler(t, typ, hostTrigger(pgPort, "SELECT count(*) FROM "+table+" WHERE state='pending'", "activationTargetQueryValue", "0"))

	if r := mustRead(t, sc); r.Value != 0 || r.Active {
		t.Fatalf("empty table: Read = %+v, want value 0, inactive", r)
	}
	exec(t, conn, "INSERT INTO "+table+" (state) SELECT 'pending' FROM generate_series(1, 37)")
	if r := mustRead(t, sc); r.Value != 37 || !r.Active {
		t.Fatalf("after inserting 37 pending jobs: Read = %+v, want value 37, active", r)
	}
	exec(t, conn, "UPDATE "+table+" SET state='done' WHERE id IN (SELECT id FROM "+table+" ORDER BY id LIMIT 10)")
	if r := mustRead(t, sc); r.Value != 27 || !r.Active {
		t.Fatalf("after marking 10 done: Read = %+v, want value 27, active", r)
	}
	exec(t, conn, "UPDATE "+table+" SET state='done'")
	if r := mustRead(t, sc); r.Value != 0 || r.Active {
		t.Fatalf("after marking all done: Read = %+v, want value 0, inactive", r)
	}
	if m := sc.Metric(); m.Name != "s0-postgresql-test" || m.Target != 10 || m.ActivationTarget != 0 {
		t.Errorf("Metric = %+v, want name s0-postgresql-test, target 10, activation 0", m)
	}
}

func TestTheTriggerIsActiveOnlyAboveTheActivationThreshold(t *testing.T) {
	conn := admin(t)
	table := jobsTable(t, conn)
	exec(t, conn, "INSERT INTO "+table+" (state) SELECT 'pending' FROM generate_series(1, 5)")
	typ := postgresql.NewType()
	query := "SELECT count(*) FROM " + table + " WHERE state='pending'"
	tests := []struct {
		name       string
		activation string
		want       bool
	}{
		{"five rows with the default threshold of 0 are active", "", true},
		{"five rows above a threshold of 4.5 are active", "4.5", true},
		{"five rows at a threshold of 5 are not active", "5", false},
		{"five rows below a threshold of 10 are not active", "10", false},
		{"five rows above a negative threshold are active", "-1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := hostTrigger(pgPort, query)
			if tt.activation != "" {
				tr.Metadata["activationTargetQueryValue"] = tt.activation
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
	typ := postgresql.NewType()
	tests := []struct {
		name  string
		query string
		want  float64
	}{
		{"a bigint count", "SELECT count(*) FROM generate_series(1, 12)", 12},
		{"a smallint", "SELECT 7::int2", 7},
		{"an integer", "SELECT 70000::int4", 70000},
		{"a numeric with a fraction", "SELECT 12.5::numeric", 12.5},
		{"a sum, which is numeric", "SELECT sum(x) FROM generate_series(1, 4) x", 10},
		{"a real", "SELECT 0.25::float4", 0.25},
		{"a double precision", "SELECT 2.5::float8", 2.5},
		{"text that holds a number", "SELECT '42'::text", 42},
		{"a negative number", "SELECT -3", -3},
		{"a COALESCE over an empty sum", "SELECT COALESCE(sum(x), 0) FROM generate_series(1, 0) x", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustRead(t, scalertest.NewScaler(t, typ, hostTrigger(pgPort, tt.query)))
			if r.Value != tt.want {
				t.Errorf("Read = %+v, want %v", r, tt.want)
			}
		})
	}
}

func TestAResultThatIsNotOneNumberIsAnErrorNotAZero(t *testing.T) {
	conn := admin(t)
	table := jobsTable(t, conn)
	exec(t, conn, "INSERT INTO "+table+" (state) VALUES ('pending'), ('pending')")
	typ := postgresql.NewType()
	tests := []struct {
		name  string
		query string
		says  string
	}{
		{"NULL", "SELECT NULL::int", "NULL"},
		{"the sum of no rows, which is NULL", "SELECT sum(id) FROM " + table + " WHERE state='gone'", "NULL"},
		{"text that is not a number", "SELECT state FROM " + table + " LIMIT 1", "not a number"},
		{"a boolean", "SELECT true", "type bool"},
		{"a timestamp", "SELECT now()", "type timestamptz"},
		{"no rows", "SELECT id FROM " + table + " WHERE false", "no rows"},
		{"two rows", "SELECT id FROM " + table, "more than one row"},
		{"two columns", "SELECT 1, 2", "2 columns"},
		{"a float NaN", "SELECT 'NaN'::float8", "not a finite number"},
		{"a numeric NaN", "SELECT 'NaN'::numeric", "not a finite number"},
		{"an infinity", "SELECT 'Infinity'::float8", "not a finite number"},
		// The server's messages are not repeated (a tenant's server could
		// say anything): its SQLSTATE is, with the condition's name.
		{"SQL that does not parse", "SELEC count(*) FROM " + table, "SQLSTATE 42601 (syntax error)"},
		{"a table that does not exist", "SELECT count(*) FROM " + table + "_missing", "SQLSTATE 42P01 (undefined table)"},
		{"a division by zero", "SELECT 1/0", "SQLSTATE 22012 (division by zero)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := read(scalertest.NewScaler(t, typ, hostTrigger(pgPort, tt.query)), 15*time.Second)
			if err == nil {
				t.Fatalf("Read = %+v with no error", r)
			}
			if r != (scalers.Reading{}) {
				t.Errorf("Read returned %+v along with its error", r)
			}
			if !strings.Contains(err.Error(), tt.says) {
				t.Errorf("error %q does not say %q", err, tt.says)
			}
			if !strings.Contains(err.Error(), "PostgreSQL at 127.0.0.1:5432/test") {
				t.Errorf("error %q does not say which database", err)
			}
		})
	}
	// The pool survives query errors: the next good query reads.
	if r := mustRead(t, scalertest.NewScaler(t, typ, hostTrigger(pgPort, "SELECT count(*) FROM "+table))); r.Value != 2 {
		t.Errorf("after the errors, Read = %+v, want 2", r)
	}
}

func TestConnectionParametersFromATriggerAuthentication(t *testing.T) {
	conn := admin(t)
	table := jobsTable(t, conn)
	exec(t, conn, "INSERT INTO "+table+" (state) SELECT 'pending' FROM generate_series(1, 4)")
	user, password := role(t, conn)
	exec(t, conn, "GRANT SELECT ON "+table+" TO "+user)
	query := "SELECT count(*) FROM " + table + " WHERE state='pending' AND current_user = '" + user + "'"
	md := map[string]string{"query": query, "targetQueryValue": "2"}
	escaped := strings.TrimPrefix(url.UserPassword(user, password).String(), user+":")
	tests := []struct {
		name string
		auth map[string]string
	}{
		{"a connection URL", map[string]string{"connection": pgURL(user, password, pgAddr, pgDB)}},
		{"a key=value connection string", map[string]string{"connection": "host=" + pgHost + " port=" + pgPort + " dbname=" + pgDB + " sslmode=disable user=" + user + " password='" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(password) + "'"}},
		{"a connection string without a password, and the password apart", map[string]string{"connection": "host=" + pgHost + " dbname=" + pgDB + " sslmode=disable user=" + user, "password": password}},
		{"host, port, userName, password and dbName", map[string]string{"host": pgHost, "port": pgPort, "userName": user, "password": password, "dbName": pgDB, "sslmode": "disable"}},
	}
	typ := postgresql.NewType()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := trigger(md)
			tr.AuthParams = tt.auth
			if r := mustRead(t, scalertest.NewScaler(t, typ, tr)); r.Value != 4 {
				t.Fatalf("Read = %+v, want 4 (the rows this role sees)", r)
			}
			// Failures never show the password.
			for _, failing := range []string{"SELECT nope FROM " + table, "SELECT 'x'"} {
				tr := trigger(map[string]string{"query": failing, "targetQueryValue": "2"})
				tr.AuthParams = tt.auth
				_, err := read(scalertest.NewScaler(t, typ, tr), 15*time.Second)
				if err == nil {
					t.Fatalf("query %q read with no error", failing)
				}
				if strings.Contains(err.Error(), password) || strings.Contains(err.Error(), escaped) {
					t.Errorf("error shows the password: %s", scalers.RedactString(err.Error(), password, escaped))
				}
			}
		})
	}
}

func TestThePasswordNeverAppearsInErrors(t *testing.T) {
	conn := admin(t)
	user, password := role(t, conn)
	escaped := strings.TrimPrefix(url.UserPassword(user, password).String(), user+":")
	proxy := sqltest.NewProxy(t, pgAddr, nil)
	proxy.Hang(true)
	typ := postgresql.NewType()
	tests := []struct {
		name string
		auth map[string]string
	}{
		{"a URL to a port where nothing listens", map[string]string{"connection": pgURL(user, password, scalertest.FreeAddr(t), pgDB)}},
		{"a URL to a database that never answers", map[string]string{"connection": pgURL(user, password, proxy.Addr(), pgDB)}},
		{"a host that does not resolve", map[string]string{"host": "no-such-host.invalid", "userName": user, "password": password, "dbName": "test"}},
		{"a database that does not exist", map[string]string{"connection": pgURL(user, password, pgAddr, "nodb_"+user)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := trigger(map[string]string{"query": "SELECT 1", "targetQueryValue": "1", "timeout": "1s"})
			tr.AuthParams = tt.auth
			r, err := read(scalertest.NewScaler(t, typ, tr), 10*time.Second)
			if err == nil {
				t.Fatalf("Read = %+v with no error", r)
			}
			if strings.Contains(err.Error(), password) || strings.Contains(err.Error(), escaped) {
				t.Errorf("error shows the password: %s", scalers.RedactString(err.Error(), password, escaped))
			}
		})
	}
}

func TestTheDatabaseGoingAwayGivesErrorsThenReadsRecover(t *testing.T) {
	conn := admin(t)
	table := jobsTable(t, conn)
	exec(t, conn, "INSERT INTO "+table+" (state) SELECT 'pending' FROM generate_series(1, 3)")
	proxy := sqltest.NewProxy(t, pgAddr, nil)
	typ := postgresql.NewType()
	sc := scalertest.NewScaler(t, typ, hostTrigger(proxy.Port(), "SELECT count(*) FROM "+table+" WHERE state='pending'", "timeout", "2s"))
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

	exec(t, conn, "INSERT INTO "+table+" (state) VALUES ('pending')")
	proxy.Start(t)
	sqltest.Eventually(t, 10*time.Second, "reads recover after the database comes back", func() bool {
		r, err := read(sc, 3*time.Second)
		return err == nil && r.Value == 4
	})
}

func TestADatabaseThatNeverAnswersIsBoundedByTheContext(t *testing.T) {
	admin(t)
	proxy := sqltest.NewProxy(t, pgAddr, nil)
	proxy.Hang(true)
	typ := postgresql.NewType()
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

func TestAReadWhoseContextEndsCancelsItsStatementOnTheServer(t *testing.T) {
	conn := admin(t)
	marker := sqltest.Unique("sleepy")
	typ := postgresql.NewType()
	sc := scalertest.NewScaler(t, typ, hostTrigger(pgPort, "SELECT 1 FROM pg_sleep(60) /* "+marker+" */"))
	start := time.Now()
	_, err := read(sc, 300*time.Millisecond)
	if err == nil {
		t.Fatal("a 60 s query read with no error in 300 ms")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %q is not a deadline error", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Read returned after %s, want about 300ms", d)
	}
	sqltest.Eventually(t, 5*time.Second, "the statement is no longer running on the server", func() bool {
		var n int
		err := conn.QueryRow(context.Background(),
			"SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%'||$1||'%' AND pid <> pg_backend_pid()", marker).Scan(&n)
		return err == nil && n == 0
	})
}

func TestManyTriggersOnOneDatabaseShareOnePool(t *testing.T) {
	conn := admin(t)
	table := jobsTable(t, conn)
	exec(t, conn, "INSERT INTO "+table+" (state) SELECT 'pending' FROM generate_series(1, 8)")
	user, password := role(t, conn)
	exec(t, conn, "GRANT SELECT ON "+table+" TO "+user)
	typ := postgresql.NewType()
	const triggers = 60
	var scs []scalers.Scaler
	for i := 0; i < triggers; i++ {
		// Three different queries: they are not coalesced into one, but
		// share the pool's connections.
		tr := trigger(map[string]string{"query": fmt.Sprintf("SELECT count(*) + %d FROM %s WHERE state='pending'", i%3, table), "targetQueryValue": "1"})
		tr.Index = i
		tr.AuthParams = map[string]string{"host": pgHost, "userName": user, "password": password, "dbName": pgDB, "sslmode": "disable"}
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
	var backends int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND application_name = 'ebb'", user).Scan(&backends); err != nil {
		t.Fatal(err)
	}
	if backends < 1 || backends > 4 {
		t.Errorf("the database has %d connections from the triggers' role, want 1 to 4", backends)
	}
	for _, sc := range scs {
		_ = sc.Close()
	}
	if got := typ.OpenConnections(); got != 0 {
		t.Errorf("after every trigger closed, %d pools are open, want 0", got)
	}
	sqltest.Eventually(t, 10*time.Second, "closing the pool closes its connections on the server", func() bool {
		var n int
		err := conn.QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE usename = $1", user).Scan(&n)
		return err == nil && n == 0
	})
}

func TestIdenticalQueriesInFlightReachTheDatabaseOnce(t *testing.T) {
	admin(t)
	proxy := sqltest.NewProxy(t, pgAddr, sqltest.PostgresCounter)
	typ := postgresql.NewType()
	const triggers = 50
	var scs []scalers.Scaler
	for i := 0; i < triggers; i++ {
		tr := hostTrigger(proxy.Port(), "SELECT count(*) FROM pg_sleep(1)")
		tr.Index = i
		scs = append(scs, scalertest.NewScaler(t, typ, tr))
	}
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
	// A run is three statements: BEGIN READ ONLY, the query, ROLLBACK.
	if got := proxy.Queries(); got != 3 {
		t.Errorf("%d concurrent reads of one query sent %d statements, want 3 (one run)", triggers, got)
	}
	// A different query is not merged with it.
	other := scalertest.NewScaler(t, typ, hostTrigger(proxy.Port(), "SELECT 2"))
	if r := mustRead(t, other); r.Value != 2 {
		t.Errorf("Read = %+v, want 2", r)
	}
	if got := proxy.Queries(); got != 6 {
		t.Errorf("after a different query, %d statements were sent, want 6 (two runs)", got)
	}
}

func TestSSLModeIsHonoured(t *testing.T) {
	conn := admin(t)
	var ssl string
	if err := conn.QueryRow(context.Background(), "SHOW ssl").Scan(&ssl); err != nil {
		t.Fatal(err)
	}
	if ssl != "on" {
		t.Skip("this PostgreSQL has ssl off; nothing to check")
	}
	typ := postgresql.NewType()
	query := "SELECT count(*) FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl"
	tests := []struct {
		name    string
		sslmode string
		want    float64
	}{
		{"disable connects without TLS", "disable", 0},
		{"require connects with TLS", "require", 1},
		{"the default, prefer, uses TLS when the server offers it", "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := hostTrigger(pgPort, query, "sslmode", tt.sslmode)
			if tt.sslmode == "" {
				delete(tr.Metadata, "sslmode")
			}
			if r := mustRead(t, scalertest.NewScaler(t, typ, tr)); r.Value != tt.want {
				t.Errorf("Read = %+v, want %v", r, tt.want)
			}
		})
	}
	t.Run("verify-full refuses a certificate the operator does not trust", func(t *testing.T) {
		if _, err := read(scalertest.NewScaler(t, typ, hostTrigger(pgPort, query, "sslmode", "verify-full")), 10*time.Second); err == nil {
			t.Error("verify-full connected to a server whose certificate is not trusted")
		}
	})
}
