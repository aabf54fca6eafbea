// SPDX-License-Identifier: Apache-2.0

package rabbitmq

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/ebbscale/ebb/scalers"
)

// httpKey identifies one pooled management API client: the API's base URL
// (scheme, host, port and any path prefix, no credentials) and the
// credentials. It is never logged.
type httpKey struct {
	base     string
	username string
	password string
	tlsOpts  tlsOpts
}

// httpClient is a pooled management API client with its own transport, so
// that dropping it closes its connections.
type httpClient struct {
	key       httpKey
	client    *http.Client
	transport *http.Transport
}

// managementLimits bound a management API answer. The largest Ebb asks
// for is a whole vhost's queue listing with two counts per queue (a probe
// batch, listQueues): about 50 bytes and 7 JSON values per queue besides its
// name, so 8 MiB and 500,000 values hold a vhost of some 70,000 queues (a
// regular-expression read pages by at most 500 queues, and one queue's
// answer is a few hundred bytes). Decoded, 500,000 values are at most about
// 40 MB of Go values, whatever the bytes. docs/security.md lists the bounds.
var managementLimits = scalers.JSONLimits{Bytes: 8 << 20, Values: 500_000, Depth: 32}

// maxPages bounds the pages one regular-expression read follows: the
// broker's page_count is the server's word, and 200 pages of 500 queues
// are 100,000 queues.
const maxPages = 200

func (t *Type) openHTTP(_ context.Context, k httpKey) (*httpClient, error) {
	tr := scalers.NewTransport(t.egress, 8, func() { t.dials.Add(1) })
	if strings.HasPrefix(k.base, "https://") {
		cfg, err := k.tlsOpts.config("") // the transport names the URL's host
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = cfg
	}
	return &httpClient{key: k, client: scalers.NewHTTPClient(tr), transport: tr}, nil
}

func closeHTTP(c *httpClient) { c.transport.CloseIdleConnections() }

// queueStats is the part of a management API queue object Ebb reads. The
// counts are pointers: a queue the broker has not reported statistics for
// yet lacks them, which is not the same as zero.
type queueStats struct {
	Name          string   `json:"name"`
	Messages      *float64 `json:"messages"`
	MessagesReady *float64 `json:"messages_ready"`
	MessageStats  *struct {
		PublishDetails    *rateDetails `json:"publish_details"`
		DeliverGetDetails *rateDetails `json:"deliver_get_details"`
	} `json:"message_stats"`
}

// rateDetails is a rate of the management API's message_stats: messages
// per second over its last sampling interval.
type rateDetails struct {
	Rate float64 `json:"rate"`
}

// rates are a queue's publish and deliver-or-get rates: 0 when the broker
// reports none (nothing published, or delivered, since the queue appeared).
func (q queueStats) rates() (publish, deliver float64) {
	if q.MessageStats == nil {
		return 0, 0
	}
	if d := q.MessageStats.PublishDetails; d != nil {
		publish = d.Rate
	}
	if d := q.MessageStats.DeliverGetDetails; d != nil {
		deliver = d.Rate
	}
	return publish, deliver
}

type queuePage struct {
	Items     []queueStats `json:"items"`
	Page      int          `json:"page"`
	PageCount int          `json:"page_count"`
}

const queueColumns = "name,messages,messages_ready,message_stats.publish_details.rate,message_stats.deliver_get_details.rate"

// statusError is a management API answer other than 200.
type statusError struct {
	code int
}

func (e *statusError) Error() string {
	switch e.code {
	case http.StatusUnauthorized:
		return "the management API refused the credentials (HTTP 401)"
	case http.StatusForbidden:
		return "the management API user may not read this (HTTP 403)"
	}
	// The server's reason is not repeated: no byte a tenant's server sends
	// reaches a status.
	return fmt.Sprintf("the management API answered HTTP %d %s", e.code, http.StatusText(e.code))
}

// get fetches base+path (path already escaped, with its query) into out.
func (c *httpClient) get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.key.base+path, nil)
	if err != nil {
		return err
	}
	if c.key.username != "" || c.key.password != "" {
		req.SetBasicAuth(c.key.username, c.key.password)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return scalers.StripURL(err) // the URL may be a redirect's Location
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		_ = resp.Body.Close()
	}()
	if resp.StatusCode != http.StatusOK {
		return &statusError{code: resp.StatusCode}
	}
	if err := scalers.ReadJSON(resp.Body, managementLimits, out); err != nil {
		return fmt.Errorf("decoding the management API's answer: %w", err)
	}
	return nil
}

// notFound tells a missing vhost from a missing queue after a 404.
func (c *httpClient) notFound(ctx context.Context, vhost string) error {
	var v struct {
		Name string `json:"name"`
	}
	err := c.get(ctx, "/api/vhosts/"+url.PathEscape(vhost), &v)
	if se, ok := err.(*statusError); ok && se.code == http.StatusNotFound {
		return ErrVhostNotFound
	}
	return ErrQueueNotFound
}

// readHTTP reads the queue (or the queues matching the regular expression)
// from the management API.
func (s *scaler) readHTTP(ctx context.Context) (float64, error) {
	c, err := s.httpLease.Get(ctx)
	if err != nil {
		return 0, err
	}
	p := &s.plan
	if p.useRegex {
		return s.readRegex(ctx, c)
	}
	var q queueStats
	path := "/api/queues/" + url.PathEscape(p.vhost) + "/" + url.PathEscape(p.queue) + "?columns=" + queueColumns
	if err := c.get(ctx, path, &q); err != nil {
		return 0, s.describeHTTPError(ctx, c, err)
	}
	return p.valueOf(q)
}

func (s *scaler) readRegex(ctx context.Context, c *httpClient) (float64, error) {
	p := &s.plan
	q := url.Values{}
	q.Set("name", p.queue)
	q.Set("use_regex", "true")
	q.Set("page_size", strconv.Itoa(p.pageSize))
	q.Set("columns", queueColumns)
	var values []float64
	for page := 1; ; page++ {
		q.Set("page", strconv.Itoa(page))
		var pg queuePage
		if err := c.get(ctx, "/api/queues/"+url.PathEscape(p.vhost)+"?"+q.Encode(), &pg); err != nil {
			return 0, s.describeHTTPError(ctx, c, err)
		}
		for _, item := range pg.Items {
			v, err := p.valueOf(item)
			if err != nil {
				return 0, err
			}
			values = append(values, v)
		}
		if page >= pg.PageCount {
			break
		}
		if page >= maxPages {
			return 0, fmt.Errorf("reading queues matching %q in vhost %q at %s: the management API announced %d pages: %w", p.queue, p.vhost, p.where, pg.PageCount, &scalers.TooLargeError{What: "pages", Limit: maxPages})
		}
	}
	if len(values) == 0 {
		return 0, fmt.Errorf("no queue in vhost %q at %s matches %q: %w", p.vhost, p.where, p.queue, ErrQueueNotFound)
	}
	return combine(p.operation, values), nil
}

// valueOf is one queue's value for the plan's mode. A rate the broker does
// not report is 0 (nothing published, or delivered, since the queue
// appeared, or the broker collects no rates). The two modes that divide by
// the delivery rate count a rate of 0 as 1 message per second: consumers
// that take nothing (none running, at zero replicas) must read as behind,
// never as a zero.
func (p *plan) valueOf(q queueStats) (float64, error) {
	publish, deliver := q.rates()
	perSecond := deliver
	if perSecond == 0 {
		perSecond = 1
	}
	switch p.mode {
	case modeMessageRate:
		return publish, nil
	case modeDeliverGetRate:
		return deliver, nil
	case modeRatio:
		if publish == 0 {
			return 0, nil
		}
		return publish / perSecond, nil
	}
	n := q.Messages
	if p.excludeUnacked {
		n = q.MessagesReady
	}
	if n == nil {
		return 0, fmt.Errorf("queue %q in vhost %q at %s: %w", q.Name, p.vhost, p.where, ErrNoStatistics)
	}
	if p.mode == modeConsumptionTime {
		if *n == 0 {
			return 0, nil
		}
		return *n / perSecond, nil
	}
	return *n, nil
}

func combine(op string, values []float64) float64 {
	var sum, maxV float64
	for i, v := range values {
		sum += v
		if i == 0 || v > maxV {
			maxV = v
		}
	}
	switch op {
	case opAvg:
		return sum / float64(len(values))
	case opMax:
		return maxV
	}
	return sum
}

func (s *scaler) describeHTTPError(ctx context.Context, c *httpClient, err error) error {
	p := &s.plan
	what := fmt.Sprintf("queue %q in vhost %q at %s", p.queue, p.vhost, p.where)
	if p.useRegex {
		what = fmt.Sprintf("queues matching %q in vhost %q at %s", p.queue, p.vhost, p.where)
	}
	if se, ok := err.(*statusError); ok && se.code == http.StatusNotFound {
		if p.useRegex {
			return fmt.Errorf("%s: %w", what, ErrVhostNotFound)
		}
		return fmt.Errorf("%s: %w", what, c.notFound(ctx, p.vhost))
	}
	return fmt.Errorf("reading %s: %w", what, scalers.StripURL(err))
}
