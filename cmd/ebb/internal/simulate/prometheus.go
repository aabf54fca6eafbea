// SPDX-License-Identifier: Apache-2.0

package simulate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ebbscale/ebb/scalers"
)

// NamedQuery is a PromQL query giving a trigger's series.
type NamedQuery struct {
	Trigger string
	Query   string
}

// PrometheusQuery fetches series with range queries (GET
// /api/v1/query_range) from one Prometheus server.
type PrometheusQuery struct {
	URL        string
	Queries    []NamedQuery
	Start, End time.Time
	Step       time.Duration
	// Client defaults to one with a 30 s timeout.
	Client *http.Client
	// MaxPoints bounds the points of one request (0: 10,000, under
	// Prometheus's limit of 11,000 a series); longer ranges take several.
	MaxPoints int
}

type fetchedSeries struct {
	trigger string
	*Series
}

// Fetch runs each query over [Start, End] every Step. A query must give
// exactly one series (aggregate it otherwise); a step with no sample, or a
// NaN, is a failed read.
func (p PrometheusQuery) Fetch(ctx context.Context) ([]fetchedSeries, error) {
	if len(p.Queries) == 0 {
		return nil, errors.New("--prometheus: no --query: expected [<trigger>=]<PromQL>")
	}
	if p.Step <= 0 {
		return nil, fmt.Errorf("--step %s: expected more than 0", p.Step)
	}
	if !p.End.After(p.Start) {
		return nil, fmt.Errorf("--start %s, --end %s: expected the end after the start", p.Start.Format(time.RFC3339), p.End.Format(time.RFC3339))
	}
	base, err := url.Parse(p.URL)
	if err != nil || base.Scheme == "" || base.Host == "" {
		return nil, fmt.Errorf("--prometheus %q: expected a URL like http://prometheus:9090", scalers.RedactString(p.URL))
	}
	p.Start, p.End = p.Start.Truncate(time.Millisecond), p.End.Truncate(time.Millisecond)
	client := p.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	var out []fetchedSeries
	for _, q := range p.Queries {
		s := &Series{Name: "query " + strconv.Quote(q.Query), Start: p.Start}
		got := map[int64]float64{}
		maxPoints := p.MaxPoints
		if maxPoints <= 0 {
			maxPoints = 10000
		}
		chunk := time.Duration(maxPoints-1) * p.Step
		for from := p.Start; !from.After(p.End); from = from.Add(chunk + p.Step) {
			to := from.Add(chunk)
			if to.After(p.End) {
				to = p.End
			}
			if err := p.rangeQuery(ctx, client, base, q.Query, from, to, got); err != nil {
				return nil, fmt.Errorf("--query %s: %w", label(q), err)
			}
		}
		n := int(p.End.Sub(p.Start) / p.Step)
		for i := 0; i <= n; i++ {
			at := p.Start.Add(time.Duration(i) * p.Step)
			v, ok := got[at.UnixMilli()]
			s.Points = append(s.Points, Point{At: at.Sub(p.Start), Value: v, OK: ok && !math.IsNaN(v) && !math.IsInf(v, 0)})
		}
		out = append(out, fetchedSeries{trigger: q.Trigger, Series: s})
	}
	return out, nil
}

func label(q NamedQuery) string {
	if q.Trigger == "" {
		return strconv.Quote(q.Query)
	}
	return q.Trigger + "=" + strconv.Quote(q.Query)
}

type queryResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Values [][2]any          `json:"values"`
		} `json:"result"`
	} `json:"data"`
}

func (p PrometheusQuery) rangeQuery(ctx context.Context, client *http.Client, base *url.URL, query string, from, to time.Time, into map[int64]float64) error {
	u := base.JoinPath("api", "v1", "query_range")
	v := url.Values{}
	v.Set("query", query)
	v.Set("start", strconv.FormatFloat(float64(from.UnixMilli())/1000, 'f', 3, 64))
	v.Set("end", strconv.FormatFloat(float64(to.UnixMilli())/1000, 'f', 3, 64))
	v.Set("step", strconv.FormatFloat(p.Step.Seconds(), 'f', -1, 64))
	u.RawQuery = v.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("range query: %s", scalers.RedactString(err.Error()))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("range query: reading the answer: %w", err)
	}
	var qr queryResponse
	if err := json.Unmarshal(body, &qr); err != nil {
		return fmt.Errorf("range query: HTTP %d, not a Prometheus API answer", resp.StatusCode)
	}
	if qr.Status != "success" {
		return fmt.Errorf("range query: Prometheus answered %s: %s", qr.ErrorType, qr.Error)
	}
	if qr.Data.ResultType != "matrix" {
		return fmt.Errorf("range query: result type %q: expected matrix", qr.Data.ResultType)
	}
	switch n := len(qr.Data.Result); {
	case n == 0:
		return nil // no data in this window: failed reads
	case n > 1:
		return fmt.Errorf("the query gave %d series: expected one; aggregate it, e.g. sum(...)", n)
	}
	for _, pair := range qr.Data.Result[0].Values {
		ts, ok1 := pair[0].(float64)
		vs, ok2 := pair[1].(string)
		if !ok1 || !ok2 {
			return errors.New("range query: a sample is not [time, \"value\"]")
		}
		f, err := strconv.ParseFloat(vs, 64)
		if err != nil {
			return fmt.Errorf("range query: value %q: expected a number", vs)
		}
		into[int64(math.Round(ts*1000))] = f
	}
	return nil
}

// ParseTime reads a --start or --end: an RFC 3339 time, "now", or a
// duration before now such as -6h.
func ParseTime(s string, now time.Time) (time.Time, error) {
	switch {
	case s == "now" || s == "":
		return now, nil
	case strings.HasPrefix(s, "-"):
		d, err := time.ParseDuration(s[1:])
		if err == nil {
			return now.Add(-d), nil
		}
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: expected an RFC 3339 time, now, or a duration before now like -6h", s)
	}
	return t, nil
}
