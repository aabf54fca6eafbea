// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/scalertest"
)

// allTestTypes returns the six types sharing one pool, with a client name of
// their own.
func allTestTypes(t testing.TB) (Types, string) {
	t.Helper()
	name := unique("client")
	return newTypes(newShared(name, scalers.DefaultEgress())), name
}

func TestAClusterListReadsItsLengthOnEveryNode(t *testing.T) {
	c := requireCluster(t)
	ts, _ := allTestTypes(t)
	before := ts.ClusterList.OpenConnections()
	for i := range c.nodes {
		list := c.keyOn(t, i, "list")
		for j := 0; j <= i+1; j++ {
			if err := c.admin.RPush(context.Background(), list, "job").Err(); err != nil {
				t.Fatal(err)
			}
		}
		sc := newScaler(t, ts.ClusterList, trigger("redis-cluster", map[string]string{"addresses": c.addresses(), "listName": list, "listLength": "2"}, nil))
		expect(t, scalertest.MustRead(t, sc), float64(i+2), true)
	}
	if got := ts.ClusterList.OpenConnections() - before; got != 1 {
		t.Errorf("three triggers on one cluster hold %d clients, want 1", got)
	}
}

func TestAClusterStreamReadsPendingEntriesLagAndLength(t *testing.T) {
	c := requireCluster(t)
	ts, _ := allTestTypes(t)
	ctx := context.Background()
	stream := c.keyOn(t, 1, "stream") // on the node at 127.0.0.3
	for i := 0; i < 5; i++ {
		if err := c.admin.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: []string{"n", strconv.Itoa(i)}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.admin.XGroupCreate(ctx, stream, "workers", "0").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.admin.XReadGroup(ctx, &goredis.XReadGroupArgs{Group: "workers", Consumer: "w", Streams: []string{stream, ">"}, Count: 2, Block: -1}).Err(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key  string
		want float64
	}{{"pendingEntriesCount", 2}, {"lagCount", 3}, {"streamLength", 5}} {
		t.Run(tc.key, func(t *testing.T) {
			sc := newScaler(t, ts.ClusterStreams, trigger("redis-cluster-streams", map[string]string{
				"hosts": strings.Join(hostsOf(c.seeds()), ","), "ports": strings.Join(portsOf(c.seeds()), ","),
				"stream": stream, "consumerGroup": "workers", tc.key: "1"}, nil))
			expect(t, scalertest.MustRead(t, sc), tc.want, true)
			r, err := sc.Probe(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			expect(t, r, tc.want, true)
		})
	}
}

// hostsOf and portsOf split host:port addresses into hosts and ports.
func hostsOf(addrs []string) []string { return splitEach(addrs, 0) }
func portsOf(addrs []string) []string { return splitEach(addrs, 1) }

func splitEach(addrs []string, part int) []string {
	var out []string
	for _, a := range addrs {
		h, p, _ := net.SplitHostPort(a)
		out = append(out, [2]string{h, p}[part])
	}
	return out
}

// The cluster names its nodes; a node the egress policy denies is never
// dialled, though the trigger named only an allowed node.
func TestANodeTheClusterNamesMustPassTheEgressPolicy(t *testing.T) {
	c := requireCluster(t)
	deny, err := scalers.NewEgress(scalers.EgressRules{Deny: []string{"127.0.0.3/32"}})
	if err != nil {
		t.Fatal(err)
	}
	name := unique("client")
	ts := newTypes(newShared(name, deny))
	onFirst, onDenied := c.keyOn(t, 0, "list"), c.keyOn(t, 1, "list")
	for _, k := range []string{onFirst, onDenied} {
		if err := c.admin.RPush(context.Background(), k, "a", "b").Err(); err != nil {
			t.Fatal(err)
		}
	}
	seed := map[string]string{"addresses": c.nodes[0].addr, "listLength": "1"}
	expect(t, scalertest.MustRead(t, newScaler(t, ts.ClusterList, trigger("redis-cluster", scalertest.With(seed, "listName", onFirst), nil))), 2, true)

	err = readErr(t, newScaler(t, ts.ClusterList, trigger("redis-cluster", scalertest.With(seed, "listName", onDenied), nil)))
	want := "connecting to " + c.nodes[1].addr + ", which the server named: refused by the operator's egress policy"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	node := &admin{t: t, rdb: goredis.NewClient(&goredis.Options{Addr: c.nodes[1].addr})}
	defer node.rdb.Close()
	if n := node.connections(name); n != 0 {
		t.Errorf("the denied node has %d of the trigger's connections", n)
	}
}

// A pinned trigger's credentials go only to the endpoints its
// ClusterTriggerAuthentication allows, the nodes the cluster names
// included.
func TestAPinnedClusterTriggerConnectsOnlyToAllowedNodes(t *testing.T) {
	c := requireCluster(t)
	ts, _ := allTestTypes(t)
	onFirst, onOther := c.keyOn(t, 0, "list"), c.keyOn(t, 1, "list")
	tr := func(list string) scalers.Trigger {
		tr := trigger("redis-cluster", map[string]string{"addresses": c.nodes[0].addr, "listName": list}, nil)
		tr.Pin = &scalers.EndpointPin{Owner: `ClusterTriggerAuthentication "shared"`, Allowed: []string{"127.0.0.1"}}
		return tr
	}
	expect(t, scalertest.MustRead(t, newScaler(t, ts.ClusterList, tr(onFirst))), 0, false)
	err := readErr(t, newScaler(t, ts.ClusterList, tr(onOther)))
	if !strings.Contains(err.Error(), "spec.allowedEndpoints") {
		t.Errorf("error %q does not say the node is not an allowed endpoint", err)
	}
}

// fakeCluster is a hostile server that speaks RESP: it answers CLUSTER
// SLOTS with slots, HELLO with an error, and every other command with +OK.
func fakeCluster(t testing.TB, slots func(w io.Writer)) string {
	return scalertest.HostileTCP(t, func(conn net.Conn) {
		r := bufio.NewReader(conn)
		for {
			args, err := readCommand(r)
			if err != nil {
				return
			}
			if len(args) == 2 && strings.EqualFold(args[0], "cluster") && strings.EqualFold(args[1], "slots") {
				slots(conn)
				continue
			}
			reply := "+OK\r\n"
			if strings.EqualFold(args[0], "hello") {
				reply = "-ERR unknown command\r\n" // as Redis 5 answers: go-redis goes on with RESP2
			}
			if _, err := io.WriteString(conn, reply); err != nil {
				return
			}
		}
	})
}

// readCommand reads one command, an array of bulk strings.
func readCommand(r *bufio.Reader) ([]string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "*")))
	if err != nil || n > 64 {
		return nil, fmt.Errorf("not a command: %q", line)
	}
	args := make([]string, 0, n)
	for i := 0; i < n; i++ {
		if _, err := r.ReadString('\n'); err != nil { // $len
			return nil, err
		}
		arg, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		args = append(args, strings.TrimSuffix(arg, "\r\n"))
	}
	return args, nil
}

func TestAClusterThatNamesTooManyNodesIsRefused(t *testing.T) {
	ts, _ := allTestTypes(t)
	addr := fakeCluster(t, func(w io.Writer) {
		n := maxClusterNodes + 1
		fmt.Fprintf(w, "*%d\r\n", n)
		for i := 0; i < n; i++ {
			fmt.Fprintf(w, "*3\r\n:%d\r\n:%d\r\n*2\r\n$9\r\n127.0.0.1\r\n:%d\r\n", i, i, 20000+i)
		}
	})
	err := readErr(t, newScaler(t, ts.ClusterList, trigger("redis-cluster", map[string]string{"addresses": addr, "listName": "l", "timeout": "5s"}, nil)))
	if !strings.Contains(err.Error(), "more than the 1000 a trigger connects to") {
		t.Errorf("error %q does not say the cluster names too many nodes", err)
	}
}

func TestANodeNameTheClusterGivesNeverReachesAnError(t *testing.T) {
	// The policy refuses the name before any lookup: the test sends no
	// traffic off the machine.
	deny, err := scalers.NewEgress(scalers.EgressRules{Deny: []string{"*.invalid"}})
	if err != nil {
		t.Fatal(err)
	}
	ts := newTypes(newShared(unique("client"), deny))
	addr := fakeCluster(t, func(w io.Writer) {
		host := strings.ToLower(scalertest.Marker) + ".invalid"
		fmt.Fprintf(w, "*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$%d\r\n%s\r\n:7000\r\n", len(host), host)
	})
	err = readErr(t, newScaler(t, ts.ClusterList, trigger("redis-cluster", map[string]string{"addresses": addr, "listName": "l", "timeout": "5s"}, nil)))
	scalertest.AssertNoMarker(t, err)
	if !strings.Contains(err.Error(), "a host that is not shown, port 7000") {
		t.Errorf("error %q does not say which node failed, without its name", err)
	}
}
