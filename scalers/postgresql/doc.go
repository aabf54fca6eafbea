// SPDX-License-Identifier: Apache-2.0

// Package postgresql is the postgresql trigger type: it scales on the number
// a SQL query returns, such as the count of pending jobs in a table.
//
// The query must return exactly one row with one numeric column; NULL, text
// that is not a number, no row, several rows or several columns are errors,
// never a zero (see package sqlscaler). The Type owns one pgx pool (at most 4
// connections) per set of connection parameters and credentials, so any
// number of triggers on one database share it, and it coalesces identical
// queries in flight on one pool into one statement. Queries run with the
// simple protocol (no prepared statements, so PgBouncer in transaction mode
// works), and a read whose context ends cancels its statement on the server.
//
// The metadata keys are KEDA's (query, targetQueryValue,
// activationTargetQueryValue, connection or host/port/userName/password/
// dbName/sslmode) plus timeout; docs/scalers/postgresql.md documents them.
package postgresql
