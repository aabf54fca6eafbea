// SPDX-License-Identifier: Apache-2.0

// Package sqlscaler holds what the SQL scalers (postgresql, mysql) share:
// turning a query's result into one number, with the same rules for every
// database, and reading that number through a Coalescer so that identical
// queries from many triggers cost one round trip.
//
// The rules for a result: exactly one row with exactly one column, whose value
// is a number (an integer, a float, a decimal, or text that parses as a finite
// number). No row, several rows, several columns, NULL, NaN, infinities and
// any other type are errors, never a zero. Errors about the result are
// *ResultError, so callers can tell them from connection failures; they never
// quote a value from the database.
//
// Package sqltest holds test helpers for the SQL scalers' real-service tests.
package sqlscaler
