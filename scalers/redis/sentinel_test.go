// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/scalertest"
)

func sentinelMeta(s *sentinelSetup, kv ...string) map[string]string {
	return scalertest.With(map[string]string{"addresses": s.sentinel.addr, "sentinelMaster": s.name}, kv...)
}

func TestASentinelListReadsTheMastersList(t *testing.T) {
	s := requireSentinel(t)
	ts, _ := allTestTypes(t)
	list := s.key(t, "list")
	if err := s.admin.RPush(context.Background(), list, "a", "b", "c").Err(); err != nil {
		t.Fatal(err)
	}
	sc := newScaler(t, ts.SentinelList, trigger("redis-sentinel", sentinelMeta(s, "listName", list, "listLength", "2"), nil))
	expect(t, scalertest.MustRead(t, sc), 3, true)
	r, err := sc.Probe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	expect(t, r, 3, true)
}

func TestASentinelStreamReadsItsGroupsPendingEntries(t *testing.T) {
	s := requireSentinel(t)
	ts, _ := allTestTypes(t)
	ctx := context.Background()
	stream := s.key(t, "stream")
	for i := 0; i < 4; i++ {
		if err := s.admin.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: []string{"n", "1"}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.admin.XGroupCreate(ctx, stream, "workers", "0").Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.admin.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: "workers", Consumer: "w", Streams: []string{stream, ">"}, Count: 3, Block: -1}).Err(); err != nil {
		t.Fatal(err)
	}
	sc := newScaler(t, ts.SentinelStreams, trigger("redis-sentinel-streams", sentinelMeta(s, "stream", stream, "consumerGroup", "workers"), nil))
	expect(t, scalertest.MustRead(t, sc), 3, true)
	sc = newScaler(t, ts.SentinelStreams, trigger("redis-sentinel-streams", sentinelMeta(s, "stream", stream, "consumerGroup", "workers", "lagCount", "1"), nil))
	expect(t, scalertest.MustRead(t, sc), 1, true)
}

func TestAMasterTheSentinelsDoNotKnowIsAnError(t *testing.T) {
	s := requireSentinel(t)
	ts, _ := allTestTypes(t)
	sc := newScaler(t, ts.SentinelList, trigger("redis-sentinel", sentinelMeta(s, "sentinelMaster", "no-such-master", "listName", "l", "timeout", "3s"), nil))
	err := readErr(t, sc)
	if !strings.Contains(err.Error(), `master "no-such-master"`) {
		t.Errorf("error %q does not name the master", err)
	}
}

// The master the sentinels name must pass the egress policy, though the
// sentinel itself is allowed: it is never dialled, and the read says so.
func TestTheMasterTheSentinelsNameMustPassTheEgressPolicy(t *testing.T) {
	s := requireSentinel(t)
	master, err := s.masterAddr(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	host, _, _ := net.SplitHostPort(master)
	deny, err := scalers.NewEgress(scalers.EgressRules{Deny: []string{host + "/32"}})
	if err != nil {
		t.Fatal(err)
	}
	ts := newTypes(newShared(unique("client"), deny))
	err = readErr(t, newScaler(t, ts.SentinelList, trigger("redis-sentinel", sentinelMeta(s, "listName", "l", "timeout", "3s"), nil)))
	want := "connecting to " + master + ", which the server named: refused by the operator's egress policy"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
}

// The master the sentinels name is an endpoint the trigger did not name: a
// pinned trigger connects to it only when the pin allows it.
func TestAPinnedSentinelTriggerConnectsOnlyToAnAllowedMaster(t *testing.T) {
	s := requireSentinel(t)
	ts, _ := allTestTypes(t)
	tr := trigger("redis-sentinel", sentinelMeta(s, "listName", "l", "timeout", "3s"), nil)
	tr.Pin = &scalers.EndpointPin{Owner: `ClusterTriggerAuthentication "shared"`, Allowed: []string{s.sentinel.addr}}
	err := readErr(t, newScaler(t, ts.SentinelList, tr))
	if !strings.Contains(err.Error(), "spec.allowedEndpoints") {
		t.Errorf("error %q does not say the master is not an allowed endpoint", err)
	}
}

// After SENTINEL FAILOVER the replica is the master; the trigger follows
// the sentinels to it and keeps reading.
func TestTheSentinelTriggerKeepsReadingAfterAFailover(t *testing.T) {
	s := requireSentinel(t)
	ts, _ := allTestTypes(t)
	ctx := context.Background()
	list := s.key(t, "list")
	if err := s.admin.RPush(ctx, list, "a", "b").Err(); err != nil {
		t.Fatal(err)
	}
	sc := newScaler(t, ts.SentinelList, trigger("redis-sentinel", sentinelMeta(s, "listName", list, "timeout", "3s"), nil))
	expect(t, scalertest.MustRead(t, sc), 2, true)

	before, err := s.masterAddr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	scalertest.Eventually(t, 30*time.Second, "SENTINEL FAILOVER to be accepted", func() (bool, string) {
		err := s.sentinels.Failover(ctx, s.name).Err()
		return err == nil, errString(err)
	})
	scalertest.Eventually(t, 30*time.Second, "the sentinel to name a new master", func() (bool, string) {
		now, err := s.masterAddr(ctx)
		return err == nil && now != before, now + errString(err)
	})
	// The new master has the list (it was a synchronised replica); a push
	// there must show in the trigger's reads.
	scalertest.Eventually(t, 30*time.Second, "a push to the new master", func() (bool, string) {
		err := s.admin.RPush(ctx, list, "c").Err()
		return err == nil, errString(err)
	})
	scalertest.Eventually(t, 30*time.Second, "the trigger to read the new master's list", func() (bool, string) {
		r, err := scalertest.Read(sc)
		if err != nil {
			return false, err.Error()
		}
		n, _ := s.admin.LLen(ctx, list).Result()
		return r.Value == float64(n) && n >= 3, "value " + ftoa(r.Value)
	})
	if err := s.waitForReplica(); err != nil { // for the tests that follow
		t.Fatal(err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	var re goredis.Error
	if errors.As(err, &re) {
		return re.Error()
	}
	return err.Error()
}
