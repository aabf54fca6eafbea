// SPDX-License-Identifier: Apache-2.0

package external

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/external/externalscaler"
	pb "github.com/ebbscale/ebb/scalers/external/externalscalerpb"
	"github.com/ebbscale/ebb/scalers/scalertest"
)

func TestAReadServesTheValueOverTheServersTarget(t *testing.T) {
	src := &source{}
	src.set(42, true)
	srv := serve(t, "127.0.0.1:0", src.read, externalscaler.Options{MetricName: "jobs", Target: 10, TargetKey: "perReplica"}, nil)
	ext, _ := NewTypes()
	sc := scalertest.NewScaler(t, ext, trigger("external", map[string]string{"scalerAddress": srv.addr}, nil))
	if m := sc.Metric(); m.Target != 1 || m.Name != "s0-external" {
		t.Errorf("Metric() = %+v, want target 1 named s0-external", m)
	}
	r, err := read(t, sc)
	if err != nil || r.Value != 4.2 || !r.Active {
		t.Fatalf("Read = %+v, %v; want 4.2 (42 over a target of 10), active", r, err)
	}
	src.set(0, false)
	if r, err := read(t, sc); err != nil || r.Value != 0 || r.Active {
		t.Fatalf("Read = %+v, %v; want 0, inactive", r, err)
	}
	// Activation is the server's IsActive, not a threshold on the value.
	src.set(0, true)
	if r, err := read(t, sc); err != nil || r.Value != 0 || !r.Active {
		t.Fatalf("Read = %+v, %v; want 0, active", r, err)
	}
}

// Keys Ebb does not read are the server's: the server gets every key as
// written, <key>FromEnv values resolved from the container, as KEDA sends
// them, with the scaled object's name and namespace.
func TestKeysEbbDoesNotReadGoToTheServer(t *testing.T) {
	src := &source{}
	src.set(1, true)
	srv := serve(t, "127.0.0.1:0", src.read, externalscaler.Options{}, nil)
	ext, _ := NewTypes()
	md := map[string]string{"scalerAddress": srv.addr, "listName": "orders", "listLength": "5", "passwordFromEnv": "REDIS_PASSWORD", "hostFromEnv": "UNSET", "timeout": "3s"}
	tr := trigger("external", md, nil)
	tr.Env = map[string]string{"REDIS_PASSWORD": "from-env"}
	if err := ext.Validate(tr); err != nil {
		t.Fatalf("Validate = %v", err)
	}
	if _, err := read(t, scalertest.NewScaler(t, ext, tr)); err != nil {
		t.Fatal(err)
	}
	ref := src.lastRef()
	want := map[string]string{"scalerAddress": srv.addr, "listName": "orders", "listLength": "5", "passwordFromEnv": "from-env", "timeout": "3s"}
	if ref.Name != "worker" || ref.Namespace != "shop" || len(ref.Metadata) != len(want) {
		t.Fatalf("the server got %+v, want shop/worker with %v", ref, want)
	}
	for k, v := range want {
		if ref.Metadata[k] != v {
			t.Errorf("scalerMetadata[%s] = %q, want %q", k, ref.Metadata[k], v)
		}
	}
}

// normalize keeps the HPA's AverageValue replica count what it is under
// KEDA, which serves the value against the server's target, both read by
// the HPA in thousandths: ceil(served / 1) = ceil(vm / tm).
func TestNormalizeKeepsKEDAsReplicaCount(t *testing.T) {
	keda := func(v, t float64) float64 { return math.Ceil(math.Round(v*1000) / math.Round(t*1000)) }
	ebb := func(v, t float64) float64 { return math.Ceil(math.Round(normalize(v, t)*1000) / 1000) }
	cases := [][2]float64{{0, 1}, {42, 10}, {40, 10}, {0.9, 0.3}, {10001, 10000}, {20004, 10000}, {7, 3}, {1, 0.001}, {1e12, 7}, {5, 1e9}}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		cases = append(cases, [2]float64{float64(r.IntN(100000)) / float64(1+r.IntN(3)*999), float64(1+r.IntN(5000)) / 100})
	}
	for _, c := range cases {
		if k, e := keda(c[0], c[1]), ebb(c[0], c[1]); k != e {
			t.Errorf("value %v, target %v: KEDA's HPA wants %v replicas, Ebb's %v", c[0], c[1], k, e)
		}
	}
	if got := normalize(0.9, 0.3); got != 3 {
		t.Errorf("normalize(0.9, 0.3) = %v, want exactly 3", got)
	}
}

// A server with several metrics: the value served is the largest over its
// target (the HPA takes the largest replica count of its metrics), and
// floats win over whole numbers, KEDA's way.
func TestSeveralMetricsServeTheLargestShare(t *testing.T) {
	addr := rawServer(t, &perMetric{
		specs: []*pb.MetricSpec{{MetricName: "a", TargetSize: 10}, {MetricName: "b", TargetSize: 1, TargetSizeFloat: 0.5}},
		values: map[string][]*pb.MetricValue{
			"a": {{MetricValue: 30}, {MetricValue: 5}},     // 35 / 10 = 3.5
			"b": {{MetricValue: 100, MetricValueFloat: 2}}, // 2 / 0.5 = 4
		},
	})
	ext, _ := NewTypes()
	r, err := read(t, scalertest.NewScaler(t, ext, trigger("external", map[string]string{"scalerAddress": addr}, nil)))
	if err != nil || r.Value != 4 || !r.Active {
		t.Fatalf("Read = %+v, %v; want 4, active", r, err)
	}
}

// A server with no metric spec serves 0 (the HPA gets no metric from it
// under KEDA; a 0 never raises the largest) and its activation.
func TestAServerWithNoMetricSpecServesZero(t *testing.T) {
	addr := rawServer(t, &odd{})
	ext, _ := NewTypes()
	r, err := read(t, scalertest.NewScaler(t, ext, trigger("external", map[string]string{"scalerAddress": addr}, nil)))
	if err != nil || r.Value != 0 || !r.Active {
		t.Fatalf("Read = %+v, %v; want 0, active", r, err)
	}
}

// Each hostile server fails the read for its own reason, said in Ebb's
// words.
func TestHostileServersFailForTheirReason(t *testing.T) {
	for _, c := range []struct {
		name string
		impl pb.ExternalScalerServer
		want string
	}{
		{"a marked status", failing{}, "GetMetricSpec: the server answered gRPC code FailedPrecondition"},
		{"a target of zero", &odd{specs: []*pb.MetricSpec{{MetricName: "m"}}}, "metric spec 0 has a target of 0"},
		{"a negative value", &odd{specs: []*pb.MetricSpec{{MetricName: "m", TargetSize: 1}}, values: []*pb.MetricValue{{MetricValue: -5}}}, "metric value 0 is -5"},
		{"too large a reply", &odd{specs: []*pb.MetricSpec{{MetricName: strings.Repeat("x", maxReply), TargetSize: 1}}}, "ResourceExhausted"},
		{"too many specs", &odd{specs: manySpecs(maxSpecs + 1)}, "more than 16 metric specs"},
		{"too many values", &odd{specs: []*pb.MetricSpec{{MetricName: "m", TargetSize: 1}}, values: make([]*pb.MetricValue, maxValues+1)}, "more than 1000 metric values"},
		{"no IsActive", &perMetric{}, "IsActive: the server answered gRPC code Unimplemented"},
	} {
		t.Run(c.name, func(t *testing.T) {
			addr := rawServer(t, c.impl)
			ext, _ := NewTypes()
			_, err := read(t, scalertest.NewScaler(t, ext, trigger("external", map[string]string{"scalerAddress": addr}, nil)))
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), addr) {
				t.Fatalf("Read error = %v, want one naming %s and saying %q", err, addr, c.want)
			}
			if strings.Contains(c.want, "too large") && !errors.Is(err, scalers.ErrReplyTooLarge) {
				t.Errorf("error %v is not ErrReplyTooLarge", err)
			}
		})
	}
}

// Each call gives up after the trigger's timeout (a bare number is
// milliseconds, KEDA's form), and the error says so.
func TestACallGivesUpAfterTheTimeout(t *testing.T) {
	hung := make(chan struct{})
	srv := serve(t, "127.0.0.1:0", func(ctx context.Context, _ externalscaler.Ref) (externalscaler.Sample, error) {
		<-hung // a server that never answers, whatever the deadline
		return externalscaler.Sample{}, nil
	}, externalscaler.Options{}, nil)
	t.Cleanup(func() { close(hung) })
	ext, _ := NewTypes()
	for _, timeout := range []string{"300", "300ms"} {
		sc := scalertest.NewScaler(t, ext, trigger("external", map[string]string{"scalerAddress": srv.addr, "timeout": timeout}, nil))
		start := time.Now()
		_, err := read(t, sc)
		if err == nil || !strings.Contains(err.Error(), "no answer within 300ms") {
			t.Fatalf("timeout %s: Read error = %v, want one saying no answer within 300ms", timeout, err)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("timeout %s: the read took %s", timeout, took)
		}
	}
}

// N triggers on one server, from different scaled objects, hold one gRPC
// connection and one TCP connection between them; the last Close closes
// it.
func TestTriggersOnOneServerShareOneConnection(t *testing.T) {
	src := &source{}
	src.set(3, true)
	srv := serve(t, "127.0.0.1:0", src.read, externalscaler.Options{}, nil)
	ext, push := NewTypes()
	var scs []scalers.Scaler
	for i := range 20 {
		typ := ext
		if i%2 == 1 {
			typ = push
		}
		tr := trigger(typ.Name(), map[string]string{"scalerAddress": srv.addr, "n": string(rune('a' + i))}, nil)
		tr.ScaledObject = "worker-" + string(rune('a'+i))
		sc, err := typ.New(tr)
		if err != nil {
			t.Fatal(err)
		}
		scs = append(scs, sc)
	}
	for _, sc := range scs {
		if _, err := read(t, sc); err != nil {
			t.Fatal(err)
		}
	}
	if n := ext.OpenConnections(); n != 1 {
		t.Errorf("20 triggers hold %d connections, want 1", n)
	}
	if n := srv.accepted.Load(); n != 1 {
		t.Errorf("the server accepted %d TCP connections, want 1", n)
	}
	for _, sc := range scs {
		_ = sc.Close()
	}
	if n := ext.OpenConnections(); n != 0 {
		t.Errorf("after Close, %d connections are open", n)
	}
	if _, err := read(t, scs[0]); err == nil {
		t.Error("a read after Close succeeded")
	}
}

// perMetric answers fixed specs and, per metric name, fixed values; it
// implements no IsActive beyond answering active for a non-empty spec list.
type perMetric struct {
	pb.UnimplementedExternalScalerServer
	specs  []*pb.MetricSpec
	values map[string][]*pb.MetricValue
}

func (p *perMetric) IsActive(ctx context.Context, r *pb.ScaledObjectRef) (*pb.IsActiveResponse, error) {
	if len(p.specs) == 0 {
		return p.UnimplementedExternalScalerServer.IsActive(ctx, r)
	}
	return &pb.IsActiveResponse{Result: true}, nil
}

func (p *perMetric) GetMetricSpec(context.Context, *pb.ScaledObjectRef) (*pb.GetMetricSpecResponse, error) {
	return &pb.GetMetricSpecResponse{MetricSpecs: p.specs}, nil
}

func (p *perMetric) GetMetrics(_ context.Context, r *pb.GetMetricsRequest) (*pb.GetMetricsResponse, error) {
	return &pb.GetMetricsResponse{MetricValues: p.values[r.GetMetricName()]}, nil
}
