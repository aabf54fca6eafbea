// SPDX-License-Identifier: Apache-2.0

// Package kafka is the kafka trigger type: it scales on the lag of a Kafka
// consumer group, the records produced to a topic's partitions that the group
// has not consumed yet (log end offset − committed offset, per partition).
//
// The Type owns one client per cluster (bootstrap servers, credentials, TLS
// settings): 1,000 triggers on one cluster share one client, which holds at
// most one TCP connection per broker. The client speaks the Kafka protocol
// through segmentio/kafka-go's protocol package, so that the log end offsets
// of all partitions go out as one ListOffsets request per partition leader and
// the committed offsets of a group as one OffsetFetch request. Topic metadata
// is cached for 5 s, group coordinators for a minute. Identical reads (same
// cluster, group and topic) in flight are merged, and Type.Lags reads many
// groups on one cluster at once for callers that batch.
//
// The scalers implement scalers.Prober: the activation probes of all the
// triggers on one cluster are answered by shared batches, each one call of
// the same batched offsets path, with results shared for up to 500 ms (see
// probe.go).
//
// The metadata keys are KEDA's; docs/scalers/kafka.md documents them and how
// replicas follow from the value.
package kafka
