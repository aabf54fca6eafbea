// SPDX-License-Identifier: Apache-2.0

package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/ebbscale/ebb/scalers"
)

// Errors a read can wrap; test them with errors.Is.
var (
	// ErrWrongType: the key holds another type than the trigger reads (a
	// string where a list is expected, ...), Redis's WRONGTYPE.
	ErrWrongType = errors.New("wrong type of key")
	// ErrNoGroup: the stream has no such consumer group, or the stream does
	// not exist.
	ErrNoGroup = errors.New("consumer group not found")
	// ErrNoLag: the server does not report consumer group lag; lagCount
	// needs Redis 7 or later.
	ErrNoLag = errors.New("the server does not report consumer group lag (lagCount needs Redis 7 or later)")
)

const (
	// maxConns caps each client's TCP connections: triggers reading
	// different keys of one server at the same moment share these, and
	// identical reads share one command.
	maxConns = 4
	// dialTimeout bounds one connection attempt, TLS handshake included,
	// within the read's own deadline.
	dialTimeout = 5 * time.Second
	// lagScanLimit is how many entries a lag read counts itself when Redis
	// cannot tell the lag (see lag).
	lagScanLimit = 100
)

// client is one go-redis client to one server and database with one set of
// credentials: a pool of at most maxConns connections, or, for a cluster,
// one such pool per node, or, with sentinels, a pool to the master they
// name and a connection to one sentinel.
type client struct {
	rdb goredis.UniversalClient
	sh  *shared
	// dialErr is the error of the last connection attempt, nil once one
	// succeeds, and connected says one did: a read that runs out of time
	// while connecting says why.
	dialErr   atomic.Pointer[error]
	connected atomic.Bool
	addr      string
	tls       bool
	// seeds are the addresses the trigger names; pin the patterns of a
	// pinned trigger. Every other address dialled was named by a server
	// (a cluster node, a sentinel).
	seeds map[string]bool
	pin   []string
	// slots asks the cluster for its slots (cluster only).
	slots *slotSource
}

// newClient builds a client. It does no I/O: go-redis dials on the first command.
func (sh *shared) newClient(_ context.Context, k connKey) (*client, error) {
	c := &client{sh: sh, addr: strings.ReplaceAll(k.addr, ",", ", "), tls: k.tls, seeds: map[string]bool{}}
	for _, s := range k.seeds() {
		c.seeds[s] = true
	}
	if k.pin != "" {
		c.pin = strings.Split(k.pin, "\n")
	}
	var tcfg *tls.Config
	if k.tls {
		var err error
		if tcfg, err = tlsConfig(k); err != nil { // validated when the trigger was parsed
			return nil, err
		}
	}
	opt := &goredis.Options{
		Addr:       k.addr,
		Username:   k.username,
		Password:   k.password,
		DB:         k.db,
		ClientName: sh.clientName,
		// RESP2: every server and proxy speaks it, and the replies parsed
		// here (XINFO GROUPS) have one shape.
		Protocol: 2,
		Dialer:   c.dialer(tcfg),
		// One attempt per dial, and one retry of a command that failed on a
		// connection the server had closed (after a restart): the scale loop
		// reads again at its next poll.
		DialTimeout:   dialTimeout,
		DialerRetries: 1,
		MaxRetries:    1,
		// Every read has a deadline (the trigger's timeout); go-redis applies
		// it to the connection rather than a fixed read timeout of its own.
		ContextTimeoutEnabled: true,
		ReadTimeout:           -1,
		WriteTimeout:          -1,
		PoolSize:              maxConns,
		MaxActiveConns:        maxConns,
		PipelinePoolSize:      -1, // pipelines share the same maxConns connections
		// No CLIENT SETINFO nor maintenance notifications: plain commands
		// only, for servers and proxies that know no more.
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
	switch k.topo {
	case cluster:
		c.slots = &slotSource{c: c, opt: *opt, seeds: k.seeds()}
		c.rdb = goredis.NewClusterClient(&goredis.ClusterOptions{
			Addrs: k.seeds(), ClientName: opt.ClientName, Protocol: opt.Protocol, Dialer: opt.Dialer,
			Username: opt.Username, Password: opt.Password,
			// The cluster's slots come through slotSource, which bounds
			// the nodes a cluster may name.
			ClusterSlots: c.slots.get,
			NewClient:    newNodeClient,
			MaxRedirects: 3, MaxRetries: 1,
			DialTimeout: opt.DialTimeout, DialerRetries: opt.DialerRetries,
			ContextTimeoutEnabled: true, ReadTimeout: opt.ReadTimeout, WriteTimeout: opt.WriteTimeout,
			PoolSize: maxConns, MaxActiveConns: maxConns, PipelinePoolSize: -1,
			DisableIdentity: true, MaintNotificationsConfig: opt.MaintNotificationsConfig,
		})
	case sentinel:
		c.rdb = goredis.NewFailoverClient(&goredis.FailoverOptions{
			MasterName: k.master, SentinelAddrs: k.seeds(),
			SentinelUsername: k.sentinelUsername, SentinelPassword: k.sentinelPassword,
			ClientName: opt.ClientName, Protocol: opt.Protocol, Dialer: opt.Dialer,
			Username: opt.Username, Password: opt.Password, DB: opt.DB,
			MaxRetries: opt.MaxRetries, DialTimeout: opt.DialTimeout, DialerRetries: opt.DialerRetries,
			ContextTimeoutEnabled: true, ReadTimeout: opt.ReadTimeout, WriteTimeout: opt.WriteTimeout,
			PoolSize: maxConns, MaxActiveConns: maxConns, PipelinePoolSize: -1,
			DisableIdentity: true, // go-redis turns maintenance notifications off itself
		})
	default:
		c.rdb = goredis.NewClient(opt)
	}
	return c, nil
}

// newNodeClient makes a cluster node's client. go-redis replaces the host of
// a loopback node with the host of the node that named it, which, with the
// slots of ClusterSlots, is none: the node's own address is used then.
func newNodeClient(opt *goredis.Options) *goredis.Client {
	if host, _, err := net.SplitHostPort(opt.Addr); err == nil && host == "" && opt.NodeAddress != "" {
		opt.Addr = opt.NodeAddress
	}
	return goredis.NewClient(opt)
}

func (c *client) close() {
	_ = c.rdb.Close()
	if c.slots != nil {
		c.slots.close()
	}
}

// dialer connects over TCP and, with TLS on, completes the handshake within
// the dial's context (go-redis bounds each attempt by dialTimeout), so that a
// server that does not speak TLS fails the attempt with an error that says
// so. It keeps the attempt's outcome for whileConnecting. The connection's
// replies are checked against the bounds of resp.go.
//
// Every dial passes the egress policy: the seeds' and those of the nodes a
// cluster or the sentinels name. A named node must also match a pinned
// trigger's allowed endpoints, and an error never shows a name a server
// gave (only an IP address).
func (c *client) dialer(tcfg *tls.Config) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := c.connect(ctx, network, addr, tcfg)
		if err != nil {
			if !c.seeds[addr] {
				err = scalers.Reword(err, "connecting to "+c.shown(addr)+", which the server named: "+c.reason(err))
			}
			c.dialErr.Store(&err)
			return nil, err
		}
		c.dialErr.Store(nil)
		c.connected.Store(true)
		c.sh.dials.Add(1)
		// Every reply passes the RESP scanner before go-redis reads it
		// (resp.go): go-redis allocates what a reply announces.
		return scalers.CheckedConn(conn, newRESPScanner()), nil
	}
}

// shown is addr as an error may show it: an IP address and port, or words
// saying a name is not shown.
func (c *client) shown(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "an address that is not shown"
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return net.JoinHostPort(ip.String(), port)
	}
	return "a host that is not shown, port " + port
}

// reason words a failed dial to a node a server named, without its name.
func (c *client) reason(err error) string {
	var eg *scalers.EgressError
	switch {
	case errors.Is(err, errNotPinned):
		return errNotPinned.Error()
	case errors.As(err, &eg):
		return "refused by the operator's egress policy"
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		return "no answer in time"
	default:
		return "it failed"
	}
}

var errNotPinned = errors.New("not an endpoint the trigger's ClusterTriggerAuthentication allows its credentials to be sent to (spec.allowedEndpoints)")

func (c *client) connect(ctx context.Context, network, addr string, tcfg *tls.Config) (net.Conn, error) {
	if !c.seeds[addr] && c.pin != nil && !scalers.EndpointAllowed(c.pin, addr, "") {
		return nil, errNotPinned
	}
	conn, err := c.sh.egress.Dialer(net.Dialer{KeepAlive: 30 * time.Second})(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if tcfg != nil {
		cfg := tcfg.Clone()
		if host, _, err := net.SplitHostPort(addr); err == nil {
			cfg.ServerName = host // each node's own name (a cluster's, the master the sentinels name)
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = conn.Close()
			shown := addr
			if !c.seeds[addr] {
				shown = c.shown(addr)
			}
			var rec tls.RecordHeaderError
			if errors.As(err, &rec) || ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
				return nil, fmt.Errorf("TLS handshake with %s did not complete (TLS is on: does the server serve TLS on this port?): %w", shown, err)
			}
			return nil, fmt.Errorf("TLS handshake with %s: %w", shown, err)
		}
		conn = tc
	}
	return conn, nil
}

// whileConnecting says why a read whose context ended may have failed: the
// last connection attempt's error, or that the client is still connecting.
// go-redis connects on a goroutine of its own and, when the read's deadline
// passes first, reports only the deadline.
func (c *client) whileConnecting(err error) error {
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return err
	}
	if last := c.dialErr.Load(); last != nil {
		if strings.Contains(err.Error(), (*last).Error()) {
			return err
		}
		return fmt.Errorf("%w (last connection attempt: %v)", err, *last)
	}
	if c.connected.Load() {
		return err
	}
	if c.tls {
		return fmt.Errorf("%w (no connection to %s completed yet; TLS is on: does the server serve TLS on this port?)", err, c.addr)
	}
	return fmt.Errorf("%w (no connection to %s completed yet)", err, c.addr)
}

// query is one read: what, of which key and group.
type query struct {
	kind  kind
	key   string
	group string
}

func queryOf(p plan) query { return query{kind: p.kind, key: p.key, group: p.group} }

// String names the query's key in errors.
func (q query) String() string {
	switch q.kind {
	case kindList:
		return fmt.Sprintf("list %q", q.key)
	case kindStreamLength:
		return fmt.Sprintf("stream %q", q.key)
	default:
		return fmt.Sprintf("consumer group %q of stream %q", q.group, q.key)
	}
}

// result is a query's value or error.
type result struct {
	v   float64
	err error
}

// read runs one query.
func (c *client) read(ctx context.Context, q query) (float64, error) {
	res, err := c.readAll(ctx, []query{q})
	if err != nil {
		return 0, c.whileConnecting(err)
	}
	return res[0].v, res[0].err
}

// readAll runs the queries in one pipelined round trip (a few more for
// queries that fail or, in lag mode, for a lag Redis cannot tell). err is
// the failure of the round trip itself; the queries' own errors are in their
// results.
func (c *client) readAll(ctx context.Context, qs []query) ([]result, error) {
	type staged struct {
		first  goredis.Cmder
		second goredis.Cmder // lag: XLEN
	}
	st := make([]staged, len(qs))
	pipe := c.rdb.Pipeline()
	for i, q := range qs {
		switch q.kind {
		case kindList:
			st[i].first = pipe.LLen(ctx, q.key)
		case kindStreamLength:
			st[i].first = pipe.XLen(ctx, q.key)
		case kindPending:
			st[i].first = pipe.XPending(ctx, q.key, q.group)
		case kindLag:
			st[i].first = pipe.Do(ctx, "XINFO", "GROUPS", q.key)
			st[i].second = pipe.XLen(ctx, q.key)
		}
	}
	cmds, err := pipe.Exec(ctx)
	if err != nil && (!isRedisError(err) || !anyFailed(cmds)) {
		// The round trip failed (connection, deadline, or the connection's
		// set-up: AUTH, SELECT): every query failed the same way. Exec
		// reports the error of a set-up step without setting it on the
		// commands, which would read as zeros.
		return nil, serverWords(err)
	}
	out := make([]result, len(qs))
	for i, q := range qs {
		var v int64
		var err error
		switch cmd := st[i].first.(type) {
		case *goredis.IntCmd:
			v, err = cmd.Result()
		case *goredis.XPendingCmd:
			var p *goredis.XPending
			if p, err = cmd.Result(); err == nil {
				v = p.Count
			}
		case *goredis.Cmd:
			length, _ := st[i].second.(*goredis.IntCmd).Result() // fails only with XINFO GROUPS, whose error counts
			v, err = c.lag(ctx, q, cmd, length)
		}
		if err != nil {
			out[i].err = c.explain(ctx, q, serverWords(err))
			continue
		}
		out[i].v = float64(v)
	}
	return out, nil
}

// lag is the group's lag from XINFO GROUPS. When Redis cannot tell it (it
// reports nil: the group was created at an ID other than 0 or the end of the
// stream and has not read to the end since, or entries were deleted after its
// last-delivered-id), the entries after the group's last-delivered-id are
// counted with XRANGE, up to lagScanLimit; beyond that the stream's length,
// an upper bound of the lag, stands for it.
func (c *client) lag(ctx context.Context, q query, cmd *goredis.Cmd, length int64) (int64, error) {
	reply, err := cmd.Result()
	if err != nil {
		return 0, err
	}
	groups, err := parseGroups(reply)
	if err != nil {
		return 0, fmt.Errorf("reading XINFO GROUPS of stream %q: %w", q.key, err)
	}
	for _, g := range groups {
		if g.name != q.group {
			continue
		}
		switch {
		case !g.hasLag:
			return 0, ErrNoLag
		case g.lagKnown:
			return g.lag, nil
		}
		c.sh.queries.Add(1)
		entries, err := c.rdb.XRangeN(ctx, q.key, "("+g.lastDeliveredID, "+", lagScanLimit).Result()
		if err != nil {
			return 0, fmt.Errorf("counting the entries of stream %q after its group's last-delivered-id: %w", q.key, serverWords(err))
		}
		if len(entries) < lagScanLimit {
			return int64(len(entries)), nil
		}
		return max(length, int64(len(entries))), nil
	}
	return 0, noGroup
}

// noGroup marks a group missing from XINFO GROUPS; explain words it.
var noGroup = errors.New("NOGROUP")

// explain turns a query's error into one that names its key and says what
// is wrong, looking up the key's type when Redis's error leaves it open.
func (c *client) explain(ctx context.Context, q query, err error) error {
	var want string
	switch q.kind {
	case kindList:
		want = "list"
	default:
		want = "stream"
	}
	wrongType := goredis.HasErrorPrefix(err, "WRONGTYPE")
	missing := errors.Is(err, noGroup) || goredis.HasErrorPrefix(err, "NOGROUP") || goredis.HasErrorPrefix(err, "no such key")
	if !wrongType && !missing {
		return fmt.Errorf("reading the %s of %s: %w", q.kind, q, err)
	}
	c.sh.queries.Add(1)
	typ, terr := c.rdb.Type(ctx, q.key).Result()
	switch {
	case terr != nil && wrongType:
		return fmt.Errorf("key %q is not a %s: %w", q.key, want, ErrWrongType)
	case terr != nil:
		return fmt.Errorf("stream %q has no consumer group %q, or does not exist: %w", q.key, q.group, ErrNoGroup)
	case typ != want && typ != "none":
		if !knownTypes[typ] {
			typ = "value of another type" // the server's word, not repeated
		}
		return fmt.Errorf("key %q holds a %s, not a %s: %w", q.key, typ, want, ErrWrongType)
	case typ == "none":
		return fmt.Errorf("stream %q does not exist, so neither does its consumer group %q: %w", q.key, q.group, ErrNoGroup)
	default:
		return fmt.Errorf("stream %q has no consumer group %q (XGROUP CREATE makes one): %w", q.key, q.group, ErrNoGroup)
	}
}

// knownTypes are the answers of TYPE that an error may repeat.
var knownTypes = map[string]bool{"string": true, "list": true, "set": true, "zset": true, "hash": true, "stream": true}

// serverWords returns err with the text of an error reply of the server
// replaced by its code (ERR, WRONGTYPE, NOAUTH...), when that is a short
// upper-case word, and nothing else: the rest is the server's words, and no
// byte of a tenant's server reaches a status. errors.As and
// goredis.HasErrorPrefix still see the reply.
func serverWords(err error) error {
	var re goredis.Error
	if err == nil || !errors.As(err, &re) {
		return err
	}
	code, _, _ := strings.Cut(re.Error(), " ")
	if len(code) == 0 || len(code) > 16 || strings.TrimLeft(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		code = "an error"
	}
	return &replyError{text: "the server answered " + code, err: err}
}

type replyError struct {
	text string
	err  error
}

func (e *replyError) Error() string { return e.text }
func (e *replyError) Unwrap() error { return e.err }

// isRedisError reports whether err is an error reply of the server (as
// opposed to a failure to reach it).
func isRedisError(err error) bool {
	var re goredis.Error
	return errors.As(err, &re)
}

// groupInfo is one consumer group in an XINFO GROUPS reply.
type groupInfo struct {
	name            string
	lastDeliveredID string
	hasLag          bool // the reply has a lag field (Redis 7+)
	lagKnown        bool // and it is not nil
	lag             int64
}

// parseGroups reads an XINFO GROUPS reply: a list of groups, each a map
// (RESP3) or a flat list of field, value pairs (RESP2).
func parseGroups(reply any) ([]groupInfo, error) {
	list, ok := reply.([]any)
	if !ok {
		return nil, fmt.Errorf("expected a list of groups, found %T", reply)
	}
	out := make([]groupInfo, 0, len(list))
	for i, item := range list {
		var fields [][2]any
		switch g := item.(type) {
		case []any:
			if len(g)%2 != 0 {
				return nil, fmt.Errorf("group %d: expected field, value pairs, found %d items", i, len(g))
			}
			for j := 0; j < len(g); j += 2 {
				fields = append(fields, [2]any{g[j], g[j+1]})
			}
		case map[any]any:
			for k, v := range g {
				fields = append(fields, [2]any{k, v})
			}
		default:
			return nil, fmt.Errorf("group %d: expected a map or a list, found %T", i, item)
		}
		var gi groupInfo
		for _, f := range fields {
			name, _ := f[0].(string)
			switch name {
			case "name":
				gi.name, ok = f[1].(string)
				if !ok {
					return nil, fmt.Errorf("group %d: name is a %T, not a string", i, f[1])
				}
			case "last-delivered-id":
				gi.lastDeliveredID, ok = f[1].(string)
				if !ok || !isStreamID(gi.lastDeliveredID) {
					return nil, fmt.Errorf("group %d: last-delivered-id is not a stream ID", i)
				}
			case "lag":
				gi.hasLag = true
				switch v := f[1].(type) {
				case nil:
				case int64:
					if v < 0 {
						return nil, fmt.Errorf("group %d: lag is negative (%d)", i, v)
					}
					gi.lag, gi.lagKnown = v, true
				default:
					return nil, fmt.Errorf("group %d: lag is a %T, not a number", i, f[1])
				}
			}
		}
		out = append(out, gi)
	}
	return out, nil
}

// isStreamID reports whether s is a stream entry ID, <ms>-<seq>.
func isStreamID(s string) bool {
	ms, seq, ok := strings.Cut(s, "-")
	return ok && digits(ms) && digits(seq)
}

func digits(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// anyFailed reports whether a command of a pipeline carries an error.
func anyFailed(cmds []goredis.Cmder) bool {
	for _, c := range cmds {
		if c.Err() != nil {
			return true
		}
	}
	return false
}
