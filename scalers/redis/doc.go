// SPDX-License-Identifier: Apache-2.0

// Package redis holds two trigger types on Redis: redis, which scales on the
// length of a list (LLEN), and redis-streams, which scales on a stream's
// consumer group — the entries delivered to it and not yet acknowledged
// (XPENDING), or its lag, the entries not yet delivered to it (XINFO GROUPS,
// Redis 7+) — or on the stream's length (XLEN).
//
// NewTypes builds both; they share one client per (server, database,
// credentials, TLS settings), holding at most 4 connections, so any number of
// list and stream triggers on one server cost one client. Identical reads in
// flight (same client, same key, same mode) are merged into one command, and
// the Scalers implement scalers.Prober: the activation probes of the triggers
// on one client are sent together, one pipelined round trip per batch (see
// probe.go).
//
// A missing list or stream reads 0, as Redis itself answers; a key of another
// type (ErrWrongType), a consumer group that does not exist (ErrNoGroup) and
// a server without lag (ErrNoLag) are errors naming the key, never a zero.
//
// redis-cluster and redis-cluster-streams read the same in a Redis Cluster
// (cluster.go bounds the nodes a cluster may name), redis-sentinel and
// redis-sentinel-streams on the master that Redis Sentinel names.
// NewAllTypesWithEgress builds all six on one pool. Every dial, to a node a
// cluster or the sentinels named too, passes the operator's egress policy
// (and a pinned trigger's allowed endpoints).
//
// The metadata keys are KEDA's, plus timeout; docs/scalers/redis.md
// documents them.
package redis
