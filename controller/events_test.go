// SPDX-License-Identifier: Apache-2.0

package controller_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/controller"
	"github.com/ebbscale/ebb/scalers"
)

// foreignReply is what a server a tenant chose might answer: markup,
// terminal escapes and kilobytes of it.
var foreignReply = strings.Repeat("<html>\x1b[31mnot a broker</html>\n", 200)

// leakyType fails to build its scaler with an error that carries a URL with
// a password and a server's whole reply, as a careless scaler might.
type leakyType struct{}

func (leakyType) Name() string                   { return "leaky" }
func (leakyType) Config() any                    { return &struct{}{} }
func (leakyType) Validate(scalers.Trigger) error { return nil }
func (leakyType) New(scalers.Trigger) (scalers.Scaler, error) {
	return nil, errors.New("dial amqp://orders:s3cret@broker:5672/: handshake refused; the server said: " + foreignReply)
}

// An Event shows an error as status does: without URL user information,
// control characters or more than 1 KiB of foreign text.
func TestScalerErrorEventAndStatusAreSanitized(t *testing.T) {
	e := newEnv(t, false)
	e.types = []scalers.Type{leakyType{}}
	e.startOperator("", 0)
	e.deployment("worker", 1)
	e.create(e.scaledObject("leaky", "worker", v1alpha1.Trigger{Type: "leaky", Name: "q", Metadata: map[string]string{"x": "1"}}))

	so := e.waitCondition("leaky", v1alpha1.ConditionReady, metav1.ConditionFalse, controller.ReasonScalerError, 30*time.Second)
	event := e.waitEvent("leaky", controller.ReasonScalerError)
	for what, text := range map[string]string{
		"the Ready condition's message": meta.FindStatusCondition(so.Status.Conditions, v1alpha1.ConditionReady).Message,
		"the ScalerError Event":         strings.TrimPrefix(event, controller.ReasonScalerError+": "),
	} {
		switch {
		case strings.Contains(text, "s3cret") || strings.Contains(text, "orders:"):
			t.Errorf("%s shows the URL's user information: %.120q", what, text)
		case strings.ContainsAny(text, "\x1b\n"):
			t.Errorf("%s carries control characters: %.120q", what, text)
		case len(text) > 1024+len("…"):
			t.Errorf("%s is %d bytes long, want at most 1 KiB", what, len(text))
		case !strings.Contains(text, "handshake refused"):
			t.Errorf("%s lost the cause: %.120q", what, text)
		}
	}
}
