// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/scalertest"
)

// The Redis the tests read: the server on its standard loopback port, no
// password (tests/services.sh starts it).
const redisAddr = "127.0.0.1:6379"

// requireRedis stops the test when nothing listens on redisAddr
// (scalertest.RequireService).
func requireRedis(t testing.TB) {
	t.Helper()
	scalertest.RequireService(t, "Redis", redisAddr)
}

// unique returns prefix followed by a random suffix.
func unique(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "ebb-test-" + prefix + "-" + hex.EncodeToString(b)
}

// admin is the tests' own client, for writing data and looking at the
// server; it does not go through the scalers.
type admin struct {
	t   testing.TB
	rdb *goredis.Client
}

func newAdmin(t testing.TB) *admin {
	t.Helper()
	requireRedis(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: redisAddr, ClientName: "ebb-test-admin", MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	return &admin{t: t, rdb: rdb}
}

func (a *admin) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	a.t.Cleanup(cancel)
	return ctx
}

// key returns a fresh key name, deleted when the test ends.
func (a *admin) key(prefix string) string {
	a.t.Helper()
	name := unique(prefix)
	a.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = a.rdb.Del(ctx, name).Err()
	})
	return name
}

// list makes a list of n items, deleted when the test ends.
func (a *admin) list(n int) string {
	a.t.Helper()
	name := a.key("list")
	a.push(name, n)
	return name
}

func (a *admin) push(list string, n int) {
	a.t.Helper()
	for i := 0; i < n; i++ {
		if err := a.rdb.RPush(a.ctx(), list, "job-"+strconv.Itoa(i)).Err(); err != nil {
			a.t.Fatalf("RPUSH %s: %v", list, err)
		}
	}
}

// stream makes a stream of n entries, deleted when the test ends.
func (a *admin) stream(n int) string {
	a.t.Helper()
	name := a.key("stream")
	a.add(name, n)
	return name
}

// add appends n entries to stream and returns their IDs.
func (a *admin) add(stream string, n int) []string {
	a.t.Helper()
	ids := make([]string, n)
	for i := range ids {
		id, err := a.rdb.XAdd(a.ctx(), &goredis.XAddArgs{Stream: stream, Values: []string{"n", strconv.Itoa(i)}}).Result()
		if err != nil {
			a.t.Fatalf("XADD %s: %v", stream, err)
		}
		ids[i] = id
	}
	return ids
}

// group creates a consumer group on stream, starting at start ("0", "$" or
// an ID), creating the stream if needed.
func (a *admin) group(stream, start string) string {
	a.t.Helper()
	g := unique("group")
	if err := a.rdb.XGroupCreateMkStream(a.ctx(), stream, g, start).Err(); err != nil {
		a.t.Fatalf("XGROUP CREATE %s %s: %v", stream, g, err)
	}
	return g
}

// deliver reads n entries for group (as consumer "worker") without
// acknowledging them, and returns their IDs.
func (a *admin) deliver(stream, group string, n int) []string {
	a.t.Helper()
	res, err := a.rdb.XReadGroup(a.ctx(), &goredis.XReadGroupArgs{
		Group: group, Consumer: "worker", Streams: []string{stream, ">"}, Count: int64(n), Block: -1,
	}).Result()
	if err != nil {
		a.t.Fatalf("XREADGROUP %s %s: %v", stream, group, err)
	}
	var ids []string
	for _, s := range res {
		for _, m := range s.Messages {
			ids = append(ids, m.ID)
		}
	}
	if len(ids) != n {
		a.t.Fatalf("XREADGROUP delivered %d entries, want %d", len(ids), n)
	}
	return ids
}

// user creates an ACL user with a random name and password, deleted when the
// test ends.
func (a *admin) user() (name, password string) {
	a.t.Helper()
	name = unique("user")
	password = "Pw-" + unique("secret") + `:@/?#%`
	if err := a.rdb.Do(a.ctx(), "ACL", "SETUSER", name, "on", ">"+password, "~*", "+@all").Err(); err != nil {
		a.t.Fatalf("ACL SETUSER: %v", err)
	}
	a.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = a.rdb.Do(ctx, "ACL", "DELUSER", name).Err()
	})
	return name, password
}

// connections counts the server's client connections named name.
func (a *admin) connections(name string) int {
	a.t.Helper()
	list, err := a.rdb.ClientList(a.ctx()).Result()
	if err != nil {
		a.t.Fatalf("CLIENT LIST: %v", err)
	}
	n := 0
	for _, line := range strings.Split(list, "\n") {
		for _, f := range strings.Fields(line) {
			if f == "name="+name {
				n++
			}
		}
	}
	return n
}

// testTypes returns the two trigger types sharing one pool, with a client
// name of their own (so that CLIENT LIST tells their connections apart).
func testTypes(t testing.TB) (*ListType, *StreamType, string) {
	t.Helper()
	name := unique("client")
	sh := newShared(name, scalers.DefaultEgress())
	ts := newTypes(sh)
	return ts.List, ts.Streams, name
}

func trigger(typ string, meta, auth map[string]string) scalers.Trigger {
	return scalers.Trigger{
		Namespace: "default", ScaledObject: "worker", Index: 0, Name: "jobs", Type: typ,
		Metadata: meta, AuthParams: auth,
	}
}

func listTrigger(meta map[string]string, auth map[string]string) scalers.Trigger {
	return trigger("redis", meta, auth)
}

func streamTrigger(meta map[string]string, auth map[string]string) scalers.Trigger {
	return trigger("redis-streams", meta, auth)
}

func newScaler(t testing.TB, typ scalers.Type, tr scalers.Trigger) *scaler {
	t.Helper()
	return scalertest.NewScaler(t, typ, tr).(*scaler)
}

func readErr(t testing.TB, sc scalers.Scaler) error {
	t.Helper()
	r, err := scalertest.Read(sc)
	if err == nil {
		t.Fatalf("Read = %+v, want an error", r)
	}
	if r != (scalers.Reading{}) {
		t.Errorf("Read returned a reading %+v along with its error", r)
	}
	return err
}

// expect checks a reading's value and activation.
func expect(t testing.TB, r scalers.Reading, value float64, active bool) {
	t.Helper()
	if r.Value != value || r.Active != active {
		t.Errorf("reading = %+v, want value %v, active %v", r, value, active)
	}
}

func parseList(tr scalers.Trigger) (plan, error)   { return parse(tr, &ListConfig{}) }
func parseStream(tr scalers.Trigger) (plan, error) { return parse(tr, &StreamConfig{}) }
