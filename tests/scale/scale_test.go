// SPDX-License-Identifier: Apache-2.0

package scale_test

import (
	"context"
	"testing"
	"time"

	"github.com/ebbscale/ebb/tests/chartrbac"
	"github.com/ebbscale/ebb/tests/controlplane"
	"github.com/ebbscale/ebb/tests/scale"
)

// The smoke test: 50 ScaledObjects on a real API server and RabbitMQ all
// become Ready, each costing at most 2 API requests (DESIGN.md, "Performance
// targets": the HPA's apply and the first status write; the target's count
// comes from the operator's watch of Deployments, not from /scale) and one
// connection to the broker between them. The operator runs under the chart's
// RBAC. The full runs (1,000 and 10,000) are tests/scale/cmd/ebb-scalebench.
func TestFiftyScaledObjectsBecomeReadyCheaply(t *testing.T) {
	cp := controlplane.Start(t)
	pids, _ := controlplane.Processes(cp.Dir)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	res, err := scale.Run(ctx, scale.Options{
		N: 50, Config: cp.Config, Scheme: cp.Scheme, ProcessPIDs: pids,
		OperatorConfig: chartrbac.OperatorConfig(cp, nil),
		Timeout:        3 * time.Minute, Progress: t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("50 ScaledObjects: every HPA after %s, every one Ready after %s (created in %s)",
		res.HPAs.Round(time.Millisecond), res.Ready.Round(time.Millisecond), res.Created.Round(time.Millisecond))
	t.Logf("requests: %.2f per ScaledObject (%s); reconcile passes: %.2f per ScaledObject %v",
		res.RequestsPerObject(), res.Requests.PerObject(res.N), res.ReconcilesPerObject(), res.Reconciles)
	t.Logf("broker: %d pooled connections, %d sockets; memory: %.1f KiB RssAnon and %.1f KiB heap per ScaledObject",
		res.PoolConnections, res.BrokerSockets, res.RSSPerObject()/1024, res.HeapPerObject()/1024)

	if got := res.RequestsPerObject(); got > 2 {
		t.Errorf("%.2f API requests per new ScaledObject, want at most 2: %s", got, res.Requests)
	}
	if n := res.Requests["GET deployments/scale"]; n > 0 {
		t.Errorf("%d GETs of /scale for %d new ScaledObjects on Deployments at rest, want none (the target watch has their counts)", n, res.N)
	}
	if res.PoolConnections > 1 || res.BrokerSockets > 1 {
		t.Errorf("%d pooled connections and %d sockets to the broker for 50 triggers on one broker, want 1", res.PoolConnections, res.BrokerSockets)
	}
}
