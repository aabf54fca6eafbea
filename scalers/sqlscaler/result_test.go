// SPDX-License-Identifier: Apache-2.0

package sqlscaler

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// rows is a Result over fixed rows.
type rows struct {
	data [][]any
	i    int
	err  error
}

func (r *rows) Next() bool {
	if r.i >= len(r.data) {
		return false
	}
	r.i++
	return true
}
func (r *rows) Values() ([]any, error) { return r.data[r.i-1], nil }
func (r *rows) TypeName(int) string    { return "SOMETYPE" }
func (r *rows) Err() error             { return r.err }

func TestOneNumberReadsTheOnlyValue(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want float64
	}{
		{"an int64", int64(37), 37},
		{"an int32", int32(-4), -4},
		{"an int16", int16(7), 7},
		{"a uint64", uint64(1 << 40), 1 << 40},
		{"a float64", 2.5, 2.5},
		{"a float32", float32(0.25), 0.25},
		{"decimal text in bytes", []byte("12.50"), 12.5},
		{"a numeric string with spaces", " 42 ", 42},
		{"an exponent", "1e3", 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := OneNumber(&rows{data: [][]any{{tt.v}}})
			if err != nil || got != tt.want {
				t.Errorf("OneNumber = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestOneNumberRefusesEverythingElse(t *testing.T) {
	driverErr := errors.New("connection reset")
	tests := []struct {
		name      string
		res       *rows
		says      string
		notResult bool
	}{
		{"no rows", &rows{}, "no rows", false},
		{"two rows", &rows{data: [][]any{{int64(1)}, {int64(2)}}}, "more than one row", false},
		{"two columns", &rows{data: [][]any{{int64(1), int64(2)}}}, "2 columns", false},
		{"zero columns", &rows{data: [][]any{{}}}, "0 columns", false},
		{"NULL", &rows{data: [][]any{{nil}}}, "NULL", false},
		{"text that is not a number", &rows{data: [][]any{{[]byte("pending")}}}, "not a number", false},
		{"NaN text", &rows{data: [][]any{{"NaN"}}}, "not a finite number", false},
		{"a float NaN", &rows{data: [][]any{{math.NaN()}}}, "not a finite number", false},
		{"an infinity", &rows{data: [][]any{{math.Inf(-1)}}}, "not a finite number", false},
		{"a boolean", &rows{data: [][]any{{true}}}, "type SOMETYPE", false},
		{"a time", &rows{data: [][]any{{time.Now()}}}, "type SOMETYPE", false},
		{"a driver error before any row", &rows{err: driverErr}, "connection reset", true},
		{"a driver error after the row", &rows{data: [][]any{{int64(1)}}, err: driverErr}, "connection reset", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := OneNumber(tt.res)
			if err == nil {
				t.Fatalf("OneNumber = %v with no error", got)
			}
			if got != 0 {
				t.Errorf("OneNumber returned %v along with its error", got)
			}
			if !strings.Contains(err.Error(), tt.says) {
				t.Errorf("error %q does not say %q", err, tt.says)
			}
			if IsResultError(err) == tt.notResult {
				t.Errorf("IsResultError(%q) = %v", err, !tt.notResult)
			}
		})
	}
}

func TestResultErrorsNeverQuoteTheValue(t *testing.T) {
	_, err := OneNumber(&rows{data: [][]any{{"alice@example.com"}}})
	if err == nil || strings.Contains(err.Error(), "alice") {
		t.Errorf("error %v quotes the value", err)
	}
}
