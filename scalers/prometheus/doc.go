// SPDX-License-Identifier: Apache-2.0

// Package prometheus is the prometheus trigger type: it scales on the value of
// an instant PromQL query.
//
// The scaler depends on one method, querier.Query; httpQuerier implements it
// with GET <serverAddress>/api/v1/query and parses the JSON answer itself. A
// query must give one number: an instant vector with one sample, or a scalar.
// Several series, a range vector, a string, NaN or ±Inf are errors that tell
// the user what to change. An empty vector is an error too, unless the
// trigger sets ignoreNullValues: "true" (KEDA's default is the opposite; a
// Prometheus that lost its scrape target must not scale the workload to zero).
//
// The Type owns a scalers.Pool of *http.Client, one per (serverAddress,
// credentials, TLS settings), and a scalers.Coalescer that merges identical
// queries in flight. Credentials (bearerToken, username, password) come only
// from a TriggerAuthentication and never appear in errors.
package prometheus
