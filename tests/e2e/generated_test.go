// SPDX-License-Identifier: Apache-2.0

package e2e_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/tests/chartrbac"
	"github.com/ebbscale/ebb/tests/controlplane"
	"github.com/ebbscale/ebb/tests/operatorproc"
)

// What the chart no longer renders, the operator makes at run time (so
// that `helm template` gives the same output every time): the admission
// webhook's serving certificate, whose CA it puts into the webhook
// configuration the chart renders without a caBundle, and the
// interceptor's admin token. The operator runs as a process under the
// chart's RBAC. The API server then trusts the webhook: a bad ScaledObject
// is refused by it. A restart keeps the CA and the token.
func TestTheOperatorMakesTheWebhookCertificateAndTheInterceptorToken(t *testing.T) {
	bin := operatorproc.Build(t, "")
	cp := controlplane.Start(t)
	id := chartrbac.Operator(t, cp, chartrbac.Options{Namespace: operatorproc.Namespace, Values: map[string]any{"interceptor": map[string]any{"enabled": true}}})
	webhookPort := operatorproc.FreePort(t)

	// The chart's webhook configuration, as rendered (no caBundle), with
	// the operator on loopback for its Service.
	url := fmt.Sprintf("https://127.0.0.1:%d/validate-ebb-dev-v1alpha1-scaledobject", webhookPort)
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "ebb-operator"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:                    "scaledobjects.ebb.dev",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url},
			Rules:                   []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{"CREATE", "UPDATE"}, Rule: admissionregistrationv1.Rule{APIGroups: []string{"ebb.dev"}, APIVersions: []string{"v1alpha1"}, Resources: []string{"scaledobjects"}}}},
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
		}},
	}
	if err := cp.Client.Create(t.Context(), vwc); err != nil {
		t.Fatal(err)
	}
	start := func() *operatorproc.Process {
		return operatorproc.Start(t, bin, operatorproc.Options{Kubeconfig: id.Kubeconfig, AdapterPort: operatorproc.FreePort(t), MetricsPort: operatorproc.FreePort(t),
			Args: []string{"--adapter=false", "--webhook=true", "--webhook-host=127.0.0.1", "--webhook-port=" + strconv.Itoa(webhookPort),
				"--interceptor-token-secret=ebb-interceptor-token"}})
	}
	op := start()

	var caBundle []byte
	operatorproc.Eventually(t, op, 60*time.Second, "the webhook configuration's caBundle", func(ctx context.Context) (bool, string) {
		var got admissionregistrationv1.ValidatingWebhookConfiguration
		if err := cp.Client.Get(ctx, client.ObjectKey{Name: "ebb-operator"}, &got); err != nil {
			return false, err.Error()
		}
		caBundle = got.Webhooks[0].ClientConfig.CABundle
		return len(caBundle) > 0, "no caBundle yet"
	})
	if !x509.NewCertPool().AppendCertsFromPEM(caBundle) {
		t.Fatalf("the caBundle %q holds no certificate", caBundle)
	}
	ns := "shop"
	if err := cp.Client.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	refused := func(ctx context.Context) (bool, string) {
		bad := &v1alpha1.ScaledObject{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "bad-", Namespace: ns},
			Spec: v1alpha1.ScaledObjectSpec{ScaleTargetRef: v1alpha1.ScaleTarget{Name: "worker"}, Triggers: []v1alpha1.Trigger{{
				Type: "rabbitmq", Metadata: map[string]string{"host": "amqp://127.0.0.1:1/", "queueName": "q", "value": "not-a-number"}}}},
		}
		err := cp.Client.Create(ctx, bad)
		if err == nil {
			_ = cp.Client.Delete(ctx, bad)
			return false, "a bad ScaledObject was admitted"
		}
		return strings.Contains(err.Error(), "admission webhook") && strings.Contains(err.Error(), "denied"), err.Error()
	}
	operatorproc.Eventually(t, op, 60*time.Second, "the webhook to refuse a bad ScaledObject", refused)

	var token []byte
	operatorproc.Eventually(t, op, 30*time.Second, "the interceptor's token", func(ctx context.Context) (bool, string) {
		var s corev1.Secret
		if err := cp.Client.Get(ctx, client.ObjectKey{Namespace: operatorproc.Namespace, Name: "ebb-interceptor-token"}, &s); err != nil {
			return false, err.Error()
		}
		token = s.Data["token"]
		return len(token) >= 32, fmt.Sprintf("a token of %d bytes", len(token))
	})

	// A restart: the same CA (from its Secret), the same token.
	op.Stop(t)
	op = start()
	operatorproc.Eventually(t, op, 60*time.Second, "the restarted webhook to refuse a bad ScaledObject", refused)
	var got admissionregistrationv1.ValidatingWebhookConfiguration
	if err := cp.Client.Get(t.Context(), client.ObjectKey{Name: "ebb-operator"}, &got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Webhooks[0].ClientConfig.CABundle, caBundle) {
		t.Error("the restarted operator changed the caBundle")
	}
	var s corev1.Secret
	if err := cp.Client.Get(t.Context(), client.ObjectKey{Namespace: operatorproc.Namespace, Name: "ebb-interceptor-token"}, &s); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.Data["token"], token) {
		t.Error("the restarted operator changed the interceptor's token")
	}
}
