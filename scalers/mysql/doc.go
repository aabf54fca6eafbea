// SPDX-License-Identifier: Apache-2.0

// Package mysql is the mysql trigger type (MySQL and MariaDB): it scales on
// the number a SQL query returns, such as the count of pending jobs in a
// table.
//
// The query must return exactly one row with one numeric column; NULL, text
// that is not a number, no row, several rows or several columns are errors,
// never a zero (see package sqlscaler). The Type owns one database/sql pool
// (go-sql-driver/mysql, at most 4 connections) per DSN, so any number of
// triggers on one database with the same credentials share it, and it
// coalesces identical queries in flight on one pool into one statement. When
// a read's context ends, the driver drops its connection and the scaler sends
// KILL QUERY for the statement, which the server would otherwise run to its
// end.
//
// The metadata keys are KEDA's (query, queryValue, activationQueryValue,
// connectionString or host/port/username/password/dbName) plus timeout;
// docs/scalers/mysql.md documents them.
package mysql
