// SPDX-License-Identifier: Apache-2.0

package externalscaler_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/ebbscale/ebb/scalers/external/externalscaler"
	pb "github.com/ebbscale/ebb/scalers/external/externalscalerpb"
)

// client starts srv on loopback and returns a raw protocol client of it.
func client(t *testing.T, srv *externalscaler.Server) pb.ExternalScalerClient {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	cc, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cc.Close()
		srv.Stop()
		if err := <-done; err != nil {
			t.Errorf("Serve = %v after Stop, want nil", err)
		}
	})
	return pb.NewExternalScalerClient(cc)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestTheServerAnswersTheProtocol(t *testing.T) {
	var v atomic.Int64
	v.Store(7)
	c := client(t, externalscaler.New(func(_ context.Context, ref externalscaler.Ref) (externalscaler.Sample, error) {
		return externalscaler.Sample{Value: float64(v.Load()), Active: ref.Metadata["on"] == "yes"}, nil
	}, externalscaler.Options{MetricName: "jobs", Target: 2.5, TargetKey: "per"}))
	ref := &pb.ScaledObjectRef{Name: "w", Namespace: "n", ScalerMetadata: map[string]string{"on": "yes"}}

	spec, err := c.GetMetricSpec(ctx(t), ref)
	if err != nil || len(spec.MetricSpecs) != 1 || spec.MetricSpecs[0].MetricName != "jobs" || spec.MetricSpecs[0].TargetSizeFloat != 2.5 || spec.MetricSpecs[0].TargetSize != 0 {
		t.Fatalf("GetMetricSpec = %v, %v", spec, err)
	}
	spec, err = c.GetMetricSpec(ctx(t), &pb.ScaledObjectRef{ScalerMetadata: map[string]string{"per": "4"}})
	if err != nil || spec.MetricSpecs[0].TargetSizeFloat != 4 || spec.MetricSpecs[0].TargetSize != 4 {
		t.Fatalf("GetMetricSpec with per=4 = %v, %v", spec, err)
	}
	if _, err := c.GetMetricSpec(ctx(t), &pb.ScaledObjectRef{ScalerMetadata: map[string]string{"per": "0"}}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("GetMetricSpec with per=0: %v, want InvalidArgument", err)
	}
	m, err := c.GetMetrics(ctx(t), &pb.GetMetricsRequest{ScaledObjectRef: ref, MetricName: "jobs"})
	if err != nil || len(m.MetricValues) != 1 || m.MetricValues[0].MetricValueFloat != 7 || m.MetricValues[0].MetricValue != 7 {
		t.Fatalf("GetMetrics = %v, %v", m, err)
	}
	if _, err := c.GetMetrics(ctx(t), &pb.GetMetricsRequest{ScaledObjectRef: ref, MetricName: "other"}); status.Code(err) != codes.NotFound {
		t.Errorf("GetMetrics of another metric: %v, want NotFound", err)
	}
	if a, err := c.IsActive(ctx(t), ref); err != nil || !a.Result {
		t.Fatalf("IsActive = %v, %v", a, err)
	}
}

// A stream sends the first state, then each change; Wake makes it read at
// once, and send when active.
func TestAStreamSendsChangesAndWakes(t *testing.T) {
	var active atomic.Bool
	srv := externalscaler.New(func(context.Context, externalscaler.Ref) (externalscaler.Sample, error) {
		return externalscaler.Sample{Active: active.Load()}, nil
	}, externalscaler.Options{StreamEvery: time.Hour})
	c := client(t, srv)
	st, err := c.StreamIsActive(ctx(t), &pb.ScaledObjectRef{})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := st.Recv(); err != nil || r.Result {
		t.Fatalf("first message = %v, %v; want inactive", r, err)
	}
	active.Store(true)
	srv.Wake() // the hour-long tick would not come in time
	if r, err := st.Recv(); err != nil || !r.Result {
		t.Fatalf("after Wake = %v, %v; want active", r, err)
	}
	srv.Wake() // unchanged, but active: sent again
	if r, err := st.Recv(); err != nil || !r.Result {
		t.Fatalf("after a second Wake = %v, %v; want active", r, err)
	}
}
