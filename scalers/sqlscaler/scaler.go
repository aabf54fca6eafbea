// SPDX-License-Identifier: Apache-2.0

package sqlscaler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ebbscale/ebb/scalers"
)

// Scaler is a SQL trigger's scalers.Scaler: it runs one query on a leased
// connection pool of type P, sharing the run of identical queries in flight,
// and gives up the pool when it fails for reasons new connections may fix.
// The postgresql and mysql scalers are a Scaler each, with their driver's
// Query and ConnectionLevel.
type Scaler[K comparable, P comparable] struct {
	// Spec is the trigger's metric.
	Spec scalers.MetricSpec
	// Query is the statement; Timeout bounds each read.
	Query   string
	Timeout time.Duration
	// Where names the database in errors, e.g. "PostgreSQL at db:5432/app".
	Where string
	// Secrets are redacted from every error.
	Secrets []string
	// Coalescer and CoalesceKey share runs: the key holds the pool's
	// identity and the query.
	Coalescer   *scalers.Coalescer[float64]
	CoalesceKey string
	// Lease is the trigger's hold on its pool.
	Lease *scalers.Lease[K, P]
	// Run runs query on pool and returns its one number.
	Run func(ctx context.Context, pool P, query string) (float64, error)
	// ConnectionLevel says whether err may be fixed by new connections: not
	// an error the server returned for the query, not a result of the wrong
	// shape, not the end of the read's own context.
	ConnectionLevel func(ctx context.Context, err error) bool
	// Describe rewrites an error so that no text the server sent remains
	// in it (its message, its detail): a tenant may point the trigger at a
	// server of their own, and the error becomes a status. Nil keeps errors
	// as they are.
	Describe func(err error) error
}

var _ scalers.Scaler = (*Scaler[string, *int])(nil)

// Metric implements scalers.Scaler.
func (s *Scaler[K, P]) Metric() scalers.MetricSpec { return s.Spec }

// Read implements scalers.Scaler: it runs the query (or joins the identical
// query in flight) and returns its number.
func (s *Scaler[K, P]) Read(ctx context.Context) (scalers.Reading, error) {
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	v, err := Read(ctx, s.Coalescer, s.CoalesceKey, s.run)
	if err != nil {
		return scalers.Reading{}, err
	}
	return scalers.Reading{Value: v, Active: scalers.IsActive(v, s.Spec.ActivationTarget)}, nil
}

func (s *Scaler[K, P]) run(ctx context.Context) (float64, error) {
	pool, err := s.Lease.Get(ctx)
	if err != nil {
		return 0, s.fail(ctx, err)
	}
	v, err := s.Run(ctx, pool, s.Query)
	if err != nil {
		if s.ConnectionLevel(ctx, err) {
			s.Lease.Invalidate(ctx, pool, func(a, b P) bool { return a == b })
		}
		return 0, s.fail(ctx, err)
	}
	return v, nil
}

// fail describes a failed read, without credentials. When the read's context
// ended, the error says so (and errors.Is sees context.DeadlineExceeded) even
// if the driver reported the cancelled statement or the broken connection in
// its own words.
func (s *Scaler[K, P]) fail(ctx context.Context, err error) error {
	if s.Describe != nil {
		err = s.Describe(err)
	}
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		err = fmt.Errorf("%w (%w)", ctxErr, err)
	}
	return scalers.Redact(fmt.Errorf("reading %s: %w", s.Where, err), s.Secrets...)
}

// Close implements scalers.Scaler: it releases the pool lease; the last lease
// on a pool closes it.
func (s *Scaler[K, P]) Close() error {
	s.Lease.Release()
	return nil
}

// ServerError is an error a database server returned, told by its codes
// alone: its text is Text, made by Ebb, and it unwraps to the driver's
// error (whose text holds the server's words).
type ServerError struct {
	Text string
	Err  error
}

func (e *ServerError) Error() string { return e.Text }
func (e *ServerError) Unwrap() error { return e.Err }

// SQLState returns code when it is a well-formed SQLSTATE (five digits or
// upper-case letters), "?????" otherwise, with its condition's name when it
// is one of the common ones.
func SQLState(code string) string {
	if len(code) != 5 {
		return "?????"
	}
	for _, c := range code {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
			return "?????"
		}
	}
	if name, ok := sqlStates[code]; ok {
		return code + " (" + name + ")"
	}
	return code
}

// sqlStates names the SQLSTATEs a trigger's query most often meets.
var sqlStates = map[string]string{
	"25006": "read-only SQL transaction: the query tried to write",
	"22012": "division by zero",
	"28000": "invalid authorization specification",
	"28P01": "invalid password",
	"3D000": "invalid catalog name: no such database",
	"42000": "syntax error or access rule violation",
	"42501": "insufficient privilege",
	"42601": "syntax error",
	"42703": "undefined column",
	"42883": "undefined function",
	"42P01": "undefined table",
	"42S02": "base table or view not found",
	"42S22": "column not found",
	"57014": "query canceled",
	"HY000": "general error",
}
