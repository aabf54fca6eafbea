// SPDX-License-Identifier: Apache-2.0

package controller

import (
	"errors"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/ebbscale/ebb/scalers"
)

// ReasonScalerPanicked is the reason of the Warning Event recorded when a
// trigger's scaler panicked: the panic was recovered and the read failed.
const ReasonScalerPanicked = "ScalerPanicked"

// panicReportEvery is how often one trigger's panics are logged (with their
// stack) and recorded as an Event; ebb_scaler_panics_total counts them all.
// A source that makes its scaler panic on every probe (once a second at zero
// replicas) must not flood the log or the API server.
const panicReportEvery = time.Minute

// panicReport reports the recovered panics of one trigger's scaler: a
// Warning Event on the object, the stack in the operator log at error level,
// and ebb_scaler_panics_total. Nothing it writes holds bytes from the source:
// the Event names the trigger; the log line has the panic's type (or a
// runtime error's own words) and the stack. A nil *panicReport reports
// nothing.
type panicReport struct {
	object  runtime.Object
	events  record.EventRecorder
	log     logr.Logger
	metrics *Metrics
	clock   clock.PassiveClock
	trigger string
	typ     string

	mu         sync.Mutex
	reportedAt time.Time
}

// readScaler runs one read (or probe) of a scaler, turning a panic into the
// read's error (*scalers.PanicError), and reports a panic whether it was
// recovered here or by the scaler (in a goroutine of its own).
func (p *panicReport) readScaler(read func() (scalers.Reading, error)) (scalers.Reading, error) {
	r, err := scalers.GuardRead(read)
	var pe *scalers.PanicError
	if errors.As(err, &pe) {
		p.report(pe)
	}
	return r, err
}

func (p *panicReport) report(pe *scalers.PanicError) {
	if p == nil {
		return
	}
	p.metrics.panicked(p.typ)
	now := p.clock.Now()
	p.mu.Lock()
	due := p.reportedAt.IsZero() || now.Sub(p.reportedAt) >= panicReportEvery
	if due {
		p.reportedAt = now
	}
	p.mu.Unlock()
	if !due {
		return
	}
	p.log.Error(scalers.ErrPanicked, "A trigger's scaler panicked; the panic was recovered and the read failed",
		"trigger", p.trigger, "type", p.typ, "panic", pe.Value, "stack", string(pe.Stack))
	if p.events != nil && p.object != nil {
		p.events.Eventf(p.object, corev1.EventTypeWarning, ReasonScalerPanicked,
			"trigger %q (%s): the scaler panicked reading its source; the read failed and the panic was recovered (the operator log has the stack)", p.trigger, p.typ)
	}
}
