// SPDX-License-Identifier: Apache-2.0

package externalscaler_test

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/external"
	"github.com/ebbscale/ebb/scalers/external/externalscaler"
)

// A server for jobs waiting in a program's own queue, 10 jobs a replica
// (or what a trigger's jobsPerReplica says), read by an Ebb external
// trigger.
func Example() {
	var waiting atomic.Int64
	waiting.Store(42)
	srv := externalscaler.New(func(ctx context.Context, ref externalscaler.Ref) (externalscaler.Sample, error) {
		n := float64(waiting.Load())
		return externalscaler.Sample{Value: n, Active: n > 0}, nil
	}, externalscaler.Options{MetricName: "jobs", Target: 10, TargetKey: "jobsPerReplica"})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go func() { _ = srv.Serve(l) }()
	defer srv.Stop()

	typ, _ := external.NewTypes()
	sc, err := typ.New(scalers.Trigger{Type: "external", Namespace: "shop", ScaledObject: "worker",
		Metadata: map[string]string{"scalerAddress": l.Addr().String(), "jobsPerReplica": "20"}})
	if err != nil {
		panic(err)
	}
	defer sc.Close()
	r, err := sc.Read(context.Background())
	fmt.Println(r.Value, r.Active, err) // 42 jobs at 20 a replica: 2.1 replicas' worth
	// Output: 2.1 true <nil>
}
