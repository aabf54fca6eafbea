// SPDX-License-Identifier: Apache-2.0

package work

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kversion"
)

// KafkaGroupOptions say which group KafkaGroup joins.
type KafkaGroupOptions struct {
	// Broker is the address of the one broker. Every connection goes there,
	// whatever address the broker's metadata advertises: the demo's broker
	// listens on the host's loopback and pods reach it through a forwarder
	// at another address.
	Broker string
	// Topic is consumed by Group.
	Topic, Group string
}

// KafkaGroup is a member of a consumer group on a single broker: Take takes
// records from the partitions the group gave it and commits them. Members
// come and go as pods do; the group rebalances the partitions among them.
type KafkaGroup struct {
	cl *kgo.Client
}

// NewKafkaGroup connects to the broker and joins the group (in the
// background: the first Take may find no partition assigned yet). Close it.
func NewKafkaGroup(ctx context.Context, o KafkaGroupOptions) (*KafkaGroup, error) {
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, o.Broker)
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(o.Broker),
		kgo.Dialer(dial),
		kgo.ConsumerGroup(o.Group),
		kgo.ConsumeTopics(o.Topic),
		kgo.DisableAutoCommit(),
		// Members come and go in seconds in the demo: notice a new one
		// within a heartbeat, a vanished one within the broker's minimum
		// session.
		kgo.SessionTimeout(6*time.Second),
		kgo.HeartbeatInterval(time.Second),
		kgo.RebalanceTimeout(10*time.Second),
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.MaxVersions(kversion.V4_0_0()), // as the demo's own client
	)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := cl.Ping(pctx); err != nil {
		cl.Close()
		return nil, fmt.Errorf("kafka broker %s: %w", o.Broker, err)
	}
	return &KafkaGroup{cl: cl}, nil
}

// pollWait bounds how long Take waits for records.
const pollWait = 100 * time.Millisecond

// Take takes up to n records (waiting up to 100 ms for some) and commits
// them, and says how many it took. Records taken whose commit failed (the
// group was rebalancing) count as taken: their next owner takes them again.
func (g *KafkaGroup) Take(ctx context.Context, n int) (int, error) {
	pctx, cancel := context.WithTimeout(ctx, pollWait)
	fs := g.cl.PollRecords(pctx, n)
	cancel()
	var errs []error
	fs.EachError(func(topic string, p int32, err error) {
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			errs = append(errs, fmt.Errorf("fetch %s/%d: %w", topic, p, err))
		}
	})
	recs := fs.Records()
	if len(recs) > 0 {
		if err := g.cl.CommitRecords(ctx, recs...); err != nil {
			errs = append(errs, fmt.Errorf("commit: %w", err))
		}
	}
	return len(recs), errors.Join(errs...)
}

// Close leaves the group, so that its partitions go to the other members at
// once, and closes the client.
func (g *KafkaGroup) Close() { g.cl.Close() }
