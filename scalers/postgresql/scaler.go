// SPDX-License-Identifier: Apache-2.0

package postgresql

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/sqlscaler"
)

const (
	// maxConns caps each database's pgx pool: triggers with different
	// queries on one database share these connections; identical queries
	// share one run.
	maxConns = 4
	// cancelGrace is how long a query may take to stop after its context
	// ends: pgx asks the server to cancel the statement at once and cuts the
	// connection after this delay if the server does not answer.
	cancelGrace = 500 * time.Millisecond
	// applicationName is shown in pg_stat_activity unless the connection
	// string names another.
	applicationName = "ebb"
	// maxMessage bounds a message from the server (see openPool).
	maxMessage = 1 << 20
)

// Type is the postgresql trigger type. It owns one pgx pool per set of
// connection parameters (including credentials) and coalesces identical
// queries on one pool.
type Type struct {
	pools     *scalers.Pool[poolKey, *pgxpool.Pool]
	coalescer scalers.Coalescer[float64]
}

var _ scalers.Type = (*Type)(nil)

// poolKey identifies a database and the credentials used on it. It holds a
// password: it is never logged or shown.
type poolKey struct {
	conn     string
	password string
}

// NewType returns the postgresql trigger type under the default egress
// policy (tests).
func NewType() *Type { return NewTypeWithEgress(scalers.DefaultEgress()) }

// NewTypeWithEgress returns the postgresql trigger type, whose pools connect
// only where egress allows.
func NewTypeWithEgress(egress *scalers.Egress) *Type {
	return &Type{pools: scalers.NewPool(func(ctx context.Context, key poolKey) (*pgxpool.Pool, error) {
		return openPool(ctx, egress, key)
	}, closePool)}
}

// Name implements scalers.Type.
func (t *Type) Name() string { return "postgresql" }

// Config implements scalers.Type.
func (t *Type) Config() any { return &Config{} }

// Validate implements scalers.Type.
func (t *Type) Validate(tr scalers.Trigger) error {
	_, _, err := parse(tr)
	return err
}

// OpenConnections is the number of open pgx pools, one per database and
// credentials. Each pool holds at most 4 connections.
func (t *Type) OpenConnections() int {
	_, open := t.pools.Stats()
	return open
}

// New implements scalers.Type. It does no I/O: the pool connects on the first
// Read.
func (t *Type) New(tr scalers.Trigger) (scalers.Scaler, error) {
	c, cc, err := parse(tr)
	if err != nil {
		return nil, err
	}
	if cc == nil { // only when AuthPending, which New is never given
		return nil, fmt.Errorf("%s: the connection parameters are not resolved", tr)
	}
	key := poolKey{conn: c.connString(), password: c.Password}
	return &sqlscaler.Scaler[poolKey, *pgxpool.Pool]{
		Spec: scalers.MetricSpec{
			Name:             scalers.MetricName(tr, cc.Database),
			Target:           c.TargetQueryValue,
			ActivationTarget: c.ActivationTargetQueryValue,
			Type:             tr.MetricTypeOrDefault(),
		},
		Query:           c.Query,
		Timeout:         c.Timeout,
		Where:           "PostgreSQL at " + net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port))) + "/" + cc.Database,
		Secrets:         []string{c.Password, cc.Password, c.Connection},
		Coalescer:       &t.coalescer,
		CoalesceKey:     key.conn + "\x00" + key.password + "\x00" + c.Query,
		Lease:           t.pools.Acquire(key),
		Run:             query,
		ConnectionLevel: connectionLevel,
		Describe:        describe,
	}, nil
}

func openPool(ctx context.Context, egress *scalers.Egress, key poolKey) (*pgxpool.Pool, error) {
	// The key comes from a validated trigger; the allow-list is checked again
	// so that no other path can make pgx read the operator's files.
	cc, err := pgx.ParseConfigWithOptions(key.conn, pgx.ParseConfigOptions{
		ParseConfigOptions: pgconn.ParseConfigOptions{ConnStringAllowedKeys: allowedConnKeys},
	})
	if err != nil {
		return nil, errors.New("invalid connection string: " + parseProblem(err, key.conn, key.password))
	}
	pc, err := pgxpool.ParseConfig("")
	if err != nil {
		return nil, errors.New("pgx pool defaults: " + parseProblem(err, key.conn, key.password))
	}
	if key.password != "" {
		cc.Password = key.password
	}
	if _, ok := cc.RuntimeParams["application_name"]; !ok {
		cc.RuntimeParams["application_name"] = applicationName
	}
	// Every connection, to the host and to its fallbacks, goes through the
	// egress policy, which sees the name asked for: the lookup is left to
	// the dialer (a name resolves there, and its addresses are checked).
	cc.DialFunc = pgconn.DialFunc(egress.Dialer(net.Dialer{KeepAlive: 5 * time.Minute}))
	cc.LookupFunc = func(_ context.Context, host string) ([]string, error) { return []string{host}, nil }
	// One round trip per read, no prepared statements: works through
	// PgBouncer in transaction mode too.
	cc.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	// When a read's context ends, cancel the statement on the server at once
	// rather than leave it running.
	cc.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: pc, DeadlineDelay: cancelGrace}
	}
	// A server message larger than maxMessage fails the connection rather
	// than make pgx allocate what its length announces (pgx's own bound is
	// 1 GiB). Ebb's query returns one row of one number; the largest
	// messages a server sends otherwise are a few KiB (errors, notices,
	// parameter statuses, authentication).
	cc.BuildFrontend = func(r io.Reader, w io.Writer) *pgproto3.Frontend {
		f := pgproto3.NewFrontend(r, w)
		f.SetMaxBodyLen(maxMessage)
		return f
	}
	pc.ConnConfig = cc
	pc.MaxConns = maxConns
	pc.MinConns = 0
	return pgxpool.NewWithConfig(ctx, pc)
}

// closePool closes a pool without waiting: Close blocks until queries in
// flight on it end, and Lease.Invalidate and Release must not.
func closePool(p *pgxpool.Pool) { go p.Close() }

// query runs q in a read-only transaction, over the extended protocol so
// that it is one statement (a "COMMIT; INSERT ..." cannot leave the
// transaction): a query that writes fails with SQLSTATE 25006 and changes
// nothing, even with credentials that may write. The transaction is rolled
// back.
func query(ctx context.Context, pool *pgxpool.Pool, q string) (float64, error) {
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return 0, err
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelGrace+time.Second)
		defer cancel()
		_ = tx.Rollback(rctx)
	}()
	rows, err := tx.Query(ctx, q, pgx.QueryExecModeExec)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	v, err := sqlscaler.OneNumber(result{rows})
	if err != nil {
		return 0, err
	}
	rows.Close()
	return v, rows.Err()
}

// connectionLevel says whether err may be fixed by new connections: not an
// error the server returned for the query, not a result of the wrong shape,
// not the end of the read's own context.
func connectionLevel(ctx context.Context, err error) bool {
	var pgErr *pgconn.PgError
	return ctx.Err() == nil && !errors.As(err, &pgErr) && !sqlscaler.IsResultError(err)
}

// result adapts pgx rows to sqlscaler.Result.
type result struct{ pgx.Rows }

func (r result) Values() ([]any, error) {
	vals, err := r.Rows.Values()
	if err != nil {
		return nil, err
	}
	for i, v := range vals {
		if n, ok := v.(pgtype.Numeric); ok {
			f, err := n.Float64Value()
			if err != nil {
				return nil, err
			}
			if !f.Valid {
				vals[i] = nil
				continue
			}
			vals[i] = f.Float64
		}
	}
	return vals, nil
}

func (r result) TypeName(i int) string {
	fds := r.FieldDescriptions()
	if i >= len(fds) {
		return "unknown"
	}
	if conn := r.Conn(); conn != nil {
		if t, ok := conn.TypeMap().TypeForOID(fds[i].DataTypeOID); ok {
			return t.Name
		}
	}
	return "oid " + strconv.FormatUint(uint64(fds[i].DataTypeOID), 10)
}

// describe replaces the text of an error the server sent (its message,
// detail and hint) by its SQLSTATE.
func describe(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return &sqlscaler.ServerError{Text: "the server answered SQLSTATE " + sqlscaler.SQLState(pe.Code), Err: err}
	}
	return err
}
