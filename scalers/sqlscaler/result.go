// SPDX-License-Identifier: Apache-2.0

package sqlscaler

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Result is one result set of a query, positioned before its first row. The
// drivers' row types are adapted to it.
type Result interface {
	// Next advances to the next row; false at the end or on an error.
	Next() bool
	// Values are the current row's values, as the driver decodes them.
	Values() ([]any, error)
	// TypeName is the database's name for the type of column i, used in
	// error text only.
	TypeName(i int) string
	// Err is the error that ended the iteration, if any.
	Err() error
}

// ResultError says that the query ran but its result is not one number. It is
// not a connection problem: retrying on a new connection will not fix it.
type ResultError struct {
	Msg string
}

func (e *ResultError) Error() string { return e.Msg }

// IsResultError reports whether err is (or wraps) a *ResultError.
func IsResultError(err error) bool {
	var re *ResultError
	return errors.As(err, &re)
}

func resultErr(format string, args ...any) error {
	return &ResultError{Msg: fmt.Sprintf(format, args...)}
}

// OneNumber reads the single number in res: one row, one column. It does not
// close res. Errors from the driver (res.Err, res.Values) are returned as they
// are, for the caller to redact; the others are *ResultError.
func OneNumber(res Result) (float64, error) {
	if !res.Next() {
		if err := res.Err(); err != nil {
			return 0, err
		}
		return 0, resultErr("the query returned no rows; it must return exactly one row with one number (use an aggregate such as count(*), or COALESCE((...), 0) if no row means 0)")
	}
	vals, err := res.Values()
	if err != nil {
		return 0, err
	}
	if len(vals) != 1 {
		return 0, resultErr("the query returned %d columns; it must return exactly one column holding a number", len(vals))
	}
	v, err := Number(vals[0], func() string { return res.TypeName(0) })
	if err != nil {
		return 0, err
	}
	if res.Next() {
		return 0, resultErr("the query returned more than one row; it must return exactly one (add an aggregate, or ORDER BY ... LIMIT 1)")
	}
	if err := res.Err(); err != nil {
		return 0, err
	}
	return v, nil
}

// Number converts one value decoded by a SQL driver into a float64. typeName
// names the column's database type for error text; it is called only on
// errors. The value itself never appears in an error.
func Number(v any, typeName func() string) (float64, error) {
	var f float64
	switch x := v.(type) {
	case nil:
		return 0, resultErr("the query returned NULL, not a number; wrap the expression in COALESCE(..., 0) if NULL should mean 0")
	case int64:
		f = float64(x)
	case int32:
		f = float64(x)
	case int16:
		f = float64(x)
	case int8:
		f = float64(x)
	case int:
		f = float64(x)
	case uint64:
		f = float64(x)
	case uint32:
		f = float64(x)
	case uint16:
		f = float64(x)
	case uint8:
		f = float64(x)
	case uint:
		f = float64(x)
	case float64:
		f = x
	case float32:
		f = float64(x)
	case string:
		return parseText(x, typeName)
	case []byte:
		return parseText(string(x), typeName)
	default:
		return 0, resultErr("the query returned a value of type %s, not a number", typeName())
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, resultErr("the query returned a value that is not a finite number (NaN or infinity)")
	}
	return f, nil
}

func parseText(s string, typeName func() string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, resultErr("the query returned text (type %s) that is not a number; cast the expression to a numeric type", typeName())
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, resultErr("the query returned a value that is not a finite number (NaN or infinity)")
	}
	return f, nil
}
