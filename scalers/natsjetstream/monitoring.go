// SPDX-License-Identifier: Apache-2.0

package natsjetstream

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/ebbscale/ebb/scalers"
)

// monitorClient is a pooled monitoring endpoint client with its own
// transport, so that dropping it closes its connections.
type monitorClient struct {
	key       monitorKey
	client    *http.Client
	transport *http.Transport
}

// jszLimits bound a /jsz answer: it lists every stream and consumer of the
// account (acc=, consumers=true, without their configs), about 600 bytes and
// 45 JSON values per consumer. 16 MiB and 500,000 values hold an account of
// some 10,000 consumers; a larger account is read over natsServerURL, which
// asks for one consumer. Decoded, 500,000 values are at most about 60 MB of
// Go values (40-byte consumer records), whatever the bytes.
// docs/security.md lists the bounds.
var jszLimits = scalers.JSONLimits{Bytes: 16 << 20, Values: 500_000, Depth: 32}

func (t *Type) openMonitor(_ context.Context, k monitorKey) (*monitorClient, error) {
	tr := scalers.NewTransport(t.egress, 4, func() { t.dials.Add(1) })
	return &monitorClient{key: k, client: scalers.NewHTTPClient(tr), transport: tr}, nil
}

func closeMonitor(c *monitorClient) { c.transport.CloseIdleConnections() }

// jsz is the part of the monitoring endpoint's /jsz answer Ebb reads.
type jsz struct {
	Disabled bool `json:"disabled"`
	Accounts []struct {
		Name    string `json:"name"`
		ID      string `json:"id"`
		Streams []struct {
			Name      string `json:"name"`
			Consumers []struct {
				Name          string       `json:"name"`
				NumPending    uint64       `json:"num_pending"`
				NumAckPending uint64       `json:"num_ack_pending"`
				Cluster       *clusterInfo `json:"cluster"`
			} `json:"consumer_detail"`
		} `json:"stream_detail"`
	} `json:"account_details"`
}

// clusterInfo is a consumer's place in a cluster as the answering server
// sees it: the leader's name, and the other replicas. A server lists every
// replica but itself, so the leader appears among the replicas exactly when
// the answering server is a follower.
type clusterInfo struct {
	Leader   string `json:"leader"`
	Replicas []struct {
		Name string `json:"name"`
	} `json:"replicas"`
}

// follower says whether the answering server is not the consumer's leader,
// and the leader's name ("" when the consumer has no leader).
func (c *clusterInfo) follower() (bool, string) {
	if c == nil {
		return false, ""
	}
	if c.Leader == "" {
		return true, ""
	}
	for _, r := range c.Replicas {
		if r.Name == c.Leader {
			return true, c.Leader
		}
	}
	return false, c.Leader
}

// accountView is one account's consumers as one /jsz answer reported them:
// stream name → consumer name → what the server said. It is shared by the
// triggers that read the account together and never changed after it is
// built.
type accountView struct {
	streams map[string]map[string]consumerView
}

type consumerView struct {
	counts counts
	// follower: the answering server is not the consumer's leader, whose
	// name is leader ("" when the consumer has none).
	follower bool
	leader   string
}

// consumer finds the plan's consumer in the view.
func (v *accountView) consumer(p plan) (counts, error) {
	cons, ok := v.streams[p.stream]
	if !ok {
		return counts{}, fmt.Errorf("stream %q in account %q at %s: %w (a server reports only the streams it holds; in a cluster, natsServerURL reads any stream)", p.stream, p.account, p.where, ErrStreamNotFound)
	}
	c, ok := cons[p.consumer]
	what := fmt.Sprintf("consumer %q of stream %q in account %q at %s", p.consumer, p.stream, p.account, p.where)
	switch {
	case !ok:
		return counts{}, fmt.Errorf("%s: %w (a server reports only the consumers it holds; in a cluster, natsServerURL reads any consumer)", what, ErrConsumerNotFound)
	case c.follower && c.leader == "":
		return counts{}, fmt.Errorf("%s: %w: the consumer has no leader at the moment", what, ErrNotLeader)
	case c.follower:
		return counts{}, fmt.Errorf("%s: %w (the server is a follower), and a follower's counts lag behind the leader's: point natsServerMonitoringEndpoint at the leader's monitoring endpoint, or read over natsServerURL", what, ErrNotLeader)
	}
	return c.counts, nil
}

// readMonitoring fetches the account's streams and consumers from /jsz.
func (s *scaler) readMonitoring(ctx context.Context) (*accountView, error) {
	p := &s.plan
	c, err := s.monitorLease.Get(ctx)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Set("acc", p.account)
	q.Set("consumers", "true")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.key.base+"/jsz?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	what := fmt.Sprintf("account %q from the monitoring endpoint %s", p.account, p.where)
	s.typ.requests.Add(1)
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, scalers.StripURL(err))
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		_ = resp.Body.Close()
	}()
	if resp.StatusCode != http.StatusOK {
		// The body is not repeated: the server is a tenant's choice, and
		// errors reach the status and Events.
		return nil, fmt.Errorf("reading %s: the endpoint answered HTTP %d %s", what, resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	var j jsz
	if err := scalers.ReadJSON(resp.Body, jszLimits, &j); err != nil {
		return nil, fmt.Errorf("reading %s: the answer does not decode as /jsz: %w", what, err)
	}
	if j.Disabled {
		return nil, fmt.Errorf("reading %s: %w on the server", what, ErrJetStreamNotEnabled)
	}
	if v := j.account(p.account); v != nil {
		return v, nil
	}
	return nil, fmt.Errorf("reading %s: %w", what, ErrAccountNotFound)
}

// account is the view of an account in the answer, nil when it is not
// there. The server answers for every account when it knows none by the
// name asked for, so the account is looked for by name (or by its ID, for
// accounts with a JWT name tag).
func (j *jsz) account(name string) *accountView {
	for _, a := range j.Accounts {
		if a.Name != name && a.ID != name {
			continue
		}
		v := &accountView{streams: make(map[string]map[string]consumerView, len(a.Streams))}
		for _, st := range a.Streams {
			cons := make(map[string]consumerView, len(st.Consumers))
			for _, cd := range st.Consumers {
				follower, leader := cd.Cluster.follower()
				cons[cd.Name] = consumerView{
					counts:   counts{pending: cd.NumPending, ackPending: cd.NumAckPending},
					follower: follower,
					leader:   leader,
				}
			}
			v.streams[st.Name] = cons
		}
		return v
	}
	return nil
}
