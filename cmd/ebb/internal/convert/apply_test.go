// SPDX-License-Identifier: Apache-2.0

package convert_test

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/cmd/ebb/internal/convert"
	"github.com/ebbscale/ebb/controller"
	"github.com/ebbscale/ebb/tests/controlplane"
)

// Every object the corpus converts to is accepted by a real API server with
// Ebb's CRDs installed (schema, defaults, CEL rules, and strict field
// validation, so no field the CRDs lack), and every converted ScaledObject
// and ScaledJob passes Ebb's admission check (controller.ValidateSpec or
// ValidateJobSpec with the operator's trigger types) — except those the converter reported invalid, which the
// check must refuse.
func TestConvertedObjectsApply(t *testing.T) {
	t.Parallel()
	cp := controlplane.Start(t)
	ctx := t.Context()
	reg := registry(t)
	namespaces := map[string]bool{}
	applied := map[string]int{}
	for name, data := range corpus(t) {
		res := convertFile(t, name, data)
		if len(res.Errors) > 0 {
			continue // bad.yaml: nothing is written
		}
		// The ScaledObjects reported invalid, by namespace/name: converted
		// from KEDA's ScaledObjects or from the HTTP add-on's
		// HTTPScaledObjects, which keep their names.
		invalid := map[string]bool{}
		for _, f := range res.Findings {
			if f.Severity == convert.Invalid && (f.Kind == "ScaledObject" || f.Kind == "HTTPScaledObject" || f.Kind == "ScaledJob") {
				invalid[f.Namespace+"/"+f.Name] = true
			}
		}
		for i, doc := range res.Documents {
			u := &unstructured.Unstructured{}
			if err := sigsyaml.Unmarshal(doc, &u.Object); err != nil {
				t.Fatalf("%s document %d: %v", name, i+1, err)
			}
			if u.GroupVersionKind().GroupVersion() != v1alpha1.GroupVersion {
				continue
			}
			id := fmt.Sprintf("%s output document %d (%s %s/%s)", name, i+1, u.GetKind(), u.GetNamespace(), u.GetName())
			if ns := u.GetNamespace(); ns != "" && !namespaces[ns] {
				if err := cp.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
					t.Fatalf("create namespace %s: %v", ns, err)
				}
				namespaces[ns] = true
			}
			if err := cp.Client.Create(ctx, u, client.FieldValidation(metav1.FieldValidationStrict)); err != nil {
				if apierrors.IsAlreadyExists(err) && u.GetNamespace() == "" {
					// The interceptor's ClusterTriggerAuthentication, which
					// each corpus file with HTTP routes writes alike.
					continue
				}
				t.Errorf("%s: the API server refuses it: %v", id, err)
				continue
			}
			applied[u.GetKind()]++
			var errs field.ErrorList
			switch u.GetKind() {
			case "ScaledObject":
				var so v1alpha1.ScaledObject
				if err := sigsyaml.UnmarshalStrict(doc, &so); err != nil {
					t.Errorf("%s: does not read as Ebb's ScaledObject: %v", id, err)
					continue
				}
				errs = controller.ValidateSpec(reg, &so)
			case "ScaledJob":
				var sj v1alpha1.ScaledJob
				if err := sigsyaml.UnmarshalStrict(doc, &sj); err != nil {
					t.Errorf("%s: does not read as Ebb's ScaledJob: %v", id, err)
					continue
				}
				errs = controller.ValidateJobSpec(reg, &sj)
			default:
				continue
			}
			switch reported := invalid[u.GetNamespace()+"/"+u.GetName()]; {
			case reported && len(errs) == 0:
				t.Errorf("%s: reported invalid, yet Ebb's admission check accepts it", id)
			case !reported && len(errs) > 0:
				t.Errorf("%s: Ebb's admission check refuses it, and the converter did not say so: %v", id, errs.ToAggregate())
			}
		}
	}
	for _, kind := range []string{"ScaledObject", "ScaledJob", "TriggerAuthentication", "ClusterTriggerAuthentication"} {
		if applied[kind] < 2 {
			t.Errorf("the corpus applied %d %ss; it should give at least 2", applied[kind], kind)
		}
	}
	t.Logf("applied: %v", applied)
}
