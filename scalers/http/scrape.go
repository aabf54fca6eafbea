// SPDX-License-Identifier: Apache-2.0

package http

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	nethttp "net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ebbscale/ebb/scalers"
)

// Bounds of a scraped page. The page streams through a filter that keeps
// only the lines of the trigger's metric family (family.go), so memory
// follows that family, not the page; the parser then builds it. An
// ingress controller with many routes serves a few MiB, and one family of
// it (requests by route, method and status) some thousands of series.
const (
	// maxBody bounds the page's bytes: it is read to its end, but never
	// held.
	maxBody = 16 << 20
	// maxLine bounds a line: a sample with its labels, a HELP text.
	maxLine = 64 << 10
	// maxFamilyBytes, maxFamilySamples and maxFamilyLabels bound the lines
	// kept for the parser. Parsed, a label pair is about 100 bytes of Go
	// values whatever its text, so 500,000 make at most about 50 MB.
	maxFamilyBytes   = 4 << 20
	maxFamilySamples = 50_000
	maxFamilyLabels  = 500_000
)

// clientKey identifies a pooled *http.Client: the endpoint (scheme and host)
// and the credentials. It is never logged.
type clientKey struct {
	origin      string
	bearerToken string
	// serverName, for an https interceptorURL, is the name its
	// certificate is checked against when a replica is read at its address.
	serverName string
}

func newClient(egress *scalers.Egress, key clientKey) *nethttp.Client {
	tr := scalers.NewTransport(egress, 4, nil)
	if key.serverName != "" {
		tr.TLSClientConfig = &tls.Config{ServerName: key.serverName, MinVersion: tls.VersionTLS12}
	}
	tr.MaxIdleConns = 64 // interceptor replicas are a host each
	tr.ResponseHeaderTimeout = time.Minute
	return scalers.NewHTTPClient(tr)
}

// page is one parsed scrape: the metric families by name, and when it was
// taken. It is shared by every trigger whose scrape joined it and is never
// modified.
type page struct {
	families map[string]*dto.MetricFamily
	at       time.Time
}

// textAccept asks for the Prometheus text format (version 0.0.4), which
// every exporter serves.
const textAccept = "text/plain;version=0.0.4;q=1,*/*;q=0.1"

// scrape GETs the page and parses the family name (and, for a name ending
// in _count, the histogram or summary it may count).
func scrape(ctx context.Context, client *nethttp.Client, u, token, name string, now func() time.Time) (*page, error) {
	req, err := nethttp.NewRequestWithContext(ctx, nethttp.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("build the request: %w", err)
	}
	req.Header.Set("Accept", textAccept)
	req.Header.Set("User-Agent", "ebb-http-scaler")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = scalers.TransportWords(ue.Err)
		}
		return nil, &transportError{err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != nethttp.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, fmt.Errorf("answered HTTP %d %s, expected 200 OK", resp.StatusCode, nethttp.StatusText(resp.StatusCode))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "text/plain") {
		return nil, fmt.Errorf("answered Content-Type %q, expected the Prometheus text format (text/plain)", ct)
	}
	kept, err := keepFamily(resp.Body, name)
	if err != nil {
		return nil, err
	}
	families, err := parseFamilies(kept)
	if err != nil {
		return nil, err
	}
	return &page{families: families, at: now()}, nil
}

// parseFamilies parses text-format lines. Its errors say where the page is
// wrong without quoting it.
func parseFamilies(text []byte) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		var pe expfmt.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("the page is not in the Prometheus text format (in the lines of the metric, line %d of them)", pe.Line)
		}
		return nil, errors.New("the page is not in the Prometheus text format")
	}
	return families, nil
}

// errNoFamily and errNoSeries say that nothing matched.
var (
	errNoFamily = errors.New("has no metric of that name")
	errNoSeries = errors.New("has no series matching the labels")
)

// selectSeries returns the value of every series of name that the matchers
// select. A histogram's or summary's "<name>_count" selects its sample
// counts.
func selectSeries(p *page, name string, ms []matcher) (map[series]float64, error) {
	fam, ok := p.families[name]
	count := false
	if !ok {
		if base, cut := strings.CutSuffix(name, "_count"); cut {
			if f, ok := p.families[base]; ok && (f.GetType() == dto.MetricType_HISTOGRAM || f.GetType() == dto.MetricType_SUMMARY) {
				fam, count = f, true
			}
		}
	}
	if fam == nil {
		return nil, errNoFamily
	}
	out := map[series]float64{}
	for _, m := range fam.GetMetric() {
		if !matches(m.GetLabel(), ms) {
			continue
		}
		var v float64
		switch {
		case count && m.GetHistogram() != nil:
			v = float64(m.GetHistogram().GetSampleCount())
		case count && m.GetSummary() != nil:
			v = float64(m.GetSummary().GetSampleCount())
		case m.GetCounter() != nil:
			v = m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			v = m.GetGauge().GetValue()
		case m.GetUntyped() != nil:
			v = m.GetUntyped().GetValue()
		default:
			return nil, fmt.Errorf("is a %s; expected a counter or a gauge (or %s_count)", strings.ToLower(fam.GetType().String()), name)
		}
		out[seriesOf(m.GetLabel())] += v
	}
	if len(out) == 0 {
		return nil, errNoSeries
	}
	return out, nil
}

func matches(labels []*dto.LabelPair, ms []matcher) bool {
	for _, m := range ms {
		v := ""
		for _, l := range labels {
			if l.GetName() == m.name {
				v = l.GetValue()
				break
			}
		}
		if (v == m.value) == m.not {
			return false
		}
	}
	return true
}

func seriesOf(labels []*dto.LabelPair) series {
	parts := make([]string, 0, len(labels))
	for _, l := range labels {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	sort.Strings(parts)
	return series(strings.Join(parts, "\xff"))
}

// scrapeKey identifies a scrape in flight: the URL and the credentials. It is
// a digest, so it holds no credential.
func scrapeKey(u string, key clientKey) string {
	h := sha256.New()
	h.Write([]byte(u))
	h.Write([]byte{0})
	h.Write([]byte(key.bearerToken))
	return hex.EncodeToString(h.Sum(nil))
}

// transportError is a scrape that got no answer: the connection failed.
type transportError struct{ err error }

func (e *transportError) Error() string { return "no answer: " + e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }
