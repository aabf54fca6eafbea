// SPDX-License-Identifier: Apache-2.0

package controller_test

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/controller"
)

// The broker's URL is in a Secret the target's container reads as the
// variable AMQP_URL; the triggers take it from there.
const amqpURLVar = "AMQP_URL"

// workerTemplate is a pod template whose container "worker" has AMQP_URL
// from the Secret name.
func workerTemplate(labels map[string]string, secret string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "worker", Image: "example.invalid/worker:1",
			Env: []corev1.EnvVar{{Name: amqpURLVar, ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: "url"},
			}}},
		}}},
	}
}

// urlSecret creates the Secret holding the broker's URL.
func (e *env) urlSecret(name string) {
	e.t.Helper()
	e.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns}, StringData: map[string]string{"url": rabbitURL}})
}

// fromEnvTrigger reads queue with the host from the target's AMQP_URL.
func fromEnvTrigger(queue string) v1alpha1.Trigger {
	return v1alpha1.Trigger{Type: "rabbitmq", Name: "queue", Metadata: map[string]string{"hostFromEnv": amqpURLVar, "queueName": queue, "value": "1"}}
}

// authEnvTrigger reads queue with the host from a TriggerAuthentication's
// env, which it creates.
func (e *env) authEnvTrigger(queue, auth string) v1alpha1.Trigger {
	e.t.Helper()
	e.create(&v1alpha1.TriggerAuthentication{
		ObjectMeta: metav1.ObjectMeta{Name: auth, Namespace: e.ns},
		Spec:       v1alpha1.TriggerAuthenticationSpec{Env: []v1alpha1.EnvRef{{Parameter: "host", Name: amqpURLVar, ContainerName: "worker"}}},
	})
	return v1alpha1.Trigger{Type: "rabbitmq", Name: "queue", Metadata: map[string]string{"queueName": queue, "value": "1"},
		AuthenticationRef: &v1alpha1.AuthenticationRef{Name: auth}}
}

// Under the chart's RBAC (the operator's identity in every test of this
// package), a `...FromEnv` key and a TriggerAuthentication's env read the
// target's pod template: of a Deployment and of a StatefulSet. Each
// ScaledObject becomes Ready and its first message brings the first
// replica, which proves the trigger reached the broker the variable names.
func TestFromEnvAndAuthEnvWorkUnderTheChartsRBAC(t *testing.T) {
	e := newEnv(t, false)
	mq := newRabbit(t)
	e.urlSecret("broker")
	e.startOperator("", 0)

	labels := map[string]string{"app": "deploy-worker"}
	e.create(&appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "deploy-worker", Namespace: e.ns},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](0), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: workerTemplate(labels, "broker")},
	})
	stsLabels := map[string]string{"app": "sts-worker"}
	e.create(&appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "sts-worker", Namespace: e.ns},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](0), Selector: &metav1.LabelSelector{MatchLabels: stsLabels},
			Template: workerTemplate(stsLabels, "broker")},
	})

	q1, q2 := mq.queue(), mq.queue()
	e.create(e.scaledObject("from-env", "deploy-worker", fromEnvTrigger(q1)))
	sts := e.scaledObject("auth-env", "sts-worker", e.authEnvTrigger(q2, "broker-from-env"))
	sts.Spec.ScaleTargetRef.Kind = "StatefulSet"
	e.create(sts)

	for _, name := range []string{"from-env", "auth-env"} {
		e.waitCondition(name, v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonReady, 60*time.Second)
	}
	mq.publish(q1, 1)
	mq.publish(q2, 1)
	e.waitReplicas("deploy-worker", 1, 60*time.Second)
	e.waitFor(60*time.Second, "sts-worker to have 1 replica", func() (bool, error) {
		var s appsv1.StatefulSet
		err := e.c.Get(e.t.Context(), client.ObjectKey{Namespace: e.ns, Name: "sts-worker"}, &s)
		return err == nil && ptr.Deref(s.Spec.Replicas, 0) == 1, err
	})
}

// A target of a custom kind (here a stand-in for, say, an Argo Rollout)
// needs get on that kind, which the chart grants only through
// rbac.envSourceResources. Without it the ScaledObject is not Ready and the
// message says what the operator lacks and which value grants it, without
// the API server's text; with it the trigger works.
func TestACustomTargetKindNeedsTheEnvSourceResourcesValue(t *testing.T) {
	e := newEnv(t, false)
	mq := newRabbit(t)
	e.urlSecret("broker")
	gvk := e.workerCRD()

	w := &unstructured.Unstructured{}
	w.SetGroupVersionKind(gvk)
	w.SetName("rollout-worker")
	w.SetNamespace(e.ns)
	pt := workerTemplate(map[string]string{"app": "rollout-worker"}, "broker")
	tmpl, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&pt)
	if err != nil {
		t.Fatal(err)
	}
	if err := unstructured.SetNestedField(w.Object, map[string]any{"replicas": int64(0), "template": tmpl}, "spec"); err != nil {
		t.Fatal(err)
	}
	e.create(w)
	q := mq.queue()
	so := e.scaledObject("custom", "rollout-worker", fromEnvTrigger(q))
	so.Spec.ScaleTargetRef.APIVersion = gvk.GroupVersion().String()
	so.Spec.ScaleTargetRef.Kind = gvk.Kind
	e.create(so)

	// The chart's defaults: no get on workers.<group>.
	op := e.startOperator("", 0)
	got := e.waitCondition("custom", v1alpha1.ConditionReady, metav1.ConditionFalse, controller.ReasonScalerError, 60*time.Second)
	msg := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady).Message
	for _, want := range []string{"may not get workers." + gvk.Group, "rbac.envSourceResources"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Ready message %q does not say %q", msg, want)
		}
	}
	if strings.Contains(msg, "system:serviceaccount") || strings.Contains(msg, "forbidden") {
		t.Errorf("Ready message %q carries the API server's text", msg)
	}
	op.stop(t)

	// The value grants get on the kind, and nothing else.
	e.chartValues = map[string]any{"rbac": map[string]any{"envSourceResources": []any{
		map[string]any{"apiGroup": gvk.Group, "resources": []any{"workers"}},
	}}}
	e.startOperator("", 0)
	e.waitCondition("custom", v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonReady, 60*time.Second)
	mq.publish(q, 1)
	e.waitFor(60*time.Second, "the custom target to have 1 replica", func() (bool, error) {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		if err := e.c.Get(e.t.Context(), client.ObjectKey{Namespace: e.ns, Name: "rollout-worker"}, u); err != nil {
			return false, err
		}
		n, _, _ := unstructured.NestedInt64(u.Object, "spec", "replicas")
		return n == 1, nil
	})
}

// workerCRD installs a namespaced kind Worker, in a group of this test's
// own, with a pod template and a /scale subresource, and removes it when
// the test ends.
func (e *env) workerCRD() schema.GroupVersionKind {
	t := e.t
	t.Helper()
	group := e.ns + ".example.ebb.dev"
	open := true
	crd := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "workers." + group},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: group, Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Kind: "Worker", Plural: "workers", Singular: "worker", ListKind: "WorkerList"},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: &open}},
				Subresources: &apiextensionsv1.CustomResourceSubresources{
					Status: &apiextensionsv1.CustomResourceSubresourceStatus{},
					Scale:  &apiextensionsv1.CustomResourceSubresourceScale{SpecReplicasPath: ".spec.replicas", StatusReplicasPath: ".status.replicas"},
				},
			}},
		},
	}
	if err := e.c.Create(t.Context(), crd); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.c.Delete(context.Background(), crd) })
	e.waitFor(30*time.Second, "the Worker CRD to be established", func() (bool, error) {
		var got apiextensionsv1.CustomResourceDefinition
		if err := e.c.Get(t.Context(), client.ObjectKey{Name: crd.Name}, &got); err != nil {
			return false, err
		}
		for _, c := range got.Status.Conditions {
			if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	return schema.GroupVersionKind{Group: group, Version: "v1", Kind: "Worker"}
}
