// SPDX-License-Identifier: Apache-2.0

package simulate

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ebbscale/ebb/tests/promharness"
)

// TestFetchFromARealPrometheus records a gauge at 7 then 42 in a real
// Prometheus and reads it back with range queries, in requests of three
// points at most.
func TestFetchFromARealPrometheus(t *testing.T) {
	reg := prometheus.NewRegistry()
	depth := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sim_queue_depth"}, []string{"queue"})
	reg.MustRegister(depth)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	prom := promharness.Start(t, srv.Listener.Addr().String())

	depth.WithLabelValues("a").Set(7)
	depth.WithLabelValues("b").Set(1)
	prom.WaitForQuery(t, `sim_queue_depth{queue="a"}`, func(v float64) bool { return v == 7 })
	start := time.Now().Truncate(time.Millisecond)
	depth.WithLabelValues("a").Set(42)
	prom.WaitForQuery(t, `sim_queue_depth{queue="a"}`, func(v float64) bool { return v == 42 })
	// At least two steps, so that both values show; a step past now reads
	// the latest sample, 42.
	end := time.Now().Truncate(time.Millisecond)
	if end.Sub(start) < 2*time.Second {
		end = start.Add(2 * time.Second)
	}

	q := PrometheusQuery{
		URL: prom.URL(), Start: start, End: end, Step: time.Second, MaxPoints: 3,
		Queries: []NamedQuery{{Trigger: "depth", Query: `sim_queue_depth{queue="a"}`}, {Query: "sim_absent_metric"}},
	}
	got, err := q.Fetch(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].trigger != "depth" || got[1].trigger != "" {
		t.Fatalf("got %d series: %+v", len(got), got)
	}
	pts := got[0].Points
	if want := int(end.Sub(start)/time.Second) + 1; len(pts) != want {
		t.Fatalf("%d points, want %d (one a step from start to end)", len(pts), want)
	}
	if !pts[0].OK || pts[0].Value != 7 || !pts[len(pts)-1].OK || pts[len(pts)-1].Value != 42 {
		t.Fatalf("first %+v, last %+v: want 7 then 42", pts[0], pts[len(pts)-1])
	}
	for i, p := range pts {
		if p.At != time.Duration(i)*time.Second || !p.OK || (p.Value != 7 && p.Value != 42) || (i > 0 && p.Value < pts[i-1].Value) {
			t.Fatalf("point %d: %+v: want 7s then 42s, a second apart", i, p)
		}
	}
	if !got[0].Start.Equal(start) {
		t.Fatalf("series start %s, want %s", got[0].Start, start)
	}
	for i, p := range got[1].Points {
		if p.OK {
			t.Fatalf("a query with no data: point %d is %+v, want failed reads", i, p)
		}
	}

	for query, want := range map[string]string{
		"sim_queue_depth":     "the query gave 2 series: expected one; aggregate it",
		"sum(sim_queue_depth": "Prometheus answered bad_data",
	} {
		q.Queries = []NamedQuery{{Query: query}}
		if _, err := q.Fetch(t.Context()); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), query) {
			t.Errorf("query %s: got %v, want an error naming it with %q", query, err, want)
		}
	}
}
