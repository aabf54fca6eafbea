// SPDX-License-Identifier: Apache-2.0

package metricsadapter

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/custom-metrics-apiserver/pkg/provider"

	"github.com/ebbscale/ebb/controller"
)

// values is a Source that answers from a table: the provider's selection,
// error mapping and metrics are pure logic over what the Source says.
type values struct {
	mu    sync.Mutex
	refs  map[controller.MetricRef]result
	reads []controller.MetricRef
}

type result struct {
	v   float64
	err error
}

func (s *values) ExternalMetric(_ context.Context, ref controller.MetricRef) (float64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads = append(s.reads, ref)
	r, ok := s.refs[ref]
	if !ok {
		return 0, controller.ErrMetricNotFound
	}
	return r.v, r.err
}

func (s *values) ListMetrics() []controller.MetricRef {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []controller.MetricRef
	for r := range s.refs {
		out = append(out, r)
	}
	return out
}

func ref(ns, so, metric string) controller.MetricRef {
	return controller.MetricRef{Namespace: ns, ScaledObject: so, Metric: metric}
}

// secretDetail stands for what a source's error may carry.
const secretDetail = "dial tcp 10.1.2.3:5672: amqp://admin:hunter2@rabbit"

func newTestProvider(t *testing.T) (*Provider, *values, *prometheus.Registry) {
	t.Helper()
	src := &values{refs: map[controller.MetricRef]result{
		ref("shop", "orders", "s0-rabbitmq-orders"):   {v: 101},
		ref("shop", "invoices", "s0-rabbitmq-orders"): {v: 7.5},
		ref("shop", "broken", "s0-kafka-events"):      {err: fmt.Errorf("%w: %s", controller.ErrMetricUnavailable, secretDetail)},
		ref("shop", "odd", "s0-postgresql-rows"):      {err: errors.New(secretDetail)},
		ref("shop", "nan", "s0-prometheus-q"):         {v: math.NaN()},
		ref("other", "orders", "s0-rabbitmq-orders"):  {v: 3},
	}}
	reg := prometheus.NewRegistry()
	p, err := NewProvider(src, reg, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	return p, src, reg
}

func TestGetExternalMetric(t *testing.T) {
	for _, tc := range []struct {
		sentence  string
		ns        string
		selector  string
		metric    string
		want      map[string]float64 // ScaledObject → value
		wantCode  int32
		wantReads int
	}{
		{sentence: "the HPA's selector reads the one ScaledObject it names", ns: "shop", selector: "ebb.dev/scaledobject=orders", metric: "s0-rabbitmq-orders",
			want: map[string]float64{"orders": 101}, wantReads: 1},
		{sentence: "no selector lists every ScaledObject of the namespace serving the metric", ns: "shop", metric: "s0-rabbitmq-orders",
			want: map[string]float64{"orders": 101, "invoices": 7.5}, wantReads: 2},
		{sentence: "a set selector lists the ScaledObjects it matches", ns: "shop", selector: "ebb.dev/scaledobject in (invoices,nobody)", metric: "s0-rabbitmq-orders",
			want: map[string]float64{"invoices": 7.5}, wantReads: 1},
		{sentence: "another namespace's ScaledObject of the same name is not served", ns: "other", selector: "ebb.dev/scaledobject=orders", metric: "s0-rabbitmq-orders",
			want: map[string]float64{"orders": 3}, wantReads: 1},
		{sentence: "a ScaledObject that does not serve the metric is NotFound", ns: "shop", selector: "ebb.dev/scaledobject=orders", metric: "s1-kafka-x",
			wantCode: 404, wantReads: 1},
		{sentence: "a namespace without the metric is NotFound", ns: "empty", metric: "s0-rabbitmq-orders", wantCode: 404},
		{sentence: "a selector with a label Ebb does not set matches nothing", ns: "shop", selector: "ebb.dev/scaledobject=orders,team=a", metric: "s0-rabbitmq-orders",
			wantCode: 404},
		{sentence: "an unreadable trigger not in fallback is ServiceUnavailable", ns: "shop", selector: "ebb.dev/scaledobject=broken", metric: "s0-kafka-events",
			wantCode: 503, wantReads: 1},
		{sentence: "a value that is not a finite number is ServiceUnavailable, never a zero", ns: "shop", selector: "ebb.dev/scaledobject=nan", metric: "s0-prometheus-q",
			wantCode: 503, wantReads: 1},
		{sentence: "an unexpected error is an internal error", ns: "shop", selector: "ebb.dev/scaledobject=odd", metric: "s0-postgresql-rows",
			wantCode: 500, wantReads: 1},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			p, src, _ := newTestProvider(t)
			sel, err := labels.Parse(tc.selector)
			if err != nil {
				t.Fatal(err)
			}
			list, err := p.GetExternalMetric(context.Background(), tc.ns, sel, provider.ExternalMetricInfo{Metric: tc.metric})
			if len(src.reads) != tc.wantReads {
				t.Errorf("%d reads of the source, want %d: %v", len(src.reads), tc.wantReads, src.reads)
			}
			if tc.wantCode != 0 {
				var st apierrors.APIStatus
				if !errors.As(err, &st) || st.Status().Code != tc.wantCode {
					t.Fatalf("error = %v, want an API error with code %d", err, tc.wantCode)
				}
				if msg := err.Error(); strings.Contains(msg, "hunter2") || strings.Contains(msg, "10.1.2.3") || strings.Contains(msg, "amqp://") {
					t.Errorf("the API error carries the source's detail: %s", msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]float64{}
			for _, it := range list.Items {
				if it.MetricName != tc.metric {
					t.Errorf("item named %q, want %q", it.MetricName, tc.metric)
				}
				got[it.MetricLabels["ebb.dev/scaledobject"]] = it.Value.AsApproximateFloat64()
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("served %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRequestMetricsByResult(t *testing.T) {
	p, _, reg := newTestProvider(t)
	get := func(so, metric string) {
		sel := labels.SelectorFromSet(labels.Set{"ebb.dev/scaledobject": so})
		_, _ = p.GetExternalMetric(context.Background(), "shop", sel, provider.ExternalMetricInfo{Metric: metric})
	}
	get("orders", "s0-rabbitmq-orders")
	get("orders", "s0-rabbitmq-orders")
	get("gone", "s0-rabbitmq-orders")
	get("broken", "s0-kafka-events")
	get("odd", "s0-postgresql-rows")

	if n := testutil.CollectAndCount(reg, RequestDurationName); n != 6 {
		t.Errorf("%d series of %s, want one per result (6)", n, RequestDurationName)
	}
	counts := map[string]uint64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			counts[m.GetLabel()[0].GetValue()] = m.GetHistogram().GetSampleCount()
		}
	}
	if fmt.Sprint(counts) != fmt.Sprint(map[string]uint64{ResultOK: 2, ResultNotFound: 1, ResultUnavailable: 1, ResultError: 1, ResultDelegated: 0, ResultDelegateError: 0}) {
		t.Errorf("requests by result = %v", counts)
	}
}

func TestListAllExternalMetricsNamesEachMetricOnce(t *testing.T) {
	p, _, _ := newTestProvider(t)
	var names []string
	for _, m := range p.ListAllExternalMetrics() {
		names = append(names, m.Metric)
	}
	want := []string{"s0-kafka-events", "s0-postgresql-rows", "s0-prometheus-q", "s0-rabbitmq-orders"}
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Errorf("ListAllExternalMetrics = %v, want %v", names, want)
	}
}

func TestQuantity(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{0, "0"}, {1, "1"}, {101, "101"}, {20.2, "20200m"}, {0.0004, "0"}, {0.0005, "1m"}, {-3, "-3"},
		{1e300, "9223372036854775"},
	} {
		q := quantity(tc.in)
		if got := q.String(); got != tc.want {
			t.Errorf("quantity(%v) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
