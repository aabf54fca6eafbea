// SPDX-License-Identifier: Apache-2.0

package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/apiversions"
	"github.com/segmentio/kafka-go/protocol/findcoordinator"
	"github.com/segmentio/kafka-go/protocol/listoffsets"
	meta "github.com/segmentio/kafka-go/protocol/metadata"
	"github.com/segmentio/kafka-go/protocol/offsetfetch"
	"github.com/segmentio/kafka-go/protocol/saslauthenticate"
	"github.com/segmentio/kafka-go/protocol/saslhandshake"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/ebbscale/ebb/scalers"
)

const (
	clientID = "ebb"
	// dialTimeout bounds a connection's setup: TCP, TLS, version
	// negotiation and SASL.
	dialTimeout = 10 * time.Second
	// requestTimeout bounds a request when the caller's context has no
	// earlier deadline.
	requestTimeout = 30 * time.Second
	// metadataTTL is how long a topic's partitions and leaders are reused.
	metadataTTL = 5 * time.Second
	// coordinatorTTL is how long a group's coordinator is reused; a
	// coordinator error drops it sooner.
	coordinatorTTL = time.Minute

	// groupIDNotFound is what newer brokers answer OffsetFetch for a group
	// that has never committed (older ones answer offsets of -1).
	groupIDNotFound = 69

	latestOffset   = -1 // ListOffsets timestamp of the log end
	earliestOffset = -2 // ListOffsets timestamp of the log start
)

// client holds the connections to one Kafka cluster, with one set of
// credentials, shared by every trigger on it through the Type's pool.
//
// It speaks the Kafka protocol with kafka-go's protocol package over at most
// one connection per broker, so it can send one ListOffsets request per
// partition leader for any number of partitions (kafka-go's Client splits
// such a request into one request, and possibly one connection, per
// partition). Requests on one connection are serialized. Topic metadata is
// cached for metadataTTL and group coordinators for coordinatorTTL. A client
// is safe for concurrent use.
type client struct {
	bootstrap []string
	tls       *tls.Config
	mech      sasl.Mechanism
	oauth     *tokenSource // sasl oauthbearer's tokens; nil otherwise
	dial      func(ctx context.Context, network, addr string) (net.Conn, error)
	now       func() time.Time

	mu      sync.Mutex
	closed  bool
	conns   map[string]*brokerConn // by address
	control string                 // address used for metadata and coordinator look-ups
	brokers map[int32]string       // node id → address, from the last metadata
	topics  map[string]topicEntry
	coords  map[string]coordEntry

	metaCalls  scalers.Coalescer[map[string]error]
	coordCalls scalers.Coalescer[string]
	tcp        *atomic.Int32 // open TCP connections, shared with the Type
}

type topicEntry struct {
	partitions []partitionMeta // sorted by id
	at         time.Time
}

type partitionMeta struct {
	id     int32
	leader int32
}

type coordEntry struct {
	addr string
	at   time.Time
}

// newClient builds the client of a cluster and connects to one of its
// bootstrap servers, so that an unreachable cluster or bad credentials fail
// here.
func newClient(ctx context.Context, k clusterKey, tcp *atomic.Int32, egress *scalers.Egress) (*client, error) {
	cfg := k.config()
	tlsCfg, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	var mech sasl.Mechanism
	var oauth *tokenSource
	switch k.sasl {
	case "oauthbearer":
		oauth = newTokenSource(k.oauth, egress, time.Now)
		mech = &oauthMechanism{src: oauth, extensions: k.oauth.extensions}
	case "plaintext":
		mech = plain.Mechanism{Username: k.username, Password: k.password}
	case "scram_sha256", "scram_sha512":
		algo := scram.SHA256
		if k.sasl == "scram_sha512" {
			algo = scram.SHA512
		}
		if mech, err = scram.Mechanism(algo, k.username, k.password); err != nil {
			return nil, fmt.Errorf("preparing SASL %s: %w", k.sasl, err)
		}
	}
	c := &client{
		bootstrap: cfg.BootstrapServers,
		tls:       tlsCfg,
		mech:      mech,
		oauth:     oauth,
		dial:      egress.Dialer(net.Dialer{KeepAlive: 30 * time.Second}),
		now:       time.Now,
		conns:     map[string]*brokerConn{},
		brokers:   map[int32]string{},
		topics:    map[string]topicEntry{},
		coords:    map[string]coordEntry{},
		tcp:       tcp,
	}
	if _, err := c.controlConn(ctx); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// close closes every connection; requests in flight fail.
func (c *client) close() {
	c.mu.Lock()
	c.closed = true
	conns := make([]*brokerConn, 0, len(c.conns))
	for _, b := range c.conns {
		conns = append(conns, b)
	}
	c.mu.Unlock()
	for _, b := range conns {
		b.shut()
	}
	if c.oauth != nil {
		c.oauth.close()
	}
}

var errClosed = errors.New("kafka client closed")

// conn returns the connection slot for an address, creating it (no I/O).
func (c *client) conn(addr string) (*brokerConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errClosed
	}
	b, ok := c.conns[addr]
	if !ok {
		b = &brokerConn{client: c, addr: addr, sem: make(chan struct{}, 1)}
		c.conns[addr] = b
	}
	return b, nil
}

// controlConn returns a connected connection for cluster-wide requests: the
// one in use, or the first bootstrap server (then known broker) that
// connects.
func (c *client) controlConn(ctx context.Context) (*brokerConn, error) {
	c.mu.Lock()
	addr := c.control
	candidates := slices.Clone(c.bootstrap)
	for _, a := range c.brokers {
		if !slices.Contains(candidates, a) {
			candidates = append(candidates, a)
		}
	}
	c.mu.Unlock()
	if addr != "" {
		return c.conn(addr)
	}
	var errs []error
	for _, a := range candidates {
		b, err := c.conn(a)
		if err != nil {
			return nil, err
		}
		if err := b.connect(ctx); err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		c.mu.Lock()
		c.control = a
		c.mu.Unlock()
		return b, nil
	}
	return nil, errors.Join(errs...)
}

// controlRoundTrip sends a cluster-wide request; a connection failure makes
// the next one pick a control connection again.
func (c *client) controlRoundTrip(ctx context.Context, req protocol.Message) (protocol.Message, error) {
	b, err := c.controlConn(ctx)
	if err != nil {
		return nil, err
	}
	res, err := b.roundTrip(ctx, req)
	if isConnError(err) {
		c.mu.Lock()
		if c.control == b.addr {
			c.control = ""
		}
		c.mu.Unlock()
	}
	return res, err
}

// metadata returns the partitions of topics, from the cache when fresh.
// Topics that do not exist or have a partition without a leader are in
// topicErrs; err is a failure of the request itself.
func (c *client) metadata(ctx context.Context, topics []string) (entries map[string]topicEntry, topicErrs map[string]error, err error) {
	entries = make(map[string]topicEntry, len(topics))
	var missing []string
	now := c.now()
	c.mu.Lock()
	for _, t := range topics {
		if e, ok := c.topics[t]; ok && now.Sub(e.at) < metadataTTL {
			entries[t] = e
		} else {
			missing = append(missing, t)
		}
	}
	c.mu.Unlock()
	if len(missing) == 0 {
		return entries, nil, nil
	}
	slices.Sort(missing)
	topicErrs, err = c.metaCalls.Do(ctx, strings.Join(missing, "\x00"), func(ctx context.Context) (map[string]error, error) {
		return c.fetchMetadata(ctx, missing)
	})
	if err != nil {
		return nil, nil, err
	}
	c.mu.Lock()
	for _, t := range missing {
		if e, ok := c.topics[t]; ok {
			entries[t] = e
		}
	}
	c.mu.Unlock()
	for _, t := range missing {
		if _, ok := entries[t]; !ok && topicErrs[t] == nil {
			return nil, nil, fmt.Errorf("metadata for topic %q is missing from the broker's answer", t)
		}
	}
	return entries, topicErrs, nil
}

func (c *client) fetchMetadata(ctx context.Context, topics []string) (map[string]error, error) {
	m, err := c.controlRoundTrip(ctx, &meta.Request{TopicNames: topics})
	if err != nil {
		return nil, fmt.Errorf("metadata request: %w", err)
	}
	res := m.(*meta.Response)
	now := c.now()
	topicErrs := map[string]error{}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, br := range res.Brokers {
		c.brokers[br.NodeID] = net.JoinHostPort(br.Host, strconv.Itoa(int(br.Port)))
	}
	for _, t := range res.Topics {
		if t.ErrorCode != 0 {
			err := kafkaError(t.ErrorCode)
			if t.ErrorCode != int16(kafkago.UnknownTopicOrPartition) {
				err = &staleError{err}
			}
			topicErrs[t.Name] = err
			delete(c.topics, t.Name)
			continue
		}
		parts := make([]partitionMeta, 0, len(t.Partitions))
		var bad error
		for _, p := range t.Partitions {
			if p.LeaderID < 0 {
				bad = &staleError{fmt.Errorf("partition %d has no leader: %w", p.PartitionIndex, kafkago.LeaderNotAvailable)}
				break
			}
			parts = append(parts, partitionMeta{id: p.PartitionIndex, leader: p.LeaderID})
		}
		if bad != nil {
			topicErrs[t.Name] = bad
			delete(c.topics, t.Name)
			continue
		}
		slices.SortFunc(parts, func(a, b partitionMeta) int { return int(a.id) - int(b.id) })
		c.topics[t.Name] = topicEntry{partitions: parts, at: now}
	}
	return topicErrs, nil
}

// forgetTopic drops a topic's cached metadata after a leadership error.
func (c *client) forgetTopic(topic string) {
	c.mu.Lock()
	delete(c.topics, topic)
	c.mu.Unlock()
}

// coordinator returns the address of a group's coordinator.
func (c *client) coordinator(ctx context.Context, group string) (string, error) {
	c.mu.Lock()
	e, ok := c.coords[group]
	c.mu.Unlock()
	if ok && c.now().Sub(e.at) < coordinatorTTL {
		return e.addr, nil
	}
	return c.coordCalls.Do(ctx, group, func(ctx context.Context) (string, error) {
		m, err := c.controlRoundTrip(ctx, &findcoordinator.Request{Key: group})
		if err != nil {
			return "", fmt.Errorf("finding the coordinator of consumer group %q: %w", group, err)
		}
		res := m.(*findcoordinator.Response)
		if res.ErrorCode != 0 {
			return "", fmt.Errorf("finding the coordinator of consumer group %q: %w", group, &staleError{kafkaError(res.ErrorCode)})
		}
		addr := net.JoinHostPort(res.Host, strconv.Itoa(int(res.Port)))
		c.mu.Lock()
		c.coords[group] = coordEntry{addr: addr, at: c.now()}
		c.mu.Unlock()
		return addr, nil
	})
}

func (c *client) forgetCoordinator(group string) {
	c.mu.Lock()
	delete(c.coords, group)
	c.mu.Unlock()
}

// committed fetches a group's committed offsets with one OffsetFetch request:
// for the given partitions, or for every partition it has committed offsets
// for when partitions is nil. An offset of -1 means none.
func (c *client) committed(ctx context.Context, group string, partitions map[string][]int32) (map[string]map[int32]int64, error) {
	addr, err := c.coordinator(ctx, group)
	if err != nil {
		return nil, err
	}
	req := &offsetfetch.Request{GroupID: group}
	if partitions != nil {
		req.Topics = make([]offsetfetch.RequestTopic, 0, len(partitions))
		for t, ps := range partitions {
			req.Topics = append(req.Topics, offsetfetch.RequestTopic{Name: t, PartitionIndexes: ps})
		}
	}
	b, err := c.conn(addr)
	if err != nil {
		return nil, err
	}
	m, err := b.roundTrip(ctx, req)
	if err != nil {
		c.forgetCoordinator(group)
		return nil, fmt.Errorf("fetching the committed offsets of consumer group %q: %w", group, err)
	}
	res := m.(*offsetfetch.Response)
	if res.ErrorCode == groupIDNotFound {
		// A group that does not exist has committed nothing.
		return map[string]map[int32]int64{}, nil
	}
	if res.ErrorCode != 0 {
		c.forgetCoordinator(group)
		return nil, fmt.Errorf("fetching the committed offsets of consumer group %q: %w", group, &staleError{kafkaError(res.ErrorCode)})
	}
	out := make(map[string]map[int32]int64, len(res.Topics))
	for _, t := range res.Topics {
		offs := make(map[int32]int64, len(t.Partitions))
		for _, p := range t.Partitions {
			if p.ErrorCode == groupIDNotFound {
				p.CommittedOffset = -1
			} else if p.ErrorCode != 0 {
				return nil, fmt.Errorf("fetching the committed offset of consumer group %q on topic %q partition %d: %w", group, t.Name, p.PartitionIndex, &staleError{kafkaError(p.ErrorCode)})
			}
			offs[p.PartitionIndex] = p.CommittedOffset
		}
		out[t.Name] = offs
	}
	return out, nil
}

// logOffsets fetches the log end (latestOffset) or start (earliestOffset)
// offsets of partitions whose metadata is in entries, with one ListOffsets
// request per partition leader, sent to the leaders concurrently.
func (c *client) logOffsets(ctx context.Context, entries map[string]topicEntry, partitions map[string][]int32, timestamp int64) (map[string]map[int32]int64, error) {
	type leaderReq struct {
		leader int32
		req    listoffsets.Request
		res    *listoffsets.Response
		err    error
	}
	var reqs []leaderReq // few: one per broker at most
	for t, ps := range partitions {
		e := entries[t]
		for _, p := range ps {
			i, ok := slices.BinarySearchFunc(e.partitions, p, func(m partitionMeta, id int32) int { return int(m.id) - int(id) })
			if !ok {
				return nil, fmt.Errorf("topic %q has no partition %d", t, p)
			}
			leader := e.partitions[i].leader
			j := slices.IndexFunc(reqs, func(r leaderReq) bool { return r.leader == leader })
			if j < 0 {
				reqs = append(reqs, leaderReq{leader: leader, req: listoffsets.Request{ReplicaID: -1}})
				j = len(reqs) - 1
			}
			topics := &reqs[j].req.Topics
			if n := len(*topics); n == 0 || (*topics)[n-1].Topic != t {
				*topics = append(*topics, listoffsets.RequestTopic{Topic: t})
			}
			last := &(*topics)[len(*topics)-1]
			last.Partitions = append(last.Partitions, listoffsets.RequestPartition{Partition: p, CurrentLeaderEpoch: -1, Timestamp: timestamp})
		}
	}
	send := func(r *leaderReq) {
		c.mu.Lock()
		addr, known := c.brokers[r.leader]
		c.mu.Unlock()
		var m protocol.Message
		if !known {
			r.err = &staleError{fmt.Errorf("partition leader %d is not in the cluster metadata", r.leader)}
		} else if b, err := c.conn(addr); err != nil {
			r.err = err
		} else if m, r.err = b.roundTrip(ctx, &r.req); r.err == nil {
			r.res = m.(*listoffsets.Response)
		}
		if r.err != nil {
			for _, t := range r.req.Topics {
				c.forgetTopic(t.Topic)
			}
		}
	}
	if len(reqs) == 1 {
		send(&reqs[0])
	} else {
		var wg sync.WaitGroup
		for i := range reqs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// A panic fails this leader's request, not the process.
				if err := scalers.Guard(func() error { send(&reqs[i]); return nil }); err != nil {
					reqs[i].err = err
				}
			}()
		}
		wg.Wait()
	}

	out := make(map[string]map[int32]int64, len(partitions))
	for _, r := range reqs {
		if r.err != nil {
			return nil, fmt.Errorf("listing log offsets: %w", r.err)
		}
		for _, t := range r.res.Topics {
			offs := out[t.Topic]
			if offs == nil {
				offs = make(map[int32]int64, len(partitions[t.Topic]))
				out[t.Topic] = offs
			}
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 {
					c.forgetTopic(t.Topic)
					return nil, fmt.Errorf("listing log offsets of topic %q partition %d: %w", t.Topic, p.Partition, &staleError{kafkaError(p.ErrorCode)})
				}
				offs[p.Partition] = p.Offset
			}
		}
	}
	return out, nil
}

// brokerConn is the one connection to one broker address. It connects on
// first use and again after a failure.
type brokerConn struct {
	client *client
	addr   string
	// sem is a one-slot semaphore serializing requests and connects;
	// waiting on it honours the caller's context.
	sem chan struct{}

	mu  sync.Mutex // guards raw and pc
	raw net.Conn
	pc  *protocol.Conn
}

func (b *brokerConn) lock(ctx context.Context) error {
	select {
	case b.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *brokerConn) unlock() { <-b.sem }

func (b *brokerConn) current() (net.Conn, *protocol.Conn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.raw, b.pc
}

// connect opens the connection if it is not open.
func (b *brokerConn) connect(ctx context.Context) error {
	if err := b.lock(ctx); err != nil {
		return err
	}
	defer b.unlock()
	_, _, _, err := b.ensureLocked(ctx)
	return err
}

// ensureLocked returns the open connection, opening it if needed; fresh says
// it was opened by this call. The caller holds sem.
func (b *brokerConn) ensureLocked(ctx context.Context) (raw net.Conn, pc *protocol.Conn, fresh bool, err error) {
	if raw, pc := b.current(); pc != nil {
		return raw, pc, false, nil
	}
	raw, pc, err = b.client.handshake(ctx, b.addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, false, fmt.Errorf("connecting to broker %s: %w", b.addr, err)
		}
		return nil, nil, false, &connError{addr: b.addr, err: err}
	}
	// The client's lock orders this against close: either close sees the
	// connection and shuts it, or this sees the client closed.
	b.client.mu.Lock()
	closed := b.client.closed
	if !closed {
		b.mu.Lock()
		b.raw, b.pc = raw, pc
		b.mu.Unlock()
		b.client.tcp.Add(1)
	}
	b.client.mu.Unlock()
	if closed {
		raw.Close()
		return nil, nil, false, errClosed
	}
	return raw, pc, true, nil
}

// roundTrip sends one request and reads its response. Any I/O failure drops
// the connection. A connection that was already open may have been closed by
// the broker or a middlebox while idle, so a failure on it is retried once on
// a new connection (every request here is a read); a failure on a new
// connection is a connError, unless ctx ended.
func (b *brokerConn) roundTrip(ctx context.Context, req protocol.Message) (protocol.Message, error) {
	if err := b.lock(ctx); err != nil {
		return nil, err
	}
	defer b.unlock()
	for {
		raw, pc, fresh, err := b.ensureLocked(ctx)
		if err != nil {
			return nil, err
		}
		var res protocol.Message
		err = guard(ctx, raw, func() error {
			var err error
			res, err = pc.RoundTrip(req)
			return err
		})
		if err == nil {
			return res, nil
		}
		b.drop(raw)
		switch {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("request to broker %s: %w", b.addr, ctx.Err())
		case b.client.isClosed():
			return nil, errClosed
		case !fresh:
			continue
		default:
			return nil, &connError{addr: b.addr, err: err}
		}
	}
}

// drop closes raw if it is still the open connection; the next request
// reconnects.
func (b *brokerConn) drop(raw net.Conn) {
	b.mu.Lock()
	mine := raw != nil && b.raw == raw
	if mine {
		b.raw, b.pc = nil, nil
	}
	b.mu.Unlock()
	if mine {
		raw.Close()
		b.client.tcp.Add(-1)
	}
}

// shut closes the connection, interrupting a request in flight.
func (b *brokerConn) shut() {
	raw, _ := b.current()
	b.drop(raw)
}

func (c *client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// guard runs fn, an exchange on conn, within ctx: the connection's deadline
// is the context's (or requestTimeout from now, whichever is earlier), and a
// cancellation interrupts the exchange at once.
func guard(ctx context.Context, conn net.Conn, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	deadline := time.Now().Add(requestTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	err := fn()
	if !stop() && err == nil {
		// ctx ended as the exchange completed: the connection's deadline
		// is poisoned, so the exchange counts as interrupted.
		err = ctx.Err()
	}
	return err
}

// handshake dials addr and prepares the connection: TLS, API version
// negotiation and SASL authentication, all within dialTimeout and ctx.
func (c *client) handshake(ctx context.Context, addr string) (net.Conn, *protocol.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	raw, err := c.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	ok := false
	defer func() {
		if !ok {
			raw.Close()
		}
	}()
	if c.tls != nil {
		cfg := c.tls
		if cfg.ServerName == "" {
			cfg = cfg.Clone()
			cfg.ServerName, _, _ = net.SplitHostPort(addr)
		}
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, nil, fmt.Errorf("TLS handshake: %w", err)
		}
		raw = tc
	}
	fg := &frameGuard{Conn: raw}
	raw = fg
	pc := protocol.NewConn(raw, clientID)
	err = guard(ctx, raw, func() error {
		m, err := pc.RoundTrip(&apiversions.Request{})
		if err != nil {
			return fmt.Errorf("negotiating API versions: %w", err)
		}
		res := m.(*apiversions.Response)
		if res.ErrorCode != 0 {
			return fmt.Errorf("negotiating API versions: %w", kafkaError(res.ErrorCode))
		}
		versions := make(map[protocol.ApiKey]int16, len(res.ApiKeys))
		for _, k := range res.ApiKeys {
			key := protocol.ApiKey(k.ApiKey)
			versions[key] = key.SelectVersion(k.MinVersion, k.MaxVersion)
		}
		pc.SetVersions(versions)
		if c.mech != nil {
			return c.authenticate(ctx, pc, fg, versions, addr)
		}
		return nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return nil, nil, err
	}
	ok = true
	return raw, pc, nil
}

var errAuth = errors.New("SASL authentication failed")

func (c *client) authenticate(ctx context.Context, pc *protocol.Conn, fg *frameGuard, versions map[protocol.ApiKey]int16, addr string) error {
	m, err := pc.RoundTrip(&saslhandshake.Request{Mechanism: c.mech.Name()})
	if err != nil {
		return fmt.Errorf("SASL handshake: %w", err)
	}
	hs := m.(*saslhandshake.Response)
	if hs.ErrorCode != 0 {
		return fmt.Errorf("SASL mechanism %s is not enabled on the broker (it offers %s): %w", c.mech.Name(), strings.Join(hs.Mechanisms, ", "), kafkaError(hs.ErrorCode))
	}
	host, portStr, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portStr)
	ctx = sasl.WithMetadata(ctx, &sasl.Metadata{Host: host, Port: port})
	sess, state, err := c.mech.Start(ctx)
	if err != nil {
		return fmt.Errorf("%w: %v", errAuth, err)
	}
	// With SaslHandshake v0, kafka-go exchanges the SASL bytes unframed
	// (saslauthenticate.Request.Required): the guard passes them through,
	// bounded in size only (they are read into one []byte).
	if (&saslauthenticate.Request{}).Required(versions) {
		fg.raw = true
		defer func() { fg.raw = false }()
	}
	for done := false; !done; {
		m, err := pc.RoundTrip(&saslauthenticate.Request{AuthBytes: state})
		if err != nil {
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("%w: the broker closed the connection", errAuth)
			}
			return fmt.Errorf("%w: %v", errAuth, err)
		}
		res := m.(*saslauthenticate.Response)
		if res.ErrorCode != 0 {
			// The broker's error message is its words: not repeated.
			return fmt.Errorf("%w: %w", errAuth, kafkaError(res.ErrorCode))
		}
		if done, state, err = sess.Next(ctx, res.AuthBytes); err != nil {
			return fmt.Errorf("%w: %v", errAuth, err)
		}
	}
	return nil
}

// connError is a failure of a connection (dial, TLS, SASL or I/O): the
// cluster may be down or unreachable.
type connError struct {
	addr string
	err  error
}

func (e *connError) Error() string { return fmt.Sprintf("broker %s: %v", e.addr, e.err) }
func (e *connError) Unwrap() error { return e.err }

func isConnError(err error) bool {
	var ce *connError
	return errors.As(err, &ce)
}

// staleError marks a Kafka error that cached metadata or a cached
// coordinator may explain (leadership moved, coordinator moved or loading):
// worth one retry with fresh look-ups.
type staleError struct{ err error }

func (e *staleError) Error() string { return e.err.Error() }
func (e *staleError) Unwrap() error { return e.err }

func isStale(err error) bool {
	var se *staleError
	return errors.As(err, &se)
}

func kafkaError(code int16) error { return kafkago.Error(code) }
