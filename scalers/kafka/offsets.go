// SPDX-License-Identifier: Apache-2.0

package kafka

import (
	"context"
	"fmt"
	"maps"
	"slices"
)

// PartitionOffsets are the offsets of one partition that a lag is computed
// from.
type PartitionOffsets struct {
	Partition int32
	// Committed is the consumer group's committed offset: the next record it
	// will consume. It is -1 when the group has none.
	Committed int64
	// LogEnd is the offset the next record produced will get (the high
	// watermark).
	LogEnd int64
	// LogStart is the earliest offset still in the log. It is read only for
	// partitions with no committed offset, and is -1 otherwise.
	LogStart int64
}

// Lag is LogEnd − Committed, never negative; ok is false when the group has
// no committed offset.
func (p PartitionOffsets) Lag() (lag int64, ok bool) {
	if p.Committed < 0 {
		return 0, false
	}
	return max(p.LogEnd-p.Committed, 0), true
}

// TopicOffsets are a consumer group's offsets on every partition of a topic,
// sorted by partition.
type TopicOffsets struct {
	Topic      string
	Partitions []PartitionOffsets
}

// GroupOffsets is what Lags read for one consumer group: its topics, sorted
// by name, or the error that concerns this group alone (its coordinator, its
// committed offsets, a topic that does not exist).
type GroupOffsets struct {
	Topics []TopicOffsets
	Err    error
}

// offsets reads the offsets of several consumer groups, each on some topics
// (none: every topic it has committed offsets for), with as few requests as
// the protocol allows:
//
//   - one OffsetFetch per group with no topics given (to learn its topics);
//   - one Metadata request for the topics whose partitions are not cached;
//   - one OffsetFetch per group with topics given, covering all of them;
//   - one ListOffsets (log end) per partition leader, for all partitions of
//     all topics together;
//   - when start is true and some partition has no committed offset, one
//     ListOffsets (log start) per leader for those partitions.
//
// FindCoordinator is sent once per group and then cached. A request that
// fails for reasons that fresh metadata may fix is retried once.
func (c *client) offsets(ctx context.Context, groups map[string][]string, start bool) (map[string]GroupOffsets, error) {
	out, err := c.offsetsOnce(ctx, groups, start)
	if ctx.Err() != nil {
		return out, err
	}
	if err != nil {
		if !isStale(err) {
			return nil, err
		}
		return c.offsetsOnce(ctx, groups, start)
	}
	retry := map[string][]string{}
	for g, res := range out {
		if isStale(res.Err) {
			retry[g] = groups[g]
		}
	}
	if len(retry) == 0 {
		return out, nil
	}
	again, err := c.offsetsOnce(ctx, retry, start)
	if err != nil {
		return out, nil // keep the first answers and their errors
	}
	maps.Copy(out, again)
	return out, nil
}

func (c *client) offsetsOnce(ctx context.Context, groups map[string][]string, start bool) (map[string]GroupOffsets, error) {
	out := make(map[string]GroupOffsets, len(groups))
	committed := make(map[string]map[string]map[int32]int64, len(groups)) // group → topic → partition → offset
	topicsOf := make(map[string][]string, len(groups))

	// Groups measured on all their topics: learn the topics.
	for g, ts := range groups {
		if !allTopics(ts) {
			topicsOf[g] = dedup(ts)
			continue
		}
		offs, err := c.committed(ctx, g, nil)
		if err != nil {
			if isConnError(err) || ctx.Err() != nil {
				return nil, err
			}
			out[g] = GroupOffsets{Err: err}
			continue
		}
		if len(offs) == 0 {
			out[g] = GroupOffsets{Err: fmt.Errorf("consumer group %q has no committed offsets on any topic; set topic to measure its lag", g)}
			continue
		}
		committed[g] = offs
		topicsOf[g] = slices.Sorted(maps.Keys(offs))
	}

	var all []string
	for _, ts := range topicsOf {
		all = append(all, ts...)
	}
	all = dedup(all)
	entries, topicErrs, err := c.metadata(ctx, all)
	if err != nil {
		return nil, err
	}

	// Groups with their topics given: fetch their committed offsets.
	for g, ts := range topicsOf {
		if err := firstTopicError(ts, topicErrs); err != nil {
			out[g] = GroupOffsets{Err: err}
			continue
		}
		if committed[g] != nil {
			continue
		}
		want := make(map[string][]int32, len(ts))
		for _, t := range ts {
			want[t] = partitionIDs(entries[t])
		}
		offs, err := c.committed(ctx, g, want)
		if err != nil {
			if isConnError(err) || ctx.Err() != nil {
				return nil, err
			}
			out[g] = GroupOffsets{Err: err}
			continue
		}
		committed[g] = offs
	}

	// Log end offsets of every partition of every topic still needed.
	need := map[string][]int32{}
	for g, ts := range topicsOf {
		if out[g].Err != nil {
			continue
		}
		for _, t := range ts {
			if _, ok := need[t]; !ok {
				need[t] = partitionIDs(entries[t])
			}
		}
	}
	if len(need) == 0 {
		return out, nil
	}
	ends, err := c.logOffsets(ctx, entries, need, latestOffset)
	if err != nil {
		return nil, err
	}

	// Log start offsets of the partitions some group has not committed on.
	var starts map[string]map[int32]int64
	if start {
		uncommitted := map[string][]int32{}
		for g, ts := range topicsOf {
			if out[g].Err != nil {
				continue
			}
			for _, t := range ts {
				for _, p := range need[t] {
					if off, ok := committed[g][t][p]; (!ok || off < 0) && !slices.Contains(uncommitted[t], p) {
						uncommitted[t] = append(uncommitted[t], p)
					}
				}
			}
		}
		if len(uncommitted) > 0 {
			if starts, err = c.logOffsets(ctx, entries, uncommitted, earliestOffset); err != nil {
				return nil, err
			}
		}
	}

	for g, ts := range topicsOf {
		if out[g].Err != nil {
			continue
		}
		res := GroupOffsets{Topics: make([]TopicOffsets, 0, len(ts))}
		for _, t := range ts {
			to := TopicOffsets{Topic: t, Partitions: make([]PartitionOffsets, 0, len(need[t]))}
			for _, p := range need[t] {
				po := PartitionOffsets{Partition: p, Committed: -1, LogStart: -1}
				if off, ok := committed[g][t][p]; ok && off >= 0 {
					po.Committed = off
				}
				end, ok := ends[t][p]
				if !ok {
					return nil, fmt.Errorf("the broker did not answer the log end offset of topic %q partition %d", t, p)
				}
				po.LogEnd = end
				if po.Committed < 0 && starts != nil {
					if s, ok := starts[t][p]; ok {
						po.LogStart = s
					}
				}
				to.Partitions = append(to.Partitions, po)
			}
			res.Topics = append(res.Topics, to)
		}
		out[g] = res
	}
	return out, nil
}

func allTopics(ts []string) bool {
	return len(ts) == 0 || slices.Contains(ts, "")
}

func dedup(ts []string) []string {
	out := slices.Clone(ts)
	slices.Sort(out)
	return slices.Compact(out)
}

func partitionIDs(e topicEntry) []int32 {
	ids := make([]int32, len(e.partitions))
	for i, p := range e.partitions {
		ids[i] = p.id
	}
	return ids
}

func firstTopicError(topics []string, errs map[string]error) error {
	for _, t := range topics {
		if err := errs[t]; err != nil {
			return fmt.Errorf("topic %q: %w", t, err)
		}
	}
	return nil
}
