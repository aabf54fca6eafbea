// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// The cluster and sentinel tests run real Redis processes, started from the
// machine's redis-server on loopback ports the test picks, in temporary
// directories: one cluster and one sentinel setup for the whole package run,
// started by the first test that needs them and stopped by TestMain.

const redisServer = "/usr/bin/redis-server"

// TestMain stops the Redis processes the tests started.
func TestMain(m *testing.M) {
	code := m.Run()
	procs.stop()
	os.Exit(code)
}

// procs are the processes the tests started.
var procs processes

type processes struct {
	mu   sync.Mutex
	cmds []*exec.Cmd
	dirs []string
}

func (p *processes) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.cmds {
		_ = c.Process.Kill()
		_ = c.Wait()
	}
	for _, d := range p.dirs {
		_ = os.RemoveAll(d)
	}
	p.cmds, p.dirs = nil, nil
}

// server is one redis-server (or sentinel) process.
type server struct {
	addr string // host:port
	cmd  *exec.Cmd
}

// freePort returns a port where nothing listens on host.
func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startServer writes conf (plus port, bind and dir) to a file in dir and
// runs redis-server on it with args, and waits for it to answer PING.
func startServer(dir, host, conf string, args ...string) (*server, error) {
	port, err := freePort(host)
	if err != nil {
		return nil, err
	}
	sub := filepath.Join(dir, strconv.Itoa(port))
	if err := os.MkdirAll(sub, 0o700); err != nil {
		return nil, err
	}
	file := filepath.Join(sub, "redis.conf")
	conf = fmt.Sprintf("port %d\nbind %s\ndir %s\nsave \"\"\nappendonly no\nprotected-mode no\nlogfile %s\n",
		port, host, sub, filepath.Join(sub, "log")) + conf
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(redisServer, append([]string{file}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	procs.mu.Lock()
	procs.cmds = append(procs.cmds, cmd)
	procs.mu.Unlock()
	s := &server{addr: net.JoinHostPort(host, strconv.Itoa(port)), cmd: cmd}
	rdb := goredis.NewClient(&goredis.Options{Addr: s.addr, MaxRetries: -1})
	defer rdb.Close()
	err = waitFor(10*time.Second, "redis-server at "+s.addr+" to answer PING", func(ctx context.Context) error {
		return rdb.Ping(ctx).Err()
	})
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(sub, "log"))
		return nil, fmt.Errorf("%w; its log:\n%s", err, log)
	}
	return s, nil
}

// waitFor polls cond every 50 ms until it returns nil or within passes.
func waitFor(within time.Duration, what string, cond func(ctx context.Context) error) error {
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := cond(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// redisCluster is a Redis Cluster of three masters without replicas. Its
// second node listens on 127.0.0.3, the others on 127.0.0.1, so that an
// egress policy can deny one node the cluster names.
type redisCluster struct {
	nodes []*server
	admin *goredis.ClusterClient
}

var (
	clusterOnce sync.Once
	theCluster  *redisCluster
	clusterErr  error
)

// requireCluster returns the package's cluster, starting it on first use.
func requireCluster(t testing.TB) *redisCluster {
	t.Helper()
	requireRedisServer(t)
	clusterOnce.Do(func() { theCluster, clusterErr = startCluster() })
	if clusterErr != nil {
		t.Fatalf("starting a Redis Cluster: %v", clusterErr)
	}
	return theCluster
}

// tempDir makes a directory that TestMain removes.
func tempDir(prefix string) (string, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err == nil {
		procs.mu.Lock()
		procs.dirs = append(procs.dirs, dir)
		procs.mu.Unlock()
	}
	return dir, err
}

// requireRedisServer skips a test on a machine without redis-server.
func requireRedisServer(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(redisServer); err != nil {
		t.Skipf("no %s: %v", redisServer, err)
	}
}

func startCluster() (*redisCluster, error) {
	dir, err := tempDir("ebb-redis-cluster-")
	if err != nil {
		return nil, err
	}
	c := &redisCluster{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ranges := [][2]int{{0, 5460}, {5461, 10922}, {10923, 16383}}
	for i, host := range []string{"127.0.0.1", "127.0.0.3", "127.0.0.1"} {
		bus, err := freePort(host)
		if err != nil {
			return nil, err
		}
		s, err := startServer(dir, host, fmt.Sprintf("cluster-enabled yes\ncluster-port %d\ncluster-announce-ip %s\ncluster-config-file nodes.conf\ncluster-node-timeout 5000\n", bus, host))
		if err != nil {
			return nil, err
		}
		c.nodes = append(c.nodes, s)
		rdb := goredis.NewClient(&goredis.Options{Addr: s.addr})
		err = rdb.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", ranges[i][0], ranges[i][1]).Err()
		if err == nil && i > 0 {
			host, port, _ := net.SplitHostPort(s.addr)
			first := goredis.NewClient(&goredis.Options{Addr: c.nodes[0].addr})
			err = first.Do(ctx, "CLUSTER", "MEET", host, port, bus).Err()
			_ = first.Close()
		}
		_ = rdb.Close()
		if err != nil {
			return nil, fmt.Errorf("setting up cluster node %s: %w", s.addr, err)
		}
	}
	for _, n := range c.nodes {
		rdb := goredis.NewClient(&goredis.Options{Addr: n.addr})
		err := waitFor(30*time.Second, "cluster node "+n.addr+" to see a healthy cluster of 3", func(ctx context.Context) error {
			info, err := rdb.ClusterInfo(ctx).Result()
			if err != nil {
				return err
			}
			if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_known_nodes:3") {
				return errors.New("not yet: " + strings.Join(strings.Fields(info)[:3], " "))
			}
			return nil
		})
		_ = rdb.Close()
		if err != nil {
			return nil, err
		}
	}
	c.admin = goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: c.seeds(), ClientName: "ebb-test-admin"})
	return c, nil
}

// seeds are the nodes' addresses.
func (c *redisCluster) seeds() []string {
	var out []string
	for _, n := range c.nodes {
		out = append(out, n.addr)
	}
	return out
}

// addresses is the addresses key naming the nodes.
func (c *redisCluster) addresses() string { return strings.Join(c.seeds(), ",") }

// keyOn returns a fresh key name (made with prefix) whose slot node i
// serves.
func (c *redisCluster) keyOn(t testing.TB, i int, prefix string) string {
	t.Helper()
	lo := []int64{0, 5461, 10923}[i]
	hi := []int64{5460, 10922, 16383}[i]
	base := unique(prefix)
	for n := 0; n < 10000; n++ {
		k := base + "-" + strconv.Itoa(n)
		slot, err := c.admin.ClusterKeySlot(context.Background(), k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if slot >= lo && slot <= hi {
			t.Cleanup(func() { _ = c.admin.Del(context.Background(), k).Err() })
			return k
		}
	}
	t.Fatalf("no key for node %d", i)
	return ""
}

// sentinelSetup is a master, its replica and one sentinel watching them.
// The master starts on 127.0.0.3 and the replica on 127.0.0.4 (each
// announcing its own address), the sentinel on 127.0.0.1, so that an egress
// policy can deny the master the sentinel names but not the sentinel.
type sentinelSetup struct {
	master, replica, sentinel *server
	name                      string
	sentinels                 *goredis.SentinelClient
	admin                     *goredis.Client // a failover client: always the current master
}

var (
	sentinelOnce sync.Once
	theSentinel  *sentinelSetup
	sentinelErr  error
)

// requireSentinel returns the package's sentinel setup, starting it on first
// use.
func requireSentinel(t testing.TB) *sentinelSetup {
	t.Helper()
	requireRedisServer(t)
	sentinelOnce.Do(func() { theSentinel, sentinelErr = startSentinel() })
	if sentinelErr != nil {
		t.Fatalf("starting Redis Sentinel: %v", sentinelErr)
	}
	return theSentinel
}

func startSentinel() (*sentinelSetup, error) {
	dir, err := tempDir("ebb-redis-sentinel-")
	if err != nil {
		return nil, err
	}
	s := &sentinelSetup{name: "ebb-master"}
	if s.master, err = startServer(dir, "127.0.0.3", "replica-announce-ip 127.0.0.3\n"); err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(s.master.addr)
	if s.replica, err = startServer(dir, "127.0.0.4", fmt.Sprintf("replica-announce-ip 127.0.0.4\nreplicaof %s %s\n", host, port)); err != nil {
		return nil, err
	}
	rep := goredis.NewClient(&goredis.Options{Addr: s.replica.addr})
	defer rep.Close()
	if err := waitFor(20*time.Second, "the replica to sync with its master", func(ctx context.Context) error {
		info, err := rep.Info(ctx, "replication").Result()
		if err != nil {
			return err
		}
		if !strings.Contains(info, "master_link_status:up") {
			return errors.New("link not up")
		}
		return nil
	}); err != nil {
		return nil, err
	}
	conf := fmt.Sprintf("sentinel monitor %s %s %s 1\nsentinel down-after-milliseconds %s 2000\nsentinel failover-timeout %s 10000\n",
		s.name, host, port, s.name, s.name)
	if s.sentinel, err = startServer(dir, "127.0.0.1", conf, "--sentinel"); err != nil {
		return nil, err
	}
	s.sentinels = goredis.NewSentinelClient(&goredis.Options{Addr: s.sentinel.addr})
	if err := s.waitForReplica(); err != nil {
		return nil, err
	}
	s.admin = goredis.NewFailoverClient(&goredis.FailoverOptions{MasterName: s.name, SentinelAddrs: []string{s.sentinel.addr}, ClientName: "ebb-test-admin"})
	return s, nil
}

// waitForReplica waits until the sentinel knows a healthy replica.
func (s *sentinelSetup) waitForReplica() error {
	return waitFor(30*time.Second, "the sentinel to see a healthy replica", func(ctx context.Context) error {
		reps, err := s.sentinels.Replicas(ctx, s.name).Result()
		if err != nil {
			return err
		}
		for _, r := range reps {
			if !strings.Contains(r["flags"], "down") && !strings.Contains(r["flags"], "disconnected") && r["master-link-status"] == "ok" {
				return nil
			}
		}
		return fmt.Errorf("replicas: %v", reps)
	})
}

// masterAddr is the master the sentinel names now.
func (s *sentinelSetup) masterAddr(ctx context.Context) (string, error) {
	a, err := s.sentinels.GetMasterAddrByName(ctx, s.name).Result()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(a[0], a[1]), nil
}

// key returns a fresh key name, deleted when the test ends.
func (s *sentinelSetup) key(t testing.TB, prefix string) string {
	k := unique(prefix)
	t.Cleanup(func() { _ = s.admin.Del(context.Background(), k).Err() })
	return k
}
