// SPDX-License-Identifier: Apache-2.0

package demo

import (
	"context"
	"time"

	"github.com/go-logr/logr"

	"github.com/ebbscale/ebb/internal/localcluster"
	"github.com/ebbscale/ebb/scalers"
)

// Operator is Ebb's operator running in this process, as the demo runs it:
// the controller, the scale loop and the metrics adapter behind the API
// server's aggregator. Other commands' tests use it to run Ebb for real.
type Operator struct{ op *operator }

// StartOperator starts the operator against cp (which needs the
// aggregator) with the trigger types of reg, and registers its adapter as
// v1beta1.external.metrics.k8s.io. Stop it with Stop.
func StartOperator(cp *localcluster.ControlPlane, reg *scalers.Registry, log logr.Logger) (*Operator, error) {
	op, err := startOperatorWith(cp, cp.Scheme, log, reg)
	if err != nil {
		return nil, err
	}
	return &Operator{op: op}, nil
}

// WaitAvailable waits until the API server reaches the adapter.
func (o *Operator) WaitAvailable(ctx context.Context, cp *localcluster.ControlPlane, timeout time.Duration) error {
	return o.op.waitAvailable(ctx, cp, timeout)
}

// Stop stops the operator and waits for it.
func (o *Operator) Stop() error { return o.op.stop() }
