// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ebbscale/ebb/scalers"
)

// ListConfig is a redis trigger's metadata. The keys are KEDA's, plus
// timeout (see docs/scalers/redis.md).
type ListConfig struct {
	ListKeys
	// Connection holds the keys both single-server trigger types share.
	Connection
}

// StreamConfig is a redis-streams trigger's metadata. The keys are KEDA's,
// plus timeout (see docs/scalers/redis.md).
type StreamConfig struct {
	StreamKeys
	// Connection holds the keys both single-server trigger types share.
	Connection
}

// ClusterListConfig is a redis-cluster trigger's metadata: a list's length
// in a Redis Cluster.
type ClusterListConfig struct {
	ListKeys
	ClusterConnection
}

// ClusterStreamConfig is a redis-cluster-streams trigger's metadata.
type ClusterStreamConfig struct {
	StreamKeys
	ClusterConnection
}

// SentinelListConfig is a redis-sentinel trigger's metadata: a list's length
// on the master that Redis Sentinel names.
type SentinelListConfig struct {
	ListKeys
	SentinelConnection
}

// SentinelStreamConfig is a redis-sentinel-streams trigger's metadata.
type SentinelStreamConfig struct {
	StreamKeys
	SentinelConnection
}

// ListKeys are what the list trigger types read: a list's length.
type ListKeys struct {
	// ListName is the list whose length (LLEN) the trigger serves.
	ListName string `meta:"listName"`
	// ListLength is the target: list items one replica handles.
	ListLength float64 `meta:"listLength,default=5"`
	// ActivationListLength: the trigger is active when the length is above
	// it.
	ActivationListLength float64 `meta:"activationListLength,default=0,min=0"`
}

// StreamKeys are what the stream trigger types read.
type StreamKeys struct {
	// Stream is the stream to read.
	Stream string `meta:"stream"`
	// ConsumerGroup is the group whose pending entries or lag are read; the
	// streamLength mode does not need one.
	ConsumerGroup string `meta:"consumerGroup,optional"`
	// At most one of the three targets may be set; it chooses what is read.
	// With none, the mode is pendingEntriesCount when ConsumerGroup is set
	// and streamLength otherwise, with a target of 5, as in KEDA.
	PendingEntriesCount float64 `meta:"pendingEntriesCount,optional"`
	StreamLength        float64 `meta:"streamLength,optional"`
	LagCount            float64 `meta:"lagCount,optional"`
	// ActivationLagCount is the activation threshold, whatever the mode.
	ActivationLagCount float64 `meta:"activationLagCount,default=0,min=0"`
}

const (
	defaultPort         = 6379
	defaultSentinelPort = 26379
	defaultTarget       = 5
	// maxSeeds bounds the addresses of a cluster or sentinel trigger.
	maxSeeds = 64
)

// Connection is the connection keys of the single-server trigger types:
// where the server is, how to log in, TLS, and how long a read may take.
type Connection struct {
	Address string `meta:"address,optional,from=metadata+auth+env,endpoint=hostport:6379"`
	Host    string `meta:"host,optional,from=metadata+auth+env,endpoint=host:port:6379"`
	Port    int    `meta:"port,optional,min=1,from=metadata+auth+env"`
	ClientKeys
}

// ClusterConnection is the connection keys of the cluster trigger types:
// some of the cluster's nodes (the client learns the others from them).
type ClusterConnection struct {
	Addresses []string `meta:"addresses,optional,from=metadata+auth+env,endpoint=hostport:6379"`
	Hosts     []string `meta:"hosts,optional,from=metadata+auth+env,endpoint=custom"`
	Ports     []string `meta:"ports,optional,from=metadata+auth+env,endpoint=custom"`
	ClientKeys
}

// SentinelConnection is the connection keys of the sentinel trigger types:
// the sentinels, the name of the master they watch, and the sentinels' own
// credentials.
type SentinelConnection struct {
	Addresses        []string `meta:"addresses,optional,from=metadata+auth+env,endpoint=hostport:26379"`
	Hosts            []string `meta:"hosts,optional,from=metadata+auth+env,endpoint=custom"`
	Ports            []string `meta:"ports,optional,from=metadata+auth+env,endpoint=custom"`
	SentinelMaster   string   `meta:"sentinelMaster,optional,from=metadata+auth+env"`
	SentinelUsername string   `meta:"sentinelUsername,optional,from=auth+env,secret"`
	SentinelPassword string   `meta:"sentinelPassword,optional,from=auth+env,secret"`
	ClientKeys
}

// ClientKeys are the keys every Redis trigger type shares: credentials,
// database, TLS, and how long a read may take.
type ClientKeys struct {
	Username      string        `meta:"username,optional,from=auth+env,secret"`
	Password      string        `meta:"password,optional,from=auth+env,secret"`
	DatabaseIndex int           `meta:"databaseIndex,default=0,min=0"`
	EnableTLS     bool          `meta:"enableTLS,default=false"`
	UnsafeSsl     bool          `meta:"unsafeSsl,default=false,from=metadata+auth"`
	TLS           string        `meta:"tls,optional,enum=enable|disable,from=auth"`
	CA            string        `meta:"ca,optional,from=auth"`
	Cert          string        `meta:"cert,optional,from=auth"`
	Key           string        `meta:"key,optional,from=auth,secret"`
	KeyPassword   string        `meta:"keyPassword,optional,from=auth,secret"`
	Timeout       time.Duration `meta:"timeout,default=10s,min=0.001,ms"`
}

// Endpoints lists the nodes that hosts and ports name, for a pinned
// trigger's check (scalers.EndpointLister).
func (c ClusterConnection) Endpoints(string) ([]string, error) {
	return seedList(c.Addresses, c.Hosts, c.Ports, defaultPort)
}

// Endpoints lists the sentinels that hosts and ports name, for a pinned
// trigger's check (scalers.EndpointLister).
func (c SentinelConnection) Endpoints(string) ([]string, error) {
	return seedList(c.Addresses, c.Hosts, c.Ports, defaultSentinelPort)
}

// topology is how a trigger finds its server.
type topology uint8

const (
	standalone topology = iota // one server, at address or host and port
	cluster                    // a Redis Cluster, from some of its nodes
	sentinel                   // the master that sentinels name
)

// kind is what a trigger reads.
type kind uint8

const (
	kindList         kind = iota // LLEN of a list
	kindStreamLength             // XLEN of a stream
	kindPending                  // XPENDING count of a group
	kindLag                      // the lag of a group, XINFO GROUPS
)

func (k kind) String() string {
	switch k {
	case kindList:
		return "list length"
	case kindStreamLength:
		return "stream length"
	case kindPending:
		return "pending entries"
	default:
		return "lag"
	}
}

// connKey identifies one Redis server (or cluster, or sentinel-watched
// master), database, set of credentials and TLS settings: the key of the
// client pool. It holds secrets and is never logged.
type connKey struct {
	topo               topology
	addr               string // host:port; for a cluster or sentinels the seeds, sorted, joined by ","
	master             string // sentinel: the master's name
	db                 int
	username, password string
	sentinelUsername   string
	sentinelPassword   string
	tls, unsafeSsl     bool
	ca, cert, key      string
	keyPassword        string
	// pin is a pinned trigger's allowed endpoints, joined by "\n": the
	// nodes a cluster or the sentinels name must match one of them, as the
	// seeds did.
	pin string
}

// secrets are the values Redact removes from errors.
func (k connKey) secrets() []string {
	return []string{k.password, k.key, k.keyPassword, k.sentinelPassword}
}

// id is the key as one string, for coalescing keys (never logged).
func (k connKey) id() string {
	return strings.Join([]string{
		strconv.Itoa(int(k.topo)), k.addr, k.master, strconv.Itoa(k.db), k.username, k.password,
		k.sentinelUsername, k.sentinelPassword, strconv.FormatBool(k.tls),
		strconv.FormatBool(k.unsafeSsl), k.ca, k.cert, k.key, k.keyPassword, k.pin,
	}, "\x00")
}

// seeds are the addresses the trigger names (one for a single server).
func (k connKey) seeds() []string { return strings.Split(k.addr, ",") }

// where names the server and database in errors, without credentials.
func (k connKey) where() string {
	var s string
	switch k.topo {
	case cluster:
		s = "cluster at " + strings.ReplaceAll(k.addr, ",", ", ")
	case sentinel:
		s = "database " + strconv.Itoa(k.db) + " of master " + strconv.Quote(k.master) + " via sentinels " + strings.ReplaceAll(k.addr, ",", ", ")
	default:
		s = "database " + strconv.Itoa(k.db) + " at " + k.addr
	}
	if k.tls {
		s += " (TLS)"
	}
	return s
}

// plan is a validated config, ready for reading.
type plan struct {
	conn       connKey
	complete   bool // false at admission when the connection is still to come from the TriggerAuthentication or the environment
	kind       kind
	key        string // the list or the stream
	group      string // the consumer group (pending and lag)
	target     float64
	activation float64
	timeout    time.Duration
}

// resolve checks the list keys and turns them into a plan without its
// connection, or says which key is wrong. It is pure. deferred reports keys
// whose value is not known yet (at admission); the checks that need them
// are skipped.
func (c *ListKeys) resolve(deferred func(key string) bool) (plan, error) {
	p := plan{kind: kindList, key: c.ListName, target: c.ListLength, activation: c.ActivationListLength}
	if strings.TrimSpace(c.ListName) == "" && !deferred("listName") {
		return p, scalers.KeyError("listName", "is empty; expected the name of a list")
	}
	if c.ListLength <= 0 && !deferred("listLength") {
		return p, scalers.KeyError("listLength", "expected a number above 0 (the list items one replica handles), found %s", ftoa(c.ListLength))
	}
	return p, nil
}

// resolve checks the stream keys and turns them into a plan without its
// connection, or says which key is wrong. It is pure. set reports the keys
// given in the metadata (or as <key>FromEnv); deferred those whose value is
// not known yet (at admission).
func (c *StreamKeys) resolve(set, deferred func(key string) bool) (plan, error) {
	p := plan{key: c.Stream, group: c.ConsumerGroup, activation: c.ActivationLagCount}
	if strings.TrimSpace(c.Stream) == "" && !deferred("stream") {
		return p, scalers.KeyError("stream", "is empty; expected the name of a stream")
	}
	modes := []struct {
		key    string
		kind   kind
		target float64
	}{
		{"pendingEntriesCount", kindPending, c.PendingEntriesCount},
		{"streamLength", kindStreamLength, c.StreamLength},
		{"lagCount", kindLag, c.LagCount},
	}
	chosen := ""
	for _, m := range modes {
		if !set(m.key) {
			continue
		}
		if chosen != "" {
			return p, scalers.KeyError(m.key, "cannot be set together with %s; set one of pendingEntriesCount, streamLength and lagCount", chosen)
		}
		chosen, p.kind, p.target = m.key, m.kind, m.target
	}
	hasGroup := strings.TrimSpace(c.ConsumerGroup) != "" || deferred("consumerGroup")
	if chosen == "" {
		// KEDA's rule: a consumer group reads its pending entries, no group
		// the stream's length; the target is 5 either way.
		chosen, p.kind, p.target = "streamLength", kindStreamLength, defaultTarget
		if hasGroup {
			chosen, p.kind = "pendingEntriesCount", kindPending
		}
	} else if p.target <= 0 && !deferred(chosen) {
		return p, scalers.KeyError(chosen, "expected a number above 0 (the value one replica handles), found %s", ftoa(p.target))
	}
	if p.kind != kindStreamLength && !hasGroup {
		return p, scalers.KeyError("consumerGroup", "is required with %s: it names the group whose %s is read", chosen, p.kind)
	}
	if p.kind == kindStreamLength {
		p.group = "" // not read: the stream's length does not depend on a group
	}
	return p, nil
}

// resolveConn fills p's connection from a single-server trigger's
// connection keys. The checks of keys that may still come from the
// TriggerAuthentication or the environment (deferred) are left for the
// build.
func resolveConn(p *plan, f Connection, deferred func(key string) bool) error {
	if f.Address != "" && f.Host != "" {
		return scalers.KeyError("host", "cannot be combined with address; give either address (host:port) or host and port")
	}
	if f.Address != "" && f.Port != 0 {
		return scalers.KeyError("port", "cannot be combined with address; put the port in address (host:port)")
	}
	if f.Port > 65535 {
		return scalers.KeyError("port", "expected a port number from 1 to 65535, found %d", f.Port)
	}
	switch {
	case f.Address != "":
		host, port, err := parseAddress(f.Address, defaultPort)
		if err != nil {
			return scalers.KeyError("address", "%v", err)
		}
		p.conn.addr = net.JoinHostPort(host, strconv.Itoa(port))
	case f.Host != "":
		host, err := checkHost(f.Host)
		if err != nil {
			return scalers.KeyError("host", "%v", err)
		}
		port := f.Port
		if port == 0 {
			port = defaultPort
		}
		p.conn.addr = net.JoinHostPort(host, strconv.Itoa(port))
	case f.Port != 0:
		if !deferred("host") {
			return scalers.KeyError("host", "is required with port; give address (host:port) or host and port")
		}
	default:
		if !deferred("address") && !deferred("host") {
			return scalers.KeyError("address", `or key "host" is required: give address (host:port), or host and port, in metadata, the TriggerAuthentication or addressFromEnv/hostFromEnv`)
		}
	}
	return resolveClient(p, f.ClientKeys)
}

// resolveCluster fills p's connection from a cluster trigger's keys.
func resolveCluster(p *plan, f ClusterConnection, deferred func(key string) bool) error {
	p.conn.topo = cluster
	if f.DatabaseIndex != 0 {
		return scalers.KeyError("databaseIndex", "is %d, but a Redis Cluster has only database 0", f.DatabaseIndex)
	}
	if err := resolveSeeds(p, f.Addresses, f.Hosts, f.Ports, defaultPort, deferred); err != nil {
		return err
	}
	return resolveClient(p, f.ClientKeys)
}

// resolveSentinel fills p's connection from a sentinel trigger's keys.
func resolveSentinel(p *plan, f SentinelConnection, deferred func(key string) bool) error {
	p.conn.topo = sentinel
	if err := resolveSeeds(p, f.Addresses, f.Hosts, f.Ports, defaultSentinelPort, deferred); err != nil {
		return err
	}
	p.conn.master = f.SentinelMaster
	if strings.TrimSpace(f.SentinelMaster) == "" && !deferred("sentinelMaster") {
		return scalers.KeyError("sentinelMaster", "is required: it names the master the sentinels watch (sentinel monitor <name> ...)")
	}
	p.conn.sentinelUsername, p.conn.sentinelPassword = f.SentinelUsername, f.SentinelPassword
	if err := resolveClient(p, f.ClientKeys); err != nil {
		return err
	}
	p.complete = p.complete && p.conn.master != ""
	return nil
}

// resolveSeeds fills p's addresses from addresses, or hosts and ports.
func resolveSeeds(p *plan, addresses, hosts, ports []string, port int, deferred func(key string) bool) error {
	if len(addresses) == 0 && len(hosts) == 0 && len(ports) == 0 {
		if !deferred("addresses") && !deferred("hosts") {
			return scalers.KeyError("addresses", `or keys "hosts" and "ports" are required: give addresses (host:port, comma-separated), or hosts and ports, in metadata, the TriggerAuthentication or addressesFromEnv/hostsFromEnv`)
		}
		return nil
	}
	if len(hosts) == 0 && len(addresses) == 0 && deferred("hosts") {
		return nil
	}
	seeds, err := seedList(addresses, hosts, ports, port)
	if err != nil {
		return err
	}
	slices.Sort(seeds)
	p.conn.addr = strings.Join(slices.Compact(seeds), ",")
	return nil
}

// seedList reads addresses (host:port, comma-separated), or hosts and ports
// (two lists of the same length, or one port for every host), into
// host:port addresses. Its errors are KeyErrors.
func seedList(addresses, hosts, ports []string, port int) ([]string, error) {
	switch {
	case len(addresses) > 0 && len(hosts) > 0:
		return nil, scalers.KeyError("hosts", "cannot be combined with addresses; give either addresses (host:port, ...) or hosts and ports")
	case len(addresses) > 0 && len(ports) > 0:
		return nil, scalers.KeyError("ports", "cannot be combined with addresses; put the ports in addresses (host:port, ...)")
	case len(addresses) > maxSeeds || len(hosts) > maxSeeds:
		return nil, scalers.KeyError("addresses", "lists more than %d servers", maxSeeds)
	case len(ports) > 0 && len(hosts) == 0:
		return nil, scalers.KeyError("hosts", "is required with ports; give addresses (host:port, ...) or hosts and ports")
	case len(hosts) > 0 && len(ports) != len(hosts) && len(ports) > 1:
		return nil, scalers.KeyError("ports", "lists %d ports for %d hosts; give one port for every host, or one for all", len(ports), len(hosts))
	}
	out := make([]string, 0, len(addresses)+len(hosts))
	for i, a := range addresses {
		host, p, err := parseAddress(a, port)
		if err != nil {
			return nil, scalers.KeyError("addresses", "entry %d: %v", i+1, err)
		}
		out = append(out, net.JoinHostPort(host, strconv.Itoa(p)))
	}
	for i, h := range hosts {
		host, err := checkHost(h)
		if err != nil {
			return nil, scalers.KeyError("hosts", "entry %d: %v", i+1, err)
		}
		p := port
		if len(ports) > 0 {
			s := ports[min(i, len(ports)-1)]
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > 65535 {
				return nil, scalers.KeyError("ports", "entry %d: expected a port number from 1 to 65535, found %q", min(i, len(ports)-1)+1, s)
			}
			p = n
		}
		out = append(out, net.JoinHostPort(host, strconv.Itoa(p)))
	}
	return out, nil
}

// resolveClient fills p's credentials, database, TLS settings and timeout,
// and says whether the connection is complete.
func resolveClient(p *plan, f ClientKeys) error {
	p.timeout = f.Timeout
	p.conn.db = f.DatabaseIndex
	p.conn.username, p.conn.password = f.Username, f.Password
	switch {
	case f.TLS == "disable" && f.EnableTLS:
		return scalers.KeyError("enableTLS", "is true but the TriggerAuthentication sets tls to disable")
	case f.EnableTLS || f.TLS == "enable":
		p.conn.tls = true
		p.conn.unsafeSsl = f.UnsafeSsl
		p.conn.ca, p.conn.cert, p.conn.key, p.conn.keyPassword = f.CA, f.Cert, f.Key, f.KeyPassword
	default:
		for _, kv := range [][2]string{{"unsafeSsl", strconv.FormatBool(f.UnsafeSsl)}, {"ca", f.CA}, {"cert", f.Cert}, {"key", f.Key}, {"keyPassword", f.KeyPassword}} {
			if kv[1] != "" && kv[1] != "false" {
				return scalers.KeyError(kv[0], `is set but TLS is off; set enableTLS: "true" in metadata (or tls: enable in the TriggerAuthentication)`)
			}
		}
	}
	if p.conn.tls {
		if _, err := tlsConfig(p.conn); err != nil {
			return err
		}
	}
	p.complete = p.conn.addr != ""
	return nil
}

// parseAddress reads a "host:port" address; without a port it is port
// defPort. Its errors never quote a value that may hold credentials.
func parseAddress(s string, defPort int) (host string, port int, err error) {
	s = strings.TrimSpace(s)
	shown := strconv.Quote(s)
	if strings.ContainsAny(s, "@") {
		shown = "a value that is not shown (it holds an @, as user information would)"
	}
	bad := func(why string) error {
		return fmt.Errorf("expected host:port, such as redis.example:6379 or [::1]:6379; found %s: %s", shown, why)
	}
	switch {
	case s == "":
		return "", 0, bad("it is empty")
	case strings.Contains(s, "://"):
		return "", 0, bad("a URL; give only host:port (credentials go in the TriggerAuthentication, the database in databaseIndex, TLS in enableTLS)")
	case strings.Contains(s, "@"):
		return "", 0, bad("user information is not allowed; give the credentials in the TriggerAuthentication")
	}
	portStr := ""
	switch {
	case strings.HasPrefix(s, "["):
		if strings.HasSuffix(s, "]") {
			host = s[1 : len(s)-1]
		} else if host, portStr, err = net.SplitHostPort(s); err != nil {
			return "", 0, bad("not a bracketed IPv6 address with an optional :port")
		}
		if net.ParseIP(host) == nil || !strings.Contains(host, ":") {
			return "", 0, bad("the brackets do not hold an IPv6 address")
		}
	case strings.Count(s, ":") > 1:
		return "", 0, bad("write an IPv6 address in brackets, [::1]:6379")
	case strings.Contains(s, ":"):
		host, portStr, _ = strings.Cut(s, ":")
	default:
		host = s
	}
	if !strings.HasPrefix(s, "[") {
		if host, err = checkHost(host); err != nil {
			return "", 0, bad(err.Error())
		}
	}
	port = defPort
	if portStr != "" || strings.HasSuffix(s, ":") {
		n, err := strconv.Atoi(portStr)
		if err != nil || n < 1 || n > 65535 {
			return "", 0, bad("the port must be a number from 1 to 65535")
		}
		port = n
	}
	return host, port, nil
}

// checkHost checks a host name or address (an IPv6 address without
// brackets is allowed here: host and port are separate keys).
func checkHost(h string) (string, error) {
	h = strings.TrimSpace(h)
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	if h == "" {
		return "", errors.New("the host is empty")
	}
	if ip := net.ParseIP(h); ip != nil {
		return h, nil
	}
	if len(h) > 253 {
		return "", errors.New("the host name is longer than 253 characters")
	}
	for _, r := range h {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
		default:
			return "", fmt.Errorf("the host holds %q, which no host name or IP address has", r)
		}
	}
	return h, nil
}

// tlsConfig builds the TLS client configuration of a connection with TLS on.
// Its errors are KeyErrors that never show a key or password.
func tlsConfig(k connKey) (*tls.Config, error) {
	host, _, err := net.SplitHostPort(k.addr)
	if err != nil {
		host = k.addr // at admission the address may be unknown; only the material is checked then
	}
	return scalers.ClientTLSFor(scalers.TLSKeys{CA: k.ca, Cert: k.cert, Key: k.key, KeyPassword: k.keyPassword}, host, k.unsafeSsl)
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
