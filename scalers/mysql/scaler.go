// SPDX-License-Identifier: Apache-2.0

package mysql

import (
	"context"
	"database/sql"
	sqldriver "database/sql/driver"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/sqlscaler"
)

const (
	// maxConns caps each database's connection pool: triggers with
	// different queries on one database share these connections; identical
	// queries share one run.
	maxConns = 4
	// connMaxLifetime retires connections before servers and proxies drop
	// them for being idle.
	connMaxLifetime = 5 * time.Minute
	// killTimeout bounds the KILL QUERY sent for a read whose context ended.
	killTimeout = 5 * time.Second
)

// Type is the mysql trigger type. It owns one *sql.DB per DSN (connection
// parameters and credentials) and coalesces identical queries on one DB.
type Type struct {
	dbs       *scalers.Pool[string, *sql.DB]
	coalescer scalers.Coalescer[float64]
	threads   threadIDs
}

var _ scalers.Type = (*Type)(nil)

// NewType returns the mysql trigger type under the default egress policy
// (tests).
func NewType() *Type { return NewTypeWithEgress(scalers.DefaultEgress()) }

// NewTypeWithEgress returns the mysql trigger type, whose pools connect only
// where egress allows. The dialer is the connector's own (its DialFunc),
// not one registered with the driver for every user of the process.
func NewTypeWithEgress(egress *scalers.Egress) *Type {
	return &Type{dbs: scalers.NewPool(func(ctx context.Context, dsn string) (*sql.DB, error) {
		return openDB(ctx, egress, dsn)
	}, closeDB)}
}

// Name implements scalers.Type.
func (t *Type) Name() string { return "mysql" }

// Config implements scalers.Type.
func (t *Type) Config() any { return &Config{} }

// Validate implements scalers.Type.
func (t *Type) Validate(tr scalers.Trigger) error {
	_, _, err := parse(tr)
	return err
}

// OpenConnections is the number of open database pools, one per DSN. Each
// holds at most 4 connections.
func (t *Type) OpenConnections() int {
	_, open := t.dbs.Stats()
	return open
}

// New implements scalers.Type. It does no I/O: the pool connects on the first
// Read.
func (t *Type) New(tr scalers.Trigger) (scalers.Scaler, error) {
	c, dc, err := parse(tr)
	if err != nil {
		return nil, err
	}
	if dc == nil { // only when AuthPending, which New is never given
		return nil, fmt.Errorf("%s: the connection parameters are not resolved", tr)
	}
	// The pool key is the full DSN, password included; it is never shown.
	dsn := dc.FormatDSN()
	where := "MySQL at " + dc.Addr
	if dc.DBName != "" {
		where += "/" + dc.DBName
	}
	return &sqlscaler.Scaler[string, *sql.DB]{
		Spec: scalers.MetricSpec{
			Name:             scalers.MetricName(tr, dc.DBName),
			Target:           c.QueryValue,
			ActivationTarget: c.ActivationQueryValue,
			Type:             tr.MetricTypeOrDefault(),
		},
		Query:           c.Query,
		Timeout:         c.Timeout,
		Where:           where,
		Secrets:         append(dsnSecrets(c.ConnectionString, c.Password), dc.Passwd, dsn),
		Coalescer:       &t.coalescer,
		CoalesceKey:     dsn + "\x00" + c.Query,
		Lease:           t.dbs.Acquire(dsn),
		Run:             t.query,
		ConnectionLevel: connectionLevel,
		Describe:        describe,
	}, nil
}

func openDB(_ context.Context, egress *scalers.Egress, dsn string) (*sql.DB, error) {
	// The DSN comes from a validated trigger; the rules are applied again so
	// that no other path opens a database without them.
	dc, err := driver.ParseDSN(dsn)
	if err != nil {
		return nil, errors.New("invalid DSN: " + scalers.RedactString(err.Error(), dsnSecrets(dsn, "")...))
	}
	if err := harden(dc); err != nil {
		return nil, err
	}
	dc.DialFunc = egress.Dialer(net.Dialer{KeepAlive: 30 * time.Second})
	conn, err := driver.NewConnector(dc)
	if err != nil {
		return nil, errors.New("invalid DSN: " + scalers.RedactString(err.Error(), dsnSecrets(dsn, dc.Passwd)...))
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxLifetime(connMaxLifetime)
	return db, nil
}

// closeDB closes a pool without waiting: Close blocks until queries in
// flight on it end, and Lease.Invalidate and Release must not.
func closeDB(db *sql.DB) { go db.Close() }

// query runs q on a connection of db. When ctx ends while q runs, the driver
// drops the connection, but the server keeps running the statement until it
// next writes to the client; query then asks the server to kill it.
func (t *Type) query(ctx context.Context, db *sql.DB, q string) (float64, error) {
	// A pooled connection that died while idle fails with ErrBadConn before
	// anything is sent; like database/sql, try the next one.
	for attempt := 0; ; attempt++ {
		v, err := t.queryOnce(ctx, db, q)
		if errors.Is(err, sqldriver.ErrBadConn) && ctx.Err() == nil && attempt < maxConns {
			continue
		}
		return v, err
	}
}

func (t *Type) queryOnce(ctx context.Context, db *sql.DB, q string) (float64, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	id, err := t.threads.id(ctx, conn)
	if err != nil {
		return 0, err
	}
	v, err := queryOn(ctx, conn, q)
	if err != nil && ctx.Err() != nil {
		go killQuery(db, id)
	}
	return v, err
}

// queryOn runs q in a read-only transaction (START TRANSACTION READ ONLY;
// the driver sends one statement at a time, multiStatements being off): a
// query that writes fails with error 1792 and changes nothing, even with
// credentials that may write. The transaction is rolled back.
func queryOn(ctx context.Context, conn *sql.Conn, q string) (float64, error) {
	tx, err := conn.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback() }()
	rows, err := tx.QueryContext(ctx, q)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	v, err := sqlscaler.OneNumber(&result{rows: rows})
	if err != nil {
		return 0, err
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	return v, rows.Err()
}

// killQuery stops the statement running in server thread id, on another
// connection with the same credentials (a user may kill its own threads).
func killQuery(db *sql.DB, id int64) {
	ctx, cancel := context.WithTimeout(context.Background(), killTimeout)
	defer cancel()
	// The server's answer is decoded on this goroutine: a panic ends it,
	// not the process.
	_ = scalers.Guard(func() error {
		_, err := db.ExecContext(ctx, "KILL QUERY "+strconv.FormatInt(id, 10))
		return err
	})
}

// threadIDs remembers the server thread id of each driver connection, so that
// it is asked once per connection, not once per read. It forgets everything
// when it grows past maxThreadIDs (connections are retired after
// connMaxLifetime, so old entries are of dead connections).
type threadIDs struct {
	mu  sync.Mutex
	ids map[any]int64
}

const maxThreadIDs = 256

func (t *threadIDs) id(ctx context.Context, conn *sql.Conn) (int64, error) {
	var dc any
	if err := conn.Raw(func(c any) error { dc = c; return nil }); err != nil {
		return 0, err
	}
	t.mu.Lock()
	id, ok := t.ids[dc]
	t.mu.Unlock()
	if ok {
		return id, nil
	}
	if err := conn.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
		return 0, err
	}
	t.mu.Lock()
	if t.ids == nil || len(t.ids) >= maxThreadIDs {
		t.ids = make(map[any]int64)
	}
	t.ids[dc] = id
	t.mu.Unlock()
	return id, nil
}

// connectionLevel says whether err may be fixed by new connections: not an
// error the server returned for the query, not a result of the wrong shape,
// not the end of the read's own context.
func connectionLevel(ctx context.Context, err error) bool {
	var myErr *driver.MySQLError
	return ctx.Err() == nil && !errors.As(err, &myErr) && !sqlscaler.IsResultError(err)
}

// result adapts *sql.Rows to sqlscaler.Result.
type result struct {
	rows *sql.Rows
}

func (r *result) Next() bool { return r.rows.Next() }
func (r *result) Err() error { return r.rows.Err() }

func (r *result) Values() ([]any, error) {
	cols, err := r.rows.Columns()
	if err != nil {
		return nil, err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := r.rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	return vals, nil
}

func (r *result) TypeName(i int) string {
	cts, err := r.rows.ColumnTypes()
	if err != nil || i >= len(cts) {
		return "unknown"
	}
	return cts[i].DatabaseTypeName()
}

// describe replaces the text of an error the server sent by its number and
// SQLSTATE.
func describe(err error) error {
	var me *driver.MySQLError
	if errors.As(err, &me) {
		text := fmt.Sprintf("the server answered error %d", me.Number)
		if name, ok := errorNames[me.Number]; ok {
			text += " (" + name + ")"
		}
		return &sqlscaler.ServerError{Text: text + ", SQLSTATE " + sqlscaler.SQLState(string(me.SQLState[:])), Err: err}
	}
	return err
}

// errorNames names the MySQL and MariaDB errors a trigger's query most
// often meets.
var errorNames = map[uint16]string{
	1044: "Access denied to the database",
	1045: "Access denied: wrong user name or password",
	1049: "unknown database",
	1054: "unknown column",
	1064: "SQL syntax error",
	1142: "command denied: the user may not read the table",
	1146: "the table doesn't exist",
	1305: "the function doesn't exist",
	1792: "a write in a READ ONLY transaction",
}
