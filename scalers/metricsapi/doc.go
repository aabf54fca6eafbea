// SPDX-License-Identifier: Apache-2.0

// Package metricsapi is the metrics-api trigger type: it GETs a URL and
// scales on one number in the answer, which valueLocation selects in the
// answer's format: a GJSON path in JSON, a dot-separated path of keys and
// indexes in YAML and XML, a metric name with label matchers in the
// Prometheus text format.
//
// The Type owns a scalers.Pool of *http.Client, one per TLS identity (ca,
// cert, key, unsafeSsl), and merges the GETs of one URL with the same
// credentials: the triggers that read it together share one request (a
// scalers.Coalescer), and an answer younger than a second serves the
// triggers that come just after it. Each trigger then extracts its own
// valueLocation. Answers are bounded (1 MiB; YAML 256 KiB; 64 levels of
// nesting) and never quoted in errors; credentials (apiKey, username,
// password, token, the TLS keys) come only from a TriggerAuthentication.
package metricsapi
