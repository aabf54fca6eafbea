// SPDX-License-Identifier: Apache-2.0

package controller

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/scalers"
)

// leakyScaler fails with an error that carries a URL with a password, as a
// scaler that forgot to redact would.
type leakyScaler struct{}

func (leakyScaler) Metric() scalers.MetricSpec {
	return scalers.MetricSpec{Name: "s0-test", Target: 1, Type: v1alpha1.MetricTypeAverageValue}
}
func (leakyScaler) Read(context.Context) (scalers.Reading, error) {
	return scalers.Reading{}, errors.New("dial amqp://orders:s3cret@broker:5672/: connection refused")
}
func (leakyScaler) Close() error { return nil }

// The text of a read error reaches the HPA (through the adapter) and the
// ScaledObject's status; URL user information never does, even from a
// scaler that let it through.
func TestReadErrorsShownOutsideLoseURLUserInformation(t *testing.T) {
	so := &v1alpha1.ScaledObject{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "orders"}}
	l := &ScaleLoop{}
	l.Upsert(ObjectState{Object: so, Triggers: []LoopTrigger{{Name: "q", Type: "test", Scaler: leakyScaler{}}}})

	_, err := l.ExternalMetric(t.Context(), MetricRef{Namespace: "ns", ScaledObject: "orders", Metric: "s0-test"})
	if err == nil || !errors.Is(err, ErrMetricUnavailable) {
		t.Fatalf("ExternalMetric = %v, want ErrMetricUnavailable", err)
	}
	if strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("adapter error %q: want the cause without the password", err)
	}

	o := l.object(types.NamespacedName{Namespace: so.Namespace, Name: so.Name})
	st := o.loopStatus(Decision{}, 0, time.Now()).Triggers
	if len(st) != 1 || st[0].LastError == "" || strings.Contains(st[0].LastError, "s3cret") {
		t.Errorf("status triggers %+v: want a last error without the password", st)
	}
}

func TestSanitizeBoundsAndCleansText(t *testing.T) {
	for _, tc := range []struct {
		sentence, in string
		n            int
		want         string
	}{
		{"URL user information is redacted", "dial amqp://u:p@h/: refused", 100, "dial amqp://" + scalers.Redacted + "@h/: refused"},
		{"control characters become spaces", "a\x1b[31mb\nc", 100, "a [31mb c"},
		{"invalid UTF-8 is replaced", "a\xffb", 100, "a\uFFFDb"},
		{"long text is cut at a character boundary and marked", "ééé", 3, "é…"},
		{"short text is kept", "ok", 2, "ok"},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			if got := sanitize(tc.in, tc.n); got != tc.want {
				t.Errorf("sanitize(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
			}
		})
	}
}
