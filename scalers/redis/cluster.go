// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

const (
	// maxClusterNodes bounds the nodes a cluster may name: go-redis keeps a
	// client (a connection pool) for each, so a server that names a million
	// would cost gigabytes. Redis Cluster's own advice is at most 1,000.
	maxClusterNodes = 1000
	// slotsTimeout bounds one CLUSTER SLOTS, which go-redis also runs in
	// the background, without a deadline of its own.
	slotsTimeout = 10 * time.Second
)

// slotSource answers go-redis's ClusterSlots: it asks a node for CLUSTER
// SLOTS over a connection of its own (the seeds first, then the nodes the
// cluster named last time) and refuses an answer that names more than
// maxClusterNodes nodes, before go-redis makes a client for each.
type slotSource struct {
	c     *client
	opt   goredis.Options // the cluster's node options; Addr is set per node
	seeds []string

	mu    sync.Mutex
	from  *goredis.Client // to the node that answered last
	known []string        // the nodes it named
}

// get returns the cluster's slots.
func (s *slotSource) get(ctx context.Context) ([]goredis.ClusterSlot, error) {
	ctx, cancel := context.WithTimeout(ctx, slotsTimeout)
	defer cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	var candidates []string
	if s.from != nil {
		candidates = append(candidates, s.from.Options().Addr)
	}
	candidates = append(append(candidates, s.seeds...), s.known...)
	tried := map[string]bool{}
	var first error
	for _, addr := range candidates {
		if tried[addr] || ctx.Err() != nil {
			continue
		}
		tried[addr] = true
		rdb := s.from
		if rdb == nil || rdb.Options().Addr != addr {
			opt := s.opt
			opt.Addr, opt.DB, opt.PoolSize, opt.MaxActiveConns = addr, 0, 1, 1
			rdb = goredis.NewClient(&opt)
		}
		slots, err := s.ask(ctx, rdb, addr)
		if err != nil {
			if rdb != s.from {
				_ = rdb.Close()
			}
			if first == nil {
				first = err
			}
			continue
		}
		if rdb != s.from {
			if s.from != nil {
				_ = s.from.Close()
			}
			s.from = rdb
		}
		return slots, nil
	}
	if first == nil {
		first = ctx.Err()
	}
	if first == nil {
		first = errors.New("no node to ask for the cluster's slots")
	}
	return nil, first
}

// ask runs CLUSTER SLOTS on one node and checks the answer. A node's empty
// host means the host of the node that answered, as in go-redis.
func (s *slotSource) ask(ctx context.Context, rdb *goredis.Client, addr string) ([]goredis.ClusterSlot, error) {
	s.c.sh.queries.Add(1)
	slots, err := rdb.ClusterSlots(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("asking for the cluster's slots: %w", s.c.whileConnecting(serverWords(err)))
	}
	if len(slots) == 0 {
		return nil, errors.New("the cluster has no slots assigned (is it set up? CLUSTER ADDSLOTS)")
	}
	originHost, _, _ := net.SplitHostPort(addr)
	nodes := map[string]bool{}
	for i := range slots {
		if slots[i].Start < 0 || slots[i].End > 16383 || slots[i].Start > slots[i].End {
			return nil, errors.New("the cluster's slots answer names slots outside 0 to 16383")
		}
		for j := range slots[i].Nodes {
			n := &slots[i].Nodes[j]
			host, port, err := net.SplitHostPort(n.Addr)
			if err != nil || port == "" {
				return nil, errors.New("the cluster's slots answer names a node without host:port")
			}
			if host == "" {
				n.Addr = net.JoinHostPort(originHost, port)
			}
			nodes[n.Addr] = true
		}
	}
	if len(nodes) > maxClusterNodes {
		return nil, fmt.Errorf("the cluster names %d nodes, more than the %d a trigger connects to", len(nodes), maxClusterNodes)
	}
	s.known = s.known[:0]
	for n := range nodes {
		s.known = append(s.known, n)
	}
	return slots, nil
}

func (s *slotSource) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.from != nil {
		_ = s.from.Close()
		s.from = nil
	}
}
