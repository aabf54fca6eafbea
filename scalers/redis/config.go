// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/ebbscale/ebb/scalers"
)

// ListConfig is a redis trigger's metadata. The keys are KEDA's, plus
// timeout (see docs/scalers/redis.md).
type ListConfig struct {
	// ListName is the list whose length (LLEN) the trigger serves.
	ListName string `meta:"listName"`
	// ListLength is the target: list items one replica handles.
	ListLength float64 `meta:"listLength,default=5"`
	// ActivationListLength: the trigger is active when the length is above
	// it.
	ActivationListLength float64 `meta:"activationListLength,default=0,min=0"`

	// Connection holds the keys both trigger types share.
	Connection
}

// StreamConfig is a redis-streams trigger's metadata. The keys are KEDA's,
// plus timeout (see docs/scalers/redis.md).
type StreamConfig struct {
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

	// Connection holds the keys both trigger types share.
	Connection
}

const (
	defaultPort   = 6379
	defaultTarget = 5
)

// Connection is the connection keys of both trigger types: where the
// server is, how to log in, TLS, and how long a read may take.
type Connection struct {
	Address       string        `meta:"address,optional,from=metadata+auth+env,endpoint=hostport:6379"`
	Host          string        `meta:"host,optional,from=metadata+auth+env,endpoint=host:port:6379"`
	Port          int           `meta:"port,optional,min=1,from=metadata+auth+env"`
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
	Timeout       time.Duration `meta:"timeout,default=10s,min=0.001"`
}

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

// connKey identifies one Redis server, database, set of credentials and TLS
// settings: the key of the client pool. It holds secrets and is never logged.
type connKey struct {
	addr               string // host:port
	db                 int
	username, password string
	tls, unsafeSsl     bool
	ca, cert, key      string
	keyPassword        string
}

// secrets are the values Redact removes from errors.
func (k connKey) secrets() []string { return []string{k.password, k.key, k.keyPassword} }

// id is the key as one string, for coalescing keys (never logged).
func (k connKey) id() string {
	return strings.Join([]string{
		k.addr, strconv.Itoa(k.db), k.username, k.password, strconv.FormatBool(k.tls),
		strconv.FormatBool(k.unsafeSsl), k.ca, k.cert, k.key, k.keyPassword,
	}, "\x00")
}

// where names the server and database in errors, without credentials.
func (k connKey) where() string {
	s := "database " + strconv.Itoa(k.db) + " at " + k.addr
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

// resolveList checks a redis trigger's rules across keys and turns its config
// into a plan, or says which key is wrong. It is pure. deferred reports keys
// whose value is not known yet (at admission); the checks that need them are
// skipped.
func (c *ListConfig) resolve(deferred func(key string) bool) (plan, error) {
	p := plan{kind: kindList, key: c.ListName, target: c.ListLength, activation: c.ActivationListLength}
	if strings.TrimSpace(c.ListName) == "" && !deferred("listName") {
		return p, scalers.KeyError("listName", "is empty; expected the name of a list")
	}
	if c.ListLength <= 0 && !deferred("listLength") {
		return p, scalers.KeyError("listLength", "expected a number above 0 (the list items one replica handles), found %s", ftoa(c.ListLength))
	}
	return p, resolveConn(&p, c.Connection, deferred)
}

// resolve checks a redis-streams trigger's rules across keys and turns its
// config into a plan, or says which key is wrong. It is pure. set reports the
// keys given in the metadata (or as <key>FromEnv); deferred those whose value
// is not known yet (at admission).
func (c *StreamConfig) resolve(set, deferred func(key string) bool) (plan, error) {
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
	return p, resolveConn(&p, c.Connection, deferred)
}

// resolveConn fills p's connection from the connection keys. The checks of
// keys that may still come from the TriggerAuthentication or the environment
// (deferred) are left for the build.
func resolveConn(p *plan, f Connection, deferred func(key string) bool) error {
	p.timeout = f.Timeout
	p.conn.db = f.DatabaseIndex
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
		host, port, err := parseAddress(f.Address)
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

// parseAddress reads a "host:port" address; without a port it is port 6379.
// Its errors never quote a value that may hold credentials.
func parseAddress(s string) (host string, port int, err error) {
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
	port = defaultPort
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
	cfg, err := scalers.ClientTLS(scalers.TLSKeys{CA: k.ca, Cert: k.cert, Key: k.key, KeyPassword: k.keyPassword})
	if err != nil {
		return nil, err
	}
	cfg.ServerName = host
	cfg.InsecureSkipVerify = k.unsafeSsl //nolint:gosec // unsafeSsl is the user's explicit choice
	return cfg, nil
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
