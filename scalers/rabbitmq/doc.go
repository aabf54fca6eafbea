// SPDX-License-Identifier: Apache-2.0

// Package rabbitmq is the rabbitmq trigger type: it scales on the number of
// messages in a RabbitMQ queue, or on the rate at which they are published.
//
// It reads either over AMQP (a passive queue.declare, which reports the
// messages ready for delivery) or from the management API (which also counts
// messages delivered but not yet acknowledged, lists queues by regular
// expression and reports publish rates). The Type owns one AMQP connection per
// (endpoint, vhost, credentials) and one HTTP client per (management API,
// credentials), shared by all its triggers, and merges identical reads that
// are in flight at the same time; 1,000 triggers on one queue cost one
// connection and, when they poll together, one query.
//
// Its Scalers implement scalers.Prober for the scale loop's frequent
// activation checks of idle targets: the probes of triggers that read one
// queue through the management API share one request per vhost (the queue
// alone, a name filter for a few queues, the whole vhost for many), and a
// result younger than 500 ms answers later probes; other triggers' probes are
// reads. ProbeOf and QueueDepths expose the same batching to callers that
// group triggers themselves.
//
// Metadata keys and their meaning: docs/scalers/rabbitmq.md.
package rabbitmq
