// SPDX-License-Identifier: Apache-2.0

package demo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
)

// DefaultRedisAddress is the Redis that --source redis uses.
const DefaultRedisAddress = "127.0.0.1:6379"

// redisSource is a list of its own on a running Redis; the trigger reads
// its length, the consumer pops from its head.
type redisSource struct {
	addr string
	list string
	c    *goredis.Client // safe for concurrent use
}

func newRedisSource(ctx context.Context, addr string) (*redisSource, error) {
	s := &redisSource{addr: addr, list: unique("ebb-demo-jobs-")}
	s.c = goredis.NewClient(&goredis.Options{Addr: addr, DialTimeout: 5 * time.Second})
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.c.Ping(pctx).Err(); err != nil {
		_ = s.c.Close()
		return nil, fmt.Errorf("Redis is not reachable on %s (%v): start it, point --redis-address at it, or use --source kafka (embedded)", addr, err)
	}
	return s, nil
}

func (s *redisSource) Describe() string {
	return fmt.Sprintf("Redis on %s, list %s", s.addr, s.list)
}

func (s *redisSource) Unit() Unit { return Unit{"job", "jobs"} }

// Trigger needs no credentials: the Redis of the demo has none.
func (s *redisSource) Trigger(_ string, target int) (v1alpha1.Trigger, []client.Object) {
	return v1alpha1.Trigger{
		Type: "redis",
		Name: "jobs",
		Metadata: map[string]string{
			"address":    s.addr,
			"listName":   s.list,
			"listLength": strconv.Itoa(target),
		},
	}, nil
}

func (s *redisSource) Produce(ctx context.Context, n int) error {
	jobs := make([]any, n)
	for i := range jobs {
		jobs[i] = "job " + strconv.Itoa(i+1)
	}
	if err := s.c.RPush(ctx, s.list, jobs...).Err(); err != nil {
		return fmt.Errorf("push to %s: %w", s.list, err)
	}
	return nil
}

func (s *redisSource) Consume(ctx context.Context, n int) (int, error) {
	jobs, err := s.c.LPopCount(ctx, s.list, n).Result()
	if errors.Is(err, goredis.Nil) {
		return 0, nil // an empty list
	}
	if err != nil {
		return 0, fmt.Errorf("pop from %s: %w", s.list, err)
	}
	return len(jobs), nil
}

func (s *redisSource) Depth(ctx context.Context) (int64, error) {
	n, err := s.c.LLen(ctx, s.list).Result()
	if err != nil {
		return 0, fmt.Errorf("length of %s: %w", s.list, err)
	}
	return n, nil
}

func (s *redisSource) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = s.c.Del(ctx, s.list).Err()
	return s.c.Close()
}
