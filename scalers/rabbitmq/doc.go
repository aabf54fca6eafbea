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
// The Type also answers batched probes (ProbeOf, QueueDepths): the message
// counts of every queue in a vhost with one management API request, for the
// scale loop's frequent activation checks of idle targets.
//
// Metadata keys and their meaning: docs/scalers/rabbitmq.md.
package rabbitmq
