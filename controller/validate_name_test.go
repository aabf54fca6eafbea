// SPDX-License-Identifier: Apache-2.0

package controller_test

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/controller"
	"github.com/ebbscale/ebb/scalers"
)

// The webhook (and `ebb explain`) refuse a name that cannot label the HPA or
// the Jobs, even where the CRD's own rule is missing (an old CRD).
func TestValidateRefusesNamesLongerThanALabelValue(t *testing.T) {
	reg, err := scalers.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("n", 64)
	so := &v1alpha1.ScaledObject{ObjectMeta: metav1.ObjectMeta{Name: long, Namespace: "ns"}}
	if errs := controller.ValidateSpec(reg, so); !strings.Contains(errs.ToAggregate().Error(), "metadata.name: Too long") {
		t.Errorf("ScaledObject: %v, want metadata.name too long", errs)
	}
	sj := &v1alpha1.ScaledJob{ObjectMeta: metav1.ObjectMeta{Name: long, Namespace: "ns"}}
	if errs := controller.ValidateJobSpec(reg, sj); !strings.Contains(errs.ToAggregate().Error(), "metadata.name: Too long") {
		t.Errorf("ScaledJob: %v, want metadata.name too long", errs)
	}
	so.Name = long[:63]
	if errs := controller.ValidateSpec(reg, so); errs != nil {
		t.Errorf("a 63-character name: %v", errs)
	}
}
