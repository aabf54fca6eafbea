// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	goredis "github.com/redis/go-redis/v9"
)

// go-redis's own lines go to the logger given, not to standard error.
func TestSetLoggerTakesGoRedisLines(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	SetLogger(funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, args)
	}, funcr.Options{Verbosity: 1}))
	t.Cleanup(func() { SetLogger(funcr.New(func(string, string) {}, funcr.Options{})) })

	// Nothing listens on port 1: the dial fails, and go-redis says so.
	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("a ping of a closed port succeeded")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lines) == 0 || !strings.Contains(strings.Join(lines, "\n"), "127.0.0.1:1") {
		t.Errorf("logged %q, want go-redis's line about the failed dial", lines)
	}
}
