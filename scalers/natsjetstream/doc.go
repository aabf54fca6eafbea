// SPDX-License-Identifier: Apache-2.0

// Package natsjetstream is the nats-jetstream trigger type: it scales on the
// messages a NATS JetStream consumer has not finished with — those not yet
// delivered to it (num_pending) plus those delivered and not yet acknowledged
// (num_ack_pending).
//
// It reads from one of two sources. Over the NATS protocol (natsServerURL,
// Ebb's own key) it asks the JetStream API for the consumer's info, which the
// consumer's leader answers, so no monitoring port is needed and any server
// of a cluster will do. From a server's HTTP monitoring endpoint
// (natsServerMonitoringEndpoint, KEDA's key) it reads /jsz for the account,
// which lists the account's streams and consumers as that server holds them.
//
// The Type owns one NATS connection per (servers, credentials) and one HTTP
// client per monitoring endpoint, shared by all its triggers, and merges
// identical reads in flight: 1,000 triggers on one consumer cost one
// connection and, when they poll together, one request; over the monitoring
// endpoint, triggers on any consumers of one account share one /jsz request.
//
// Metadata keys and their meaning: docs/scalers/nats-jetstream.md.
package natsjetstream
