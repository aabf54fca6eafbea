// SPDX-License-Identifier: Apache-2.0

// Package work is how the demo's work is consumed, shared by `ebb demo`'s
// in-process consumer and by the worker pods of `ebb demo --cluster`
// (package worker): Pace takes a fixed number of items per second, GetMessages
// takes RabbitMQ messages with basic.get, and KafkaGroup is a member of the
// topic's consumer group that takes records and commits them. It depends on
// the source clients only, so that the worker image stays small.
package work
