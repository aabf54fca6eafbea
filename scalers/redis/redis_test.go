// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/scalertest"
)

func TestAListReadsItsLength(t *testing.T) {
	a := newAdmin(t)
	lists, _, _ := testTypes(t)
	list := a.list(7)
	sc := newScaler(t, lists, listTrigger(map[string]string{"address": redisAddr, "listName": list, "listLength": "5"}, nil))
	expect(t, scalertest.MustRead(t, sc), 7, true)

	a.push(list, 3)
	expect(t, scalertest.MustRead(t, sc), 10, true)

	if err := a.rdb.LPop(a.ctx(), list).Err(); err != nil {
		t.Fatal(err)
	}
	expect(t, scalertest.MustRead(t, sc), 9, true)
}

func TestAMissingListIsEmpty(t *testing.T) {
	lists, _, _ := testTypes(t)
	list := newAdmin(t).key("never-pushed")
	sc := newScaler(t, lists, listTrigger(map[string]string{"address": redisAddr, "listName": list}, nil))
	expect(t, scalertest.MustRead(t, sc), 0, false)
}

func TestTheListTriggerActivatesAboveActivationListLength(t *testing.T) {
	a := newAdmin(t)
	lists, _, _ := testTypes(t)
	list := a.list(3)
	sc := newScaler(t, lists, listTrigger(map[string]string{"address": redisAddr, "listName": list, "activationListLength": "3"}, nil))
	if m := sc.Metric(); m.Target != 5 || m.ActivationTarget != 3 {
		t.Errorf("metric = %+v, want the default target 5 and activation 3", m)
	}
	expect(t, scalertest.MustRead(t, sc), 3, false)
	a.push(list, 1)
	expect(t, scalertest.MustRead(t, sc), 4, true)
}

func TestAKeyOfTheWrongTypeIsAnErrorNamingIt(t *testing.T) {
	a := newAdmin(t)
	lists, streams, _ := testTypes(t)
	str := a.key("string")
	if err := a.rdb.Set(a.ctx(), str, "not a list", 0).Err(); err != nil {
		t.Fatal(err)
	}
	list := a.list(2)
	cases := map[string]struct {
		typ   scalers.Type
		meta  map[string]string
		holds string
	}{
		"a string read as a list":                     {lists, map[string]string{"listName": str}, "string"},
		"a string read as a stream's length":          {streams, map[string]string{"stream": str, "streamLength": "5"}, "string"},
		"a list read as a stream's pending entries":   {streams, map[string]string{"stream": list, "consumerGroup": "g", "pendingEntriesCount": "5"}, "list"},
		"a list read as a stream's consumer lag":      {streams, map[string]string{"stream": list, "consumerGroup": "g", "lagCount": "5"}, "list"},
		"a string read as a stream's pending entries": {streams, map[string]string{"stream": str, "consumerGroup": "g"}, "string"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			tr := trigger(tc.typ.Name(), scalertest.With(tc.meta, "address", redisAddr), nil)
			err := readErr(t, newScaler(t, tc.typ, tr))
			key := tc.meta["listName"] + tc.meta["stream"]
			if !errors.Is(err, ErrWrongType) || !strings.Contains(err.Error(), `"`+key+`"`) || !strings.Contains(err.Error(), "holds a "+tc.holds) {
				t.Errorf("error %q: want ErrWrongType, naming key %q and saying it holds a %s", err, key, tc.holds)
			}
		})
	}
}

func TestAStreamReadsItsLength(t *testing.T) {
	a := newAdmin(t)
	_, streams, _ := testTypes(t)
	stream := a.stream(4)
	group := a.group(stream, "0")
	a.deliver(stream, group, 4)
	// With a consumer group given, streamLength still reads XLEN: the group
	// plays no part.
	for _, meta := range []map[string]string{
		{"address": redisAddr, "stream": stream, "streamLength": "2"},
		{"address": redisAddr, "stream": stream, "streamLength": "2", "consumerGroup": "no-such-group"},
		{"address": redisAddr, "stream": stream}, // no group, no target: KEDA's default is streamLength 5
	} {
		sc := newScaler(t, streams, streamTrigger(meta, nil))
		expect(t, scalertest.MustRead(t, sc), 4, true)
	}
	missing := newScaler(t, streams, streamTrigger(map[string]string{"address": redisAddr, "stream": a.key("no-stream"), "streamLength": "2"}, nil))
	expect(t, scalertest.MustRead(t, missing), 0, false)
}

func TestAStreamReadsItsGroupsPendingEntries(t *testing.T) {
	a := newAdmin(t)
	_, streams, _ := testTypes(t)
	stream := a.stream(10)
	group := a.group(stream, "0")
	meta := map[string]string{"address": redisAddr, "stream": stream, "consumerGroup": group, "pendingEntriesCount": "2", "activationLagCount": "3"}
	sc := newScaler(t, streams, streamTrigger(meta, nil))
	expect(t, scalertest.MustRead(t, sc), 0, false) // nothing delivered yet

	ids := a.deliver(stream, group, 3)
	expect(t, scalertest.MustRead(t, sc), 3, false)

	more := a.deliver(stream, group, 4)
	expect(t, scalertest.MustRead(t, sc), 7, true)

	if err := a.rdb.XAck(a.ctx(), stream, group, append(ids, more[0])...).Err(); err != nil {
		t.Fatal(err)
	}
	expect(t, scalertest.MustRead(t, sc), 3, false)

	// A consumer group without a target reads pending entries, as in KEDA.
	dflt := newScaler(t, streams, streamTrigger(map[string]string{"address": redisAddr, "stream": stream, "consumerGroup": group}, nil))
	if m := dflt.Metric(); m.Target != 5 {
		t.Errorf("default target = %v, want 5", m.Target)
	}
	expect(t, scalertest.MustRead(t, dflt), 3, true)
}

func TestAStreamReadsItsGroupsLag(t *testing.T) {
	a := newAdmin(t)
	_, streams, _ := testTypes(t)
	stream := a.stream(6)
	group := a.group(stream, "0")
	meta := map[string]string{"address": redisAddr, "stream": stream, "consumerGroup": group, "lagCount": "2", "activationLagCount": "2"}
	sc := newScaler(t, streams, streamTrigger(meta, nil))
	expect(t, scalertest.MustRead(t, sc), 6, true)

	// Delivered entries leave the lag whether or not they are acknowledged.
	a.deliver(stream, group, 4)
	expect(t, scalertest.MustRead(t, sc), 2, false)

	a.add(stream, 5)
	expect(t, scalertest.MustRead(t, sc), 7, true)

	a.deliver(stream, group, 7)
	expect(t, scalertest.MustRead(t, sc), 0, false)
}

// A group created at "$" on a stream that already holds entries has a lag
// Redis cannot tell (XINFO GROUPS reports nil) until its consumers read to
// the end. An idle worker's group is often in that state: its lag must
// still read, or the worker would never be woken.
func TestALagRedisCannotTellIsCounted(t *testing.T) {
	a := newAdmin(t)
	_, streams, _ := testTypes(t)
	stream := a.stream(lagScanLimit + 50) // history before the group
	group := a.group(stream, "$")
	a.add(stream, 3)
	if lag := a.rawLag(stream, group); lag != nil {
		t.Fatalf("XINFO GROUPS reports lag %v; the test needs a server that reports nil here", lag)
	}
	sc := newScaler(t, streams, streamTrigger(map[string]string{"address": redisAddr, "stream": stream, "consumerGroup": group, "lagCount": "1"}, nil))
	expect(t, scalertest.MustRead(t, sc), 3, true)

	// Beyond lagScanLimit entries the stream's length, an upper bound of the
	// lag, stands for it.
	a.add(stream, lagScanLimit)
	expect(t, scalertest.MustRead(t, sc), float64(2*lagScanLimit+53), true)

	// Once the consumers have read to the end, Redis tells the lag again.
	a.deliver(stream, group, lagScanLimit+3)
	a.add(stream, 2)
	if lag := a.rawLag(stream, group); lag == nil {
		t.Fatal("XINFO GROUPS still reports a nil lag after the group read to the end")
	}
	expect(t, scalertest.MustRead(t, sc), 2, true)
}

// rawLag is the lag field of group in XINFO GROUPS, nil when Redis reports
// none.
func (a *admin) rawLag(stream, group string) any {
	a.t.Helper()
	reply, err := a.rdb.Do(a.ctx(), "XINFO", "GROUPS", stream).Result()
	if err != nil {
		a.t.Fatalf("XINFO GROUPS %s: %v", stream, err)
	}
	for _, g := range reply.([]any) {
		var fields map[any]any
		switch g := g.(type) {
		case map[any]any:
			fields = g
		case []any:
			fields = map[any]any{}
			for i := 0; i+1 < len(g); i += 2 {
				fields[g[i]] = g[i+1]
			}
		}
		if fields["name"] == group {
			return fields["lag"]
		}
	}
	a.t.Fatalf("no group %s on %s", group, stream)
	return nil
}

func TestAMissingConsumerGroupIsAnErrorNamingIt(t *testing.T) {
	a := newAdmin(t)
	_, streams, _ := testTypes(t)
	stream := a.stream(2)
	a.group(stream, "0") // another group exists
	missing := a.key("no-stream")
	for _, mode := range []string{"pendingEntriesCount", "lagCount"} {
		t.Run(mode, func(t *testing.T) {
			sc := newScaler(t, streams, streamTrigger(map[string]string{"address": redisAddr, "stream": stream, "consumerGroup": "nobody-reads", mode: "5"}, nil))
			err := readErr(t, sc)
			if !errors.Is(err, ErrNoGroup) || !strings.Contains(err.Error(), `"nobody-reads"`) || !strings.Contains(err.Error(), stream) {
				t.Errorf("error %q: want ErrNoGroup naming the group and the stream", err)
			}
			sc = newScaler(t, streams, streamTrigger(map[string]string{"address": redisAddr, "stream": missing, "consumerGroup": "g", mode: "5"}, nil))
			err = readErr(t, sc)
			if !errors.Is(err, ErrNoGroup) || !strings.Contains(err.Error(), "does not exist") || !strings.Contains(err.Error(), missing) {
				t.Errorf("error %q: want ErrNoGroup saying stream %s does not exist", err, missing)
			}
		})
	}
}

func TestCredentialsAuthenticateAndNeverShowInErrors(t *testing.T) {
	a := newAdmin(t)
	user, password := a.user()
	lists, _, _ := testTypes(t)
	list := a.list(2)
	meta := map[string]string{"address": redisAddr, "listName": list}

	t.Run("the right password reads", func(t *testing.T) {
		expect(t, scalertest.MustRead(t, newScaler(t, lists, listTrigger(meta, map[string]string{"username": user, "password": password}))), 2, true)
	})
	t.Run("from the environment too", func(t *testing.T) {
		tr := listTrigger(scalertest.With(meta, "usernameFromEnv", "REDIS_USER", "passwordFromEnv", "REDIS_PASSWORD"), nil)
		tr.Env = map[string]string{"REDIS_USER": user, "REDIS_PASSWORD": password}
		expect(t, scalertest.MustRead(t, newScaler(t, lists, tr)), 2, true)
	})
	t.Run("a wrong password is an error without the password", func(t *testing.T) {
		wrong := password + "-but-wrong"
		err := readErr(t, newScaler(t, lists, listTrigger(meta, map[string]string{"username": user, "password": wrong})))
		for _, s := range []string{wrong, password, "but-wrong"} {
			if strings.Contains(err.Error(), s) {
				t.Errorf("error %q shows the password", err)
			}
		}
		if !strings.Contains(err.Error(), "WRONGPASS") {
			t.Errorf("error %q does not say the credentials were refused", err)
		}
	})
}

func TestTheDatabaseIndexSelectsTheDatabase(t *testing.T) {
	a := newAdmin(t)
	lists, _, _ := testTypes(t)
	db3 := goredis.NewClient(&goredis.Options{Addr: redisAddr, DB: 3})
	t.Cleanup(func() { _ = db3.Close() })
	list := unique("db3-list")
	t.Cleanup(func() { _ = db3.Del(context.Background(), list).Err() })
	if err := db3.RPush(a.ctx(), list, "a", "b", "c", "d").Err(); err != nil {
		t.Fatal(err)
	}
	expect(t, scalertest.MustRead(t, newScaler(t, lists, listTrigger(map[string]string{"address": redisAddr, "listName": list, "databaseIndex": "3"}, nil))), 4, true)
	expect(t, scalertest.MustRead(t, newScaler(t, lists, listTrigger(map[string]string{"address": redisAddr, "listName": list}, nil))), 0, false)
}

func TestHostAndPortAreAnAddress(t *testing.T) {
	a := newAdmin(t)
	lists, _, _ := testTypes(t)
	list := a.list(2)
	for _, meta := range []map[string]string{
		{"host": "127.0.0.1", "port": "6379", "listName": list},
		{"host": "127.0.0.1", "listName": list}, // port 6379 by default
		{"address": "127.0.0.1", "listName": list},
		{"address": "localhost:6379", "listName": list},
	} {
		expect(t, scalertest.MustRead(t, newScaler(t, lists, listTrigger(meta, nil))), 2, true)
	}
	tr := listTrigger(map[string]string{"hostFromEnv": "REDIS_HOST", "portFromEnv": "REDIS_PORT", "listName": list}, nil)
	tr.Env = map[string]string{"REDIS_HOST": "127.0.0.1", "REDIS_PORT": "6379"}
	expect(t, scalertest.MustRead(t, newScaler(t, lists, tr)), 2, true)
	expect(t, scalertest.MustRead(t, newScaler(t, lists, listTrigger(map[string]string{"listName": list}, map[string]string{"address": redisAddr}))), 2, true)
}

// Every trigger on one server, database and set of credentials — list or
// stream, any number of them — shares one client with at most maxConns
// connections, and Close of the last gives them back.
func TestTriggersOnOneServerShareOneClient(t *testing.T) {
	a := newAdmin(t)
	lists, streams, name := testTypes(t)
	list := a.list(1)
	stream := a.stream(1)
	var scs []*scaler
	for i := 0; i < 50; i++ {
		scs = append(scs,
			newScaler(t, lists, listTrigger(map[string]string{"address": redisAddr, "listName": list}, nil)),
			newScaler(t, streams, streamTrigger(map[string]string{"address": redisAddr, "stream": stream}, nil)))
	}
	var wg sync.WaitGroup
	for _, sc := range scs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := scalertest.Read(sc); err != nil {
				t.Errorf("Read: %v", err)
			}
		}()
	}
	wg.Wait()
	if n := lists.OpenConnections(); n != 1 {
		t.Errorf("100 triggers hold %d clients, want 1", n)
	}
	if n := a.connections(name); n < 1 || n > maxConns {
		t.Errorf("the server sees %d connections of the triggers' client, want 1 to %d", n, maxConns)
	}
	for _, sc := range scs {
		_ = sc.Close()
	}
	if n := lists.OpenConnections(); n != 0 {
		t.Errorf("after Close, %d clients are open", n)
	}
	scalertest.Eventually(t, 10*time.Second, "the server to see the connections closed", func() (bool, string) {
		n := a.connections(name)
		return n == 0, strings.Repeat("x", n) + " connections"
	})
}

// Identical reads in flight share one query. The test runs in a synctest
// bubble: synctest.Wait returns once every reader is blocked, so "the readers
// wait for the query in flight" is a fact, not a guess. The query in flight
// is held in the coalescer under the triggers' key and answers without I/O
// (network I/O does not mix with the bubble's clock); a reader that did not
// join it would query Redis and fail inside the bubble.
func TestConcurrentIdenticalReadsShareOneQuery(t *testing.T) {
	requireRedis(t)
	lists, _, _ := testTypes(t)
	meta := map[string]string{"address": redisAddr, "listName": "jobs"}
	var scs []*scaler
	for i := 0; i < 20; i++ {
		tr := listTrigger(meta, nil)
		tr.ScaledObject = "worker-" + strconv.Itoa(i) // another ScaledObject, the same read
		scs = append(scs, newScaler(t, lists, tr))
	}
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		go func() {
			_, _ = lists.sh.reads.Do(context.Background(), scs[0].key, func(context.Context) (float64, error) {
				<-release
				return 5, nil
			})
		}()
		synctest.Wait()
		results := make(chan scalers.Reading, len(scs))
		for _, sc := range scs {
			go func() {
				r, err := sc.Read(context.Background())
				if err != nil {
					t.Errorf("Read: %v", err)
				}
				results <- r
			}()
		}
		synctest.Wait()
		if len(results) != 0 {
			t.Errorf("%d reads returned while the query they share was in flight", len(results))
		}
		close(release)
		for range scs {
			expect(t, <-results, 5, true)
		}
	})
	if q := lists.sh.queries.Load(); q != 0 {
		t.Errorf("the readers sent %d queries of their own, want none", q)
	}
}

// Reads share a query only when they read the same thing on the same client.
func TestOnlyIdenticalReadsShareAKey(t *testing.T) {
	lists, streams, _ := testTypes(t)
	key := func(typ scalers.Type, meta, auth map[string]string) string {
		t.Helper()
		return newScaler(t, typ, trigger(typ.Name(), meta, auth)).key
	}
	base := map[string]string{"address": redisAddr, "listName": "jobs"}
	same := key(lists, base, nil)
	if k := key(lists, scalertest.With(base, "listLength", "50", "activationListLength", "3", "timeout", "30s"), nil); k != same {
		t.Error("another target, activation or timeout changed the key of the same read")
	}
	for name, k := range map[string]string{
		"another list":                      key(lists, scalertest.With(base, "listName", "other"), nil),
		"another database":                  key(lists, scalertest.With(base, "databaseIndex", "2"), nil),
		"another server":                    key(lists, scalertest.With(base, "address", "127.0.0.1:6380"), nil),
		"another password":                  key(lists, base, map[string]string{"password": "p"}),
		"a stream's length of the same key": key(streams, map[string]string{"address": redisAddr, "stream": "jobs"}, nil),
	} {
		if k == same {
			t.Errorf("%s shares the key of the list's read", name)
		}
	}
	pending := key(streams, map[string]string{"address": redisAddr, "stream": "s", "consumerGroup": "a"}, nil)
	if pending == key(streams, map[string]string{"address": redisAddr, "stream": "s", "consumerGroup": "b"}, nil) {
		t.Error("two groups' pending entries share a key")
	}
	if pending == key(streams, map[string]string{"address": redisAddr, "stream": "s", "consumerGroup": "a", "lagCount": "5"}, nil) {
		t.Error("a group's pending entries and lag share a key")
	}
}

func TestEnableTLSAgainstAPlainServerFailsWithinTheTimeout(t *testing.T) {
	requireRedis(t)
	lists, _, _ := testTypes(t)
	sc := newScaler(t, lists, listTrigger(map[string]string{"address": redisAddr, "listName": "l", "enableTLS": "true", "unsafeSsl": "true", "timeout": "2s"}, nil))
	done := make(chan error, 1)
	go func() {
		_, err := sc.Read(context.Background())
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Read over TLS from a plain server returned no error")
		}
		if !strings.Contains(err.Error(), "TLS is on") {
			t.Errorf("error %q does not say the TLS handshake failed", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Read over TLS from a plain server hangs past its 2 s timeout")
	}
}

func TestAClosedScalerDoesNotRead(t *testing.T) {
	requireRedis(t)
	lists, _, _ := testTypes(t)
	sc, err := lists.New(listTrigger(map[string]string{"address": redisAddr, "listName": "l"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sc.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, err := sc.Read(context.Background()); err == nil {
		t.Error("Read after Close returned no error")
	}
}

func TestTheMetricIsNamedAfterTheListOrStream(t *testing.T) {
	lists, streams, _ := testTypes(t)
	tr := listTrigger(map[string]string{"address": redisAddr, "listName": "Jobs:High"}, nil)
	tr.Index = 2
	sc, err := lists.New(tr)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if got := sc.Metric().Name; got != "s2-redis-jobs-high" {
		t.Errorf("list metric name = %q", got)
	}
	sc2, err := streams.New(streamTrigger(map[string]string{"address": redisAddr, "stream": "events", "consumerGroup": "g"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer sc2.Close()
	if got := sc2.Metric().Name; got != "s0-redis-streams-events" {
		t.Errorf("stream metric name = %q", got)
	}
}

// The commands docs/scalers/redis.md lists are all a user needs.
func TestALeastPrivilegeUserReads(t *testing.T) {
	a := newAdmin(t)
	lists, streams, _ := testTypes(t)
	name := unique("reader")
	const password = "reader-password-1"
	// +select is for a databaseIndex other than 0.
	acl := []any{"ACL", "SETUSER", name, "on", ">" + password, "resetkeys", "~ebb-test-*", "-@all",
		"+llen", "+xlen", "+xpending", "+xinfo|groups", "+xrange", "+type", "+select", "+client|setname"}
	if err := a.rdb.Do(a.ctx(), acl...).Err(); err != nil {
		t.Fatalf("ACL SETUSER: %v", err)
	}
	t.Cleanup(func() { _ = a.rdb.Do(context.Background(), "ACL", "DELUSER", name).Err() })
	auth := map[string]string{"username": name, "password": password}
	list := a.list(2)
	stream := a.stream(120) // history: the group's lag is one Redis cannot tell, read with XRANGE
	group := a.group(stream, "$")
	a.add(stream, 3)
	a.deliver(stream, group, 1)
	for _, c := range []struct {
		sc   *scaler
		want float64
	}{
		{newScaler(t, lists, listTrigger(map[string]string{"address": redisAddr, "listName": list, "databaseIndex": "0"}, auth)), 2},
		{newScaler(t, streams, streamTrigger(map[string]string{"address": redisAddr, "stream": stream, "streamLength": "1"}, auth)), 123},
		{newScaler(t, streams, streamTrigger(map[string]string{"address": redisAddr, "stream": stream, "consumerGroup": group}, auth)), 1},
		{newScaler(t, streams, streamTrigger(map[string]string{"address": redisAddr, "stream": stream, "consumerGroup": group, "lagCount": "1"}, auth)), 2},
	} {
		expect(t, scalertest.MustRead(t, c.sc), c.want, true)
		r, err := probe(c.sc)
		if err != nil || r.Value != c.want {
			t.Errorf("Probe of %s = %+v, %v; want %v", c.sc.plan.key, r, err, c.want)
		}
	}
	// A key of the wrong type is explained with TYPE.
	str := a.key("string")
	if err := a.rdb.Set(a.ctx(), str, "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	err := readErr(t, newScaler(t, lists, listTrigger(map[string]string{"address": redisAddr, "listName": str}, auth)))
	if !errors.Is(err, ErrWrongType) || !strings.Contains(err.Error(), "holds a string") {
		t.Errorf("error %q: want ErrWrongType saying the key holds a string", err)
	}
}
