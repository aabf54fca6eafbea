// SPDX-License-Identifier: Apache-2.0

package prometheus

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/ebbscale/ebb/scalers"
)

// querier runs one instant PromQL query. The scaler needs nothing more from
// Prometheus; httpQuerier implements it over the HTTP API, and tests can
// stand in for it.
type querier interface {
	// Query evaluates promql at the current time. Its error text holds no
	// credential.
	Query(ctx context.Context, promql string) (result, error)
}

// maxBody bounds the answer read from the server. The scaler needs one
// sample (a few hundred bytes with its labels); an answer of many series is
// an error that shows three of them, and 1 MiB holds some 5,000 series.
// docs/security.md lists the bounds.
const maxBody = 1 << 20

// clientKey identifies a pooled *http.Client: the server, the credentials and
// the TLS settings. It is never logged.
type clientKey struct {
	server      string
	authMode    string
	username    string
	password    string
	bearerToken string
	unsafeSSL   bool
}

func newClient(egress *scalers.Egress, key clientKey) *http.Client {
	tr := scalers.NewTransport(egress, 8, nil)
	tr.MaxIdleConns = 8
	tr.TLSClientConfig = &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The user asked for it with unsafeSsl: "true".
		InsecureSkipVerify: key.unsafeSSL, //nolint:gosec
	}
	// The context bounds each request; redirects stay on the server's host
	// (scalers.CheckRedirect), so credentials go nowhere else.
	return scalers.NewHTTPClient(tr)
}

// httpQuerier is a querier over GET <serverAddress>/api/v1/query, on the
// pooled client of its lease.
type httpQuerier struct {
	lease    *scalers.Lease[clientKey, *http.Client]
	endpoint string
	params   url.Values
	header   http.Header
	authMode string
	username string
	password string
	token    string
}

var _ querier = (*httpQuerier)(nil)

func (q *httpQuerier) Query(ctx context.Context, promql string) (result, error) {
	client, err := q.lease.Get(ctx)
	if err != nil {
		return result{}, err
	}
	params := make(url.Values, len(q.params)+1)
	for k, v := range q.params {
		params[k] = v
	}
	params.Set("query", promql)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, q.endpoint+"?"+params.Encode(), nil)
	if err != nil {
		return result{}, fmt.Errorf("build the request: %w", err)
	}
	req.Header = q.header.Clone()
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "ebb-prometheus-scaler")
	switch q.authMode {
	case authBearer:
		req.Header.Set("Authorization", "Bearer "+q.token)
	case authBasic:
		req.SetBasicAuth(q.username, q.password)
	}

	resp, err := client.Do(req)
	if err != nil {
		q.invalidate(ctx, client)
		return result{}, q.transportError(err)
	}
	defer resp.Body.Close()
	body, err := scalers.ReadLimited(resp.Body, maxBody)
	if errors.Is(err, scalers.ErrReplyTooLarge) {
		return result{}, fmt.Errorf("the answer is larger than %d MiB; the query must return one series: aggregate it, e.g. sum(<query>): %w", maxBody>>20, err)
	}
	if err != nil {
		q.invalidate(ctx, client)
		return result{}, fmt.Errorf("read the answer: %w", q.unwrapURLError(err))
	}
	return parseResponse(resp.StatusCode, body)
}

// invalidate drops the pooled client after a connection-level failure, so
// the next query starts from fresh connections. A failure caused by the
// caller's own context is not the connection's fault.
func (q *httpQuerier) invalidate(ctx context.Context, client *http.Client) {
	if ctx.Err() != nil {
		return
	}
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	q.lease.Invalidate(ictx, client, func(a, b *http.Client) bool { return a == b })
}

// transportError says what failed without repeating the request URL (with
// its long query string); the scaler's error names the server.
func (q *httpQuerier) transportError(err error) error {
	return fmt.Errorf("no answer: %w", q.unwrapURLError(err))
}

func (q *httpQuerier) unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return scalers.TransportWords(ue.Err)
	}
	return err
}
