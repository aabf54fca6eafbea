// SPDX-License-Identifier: Apache-2.0

package e2e_test

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/tests/operatorproc"
)

const (
	operatorNamespace = operatorproc.Namespace
	adapterService    = operatorproc.AdapterService
	apiServiceName    = "v1beta1.external.metrics.k8s.io"
)

// apiServiceState is the APIService's Available condition and caBundle.
func apiServiceState(ctx context.Context, c client.Client) (available bool, reason string, caBundle string, err error) {
	api := &unstructured.Unstructured{}
	api.SetAPIVersion("apiregistration.k8s.io/v1")
	api.SetKind("APIService")
	if err := c.Get(ctx, client.ObjectKey{Name: apiServiceName}, api); err != nil {
		return false, "", "", err
	}
	caBundle, _, _ = unstructured.NestedString(api.Object, "spec", "caBundle")
	conds, _, _ := unstructured.NestedSlice(api.Object, "status", "conditions")
	for _, ci := range conds {
		cm, _ := ci.(map[string]any)
		if cm["type"] == "Available" {
			msg, _ := cm["message"].(string)
			return cm["status"] == "True", fmt.Sprint(cm["reason"], ": ", msg), caBundle, nil
		}
	}
	return false, "no Available condition", caBundle, nil
}
