// SPDX-License-Identifier: Apache-2.0

package controller_test

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
)

// sharedCTA makes a ClusterTriggerAuthentication whose password ("guest",
// RabbitMQ's) comes from a Secret in the operator's namespace op.
func sharedCTA(t *testing.T, op *env, name string, spec v1alpha1.ClusterTriggerAuthenticationSpec) *v1alpha1.ClusterTriggerAuthentication {
	t.Helper()
	op.passwordSecret(name, "guest")
	spec.SecretTargetRef = []v1alpha1.KeyRef{{Parameter: "password", Name: name, Key: "password"}}
	cta := &v1alpha1.ClusterTriggerAuthentication{ObjectMeta: metav1.ObjectMeta{Name: name + "-" + op.ns}, Spec: spec}
	op.create(cta)
	t.Cleanup(func() { _ = op.c.Delete(context.Background(), cta) })
	return cta
}

func withCTA(tr v1alpha1.Trigger, name string) v1alpha1.Trigger {
	tr.AuthenticationRef = &v1alpha1.AuthenticationRef{Kind: "ClusterTriggerAuthentication", Name: name}
	return tr
}

func updateCTA(t *testing.T, c client.Client, name string, mutate func(*v1alpha1.ClusterTriggerAuthenticationSpec)) {
	t.Helper()
	var cta v1alpha1.ClusterTriggerAuthentication
	if err := c.Get(t.Context(), client.ObjectKey{Name: name}, &cta); err != nil {
		t.Fatal(err)
	}
	mutate(&cta.Spec)
	if err := c.Update(t.Context(), &cta); err != nil {
		t.Fatal(err)
	}
}

// Two tenants, one ClusterTriggerAuthentication that selects tenant A's
// namespace by its labels (the operator GETs the Namespace under the
// chart's RBAC). A's ScaledObject is admitted and scales on the shared
// credentials; B's is refused at admission on
// spec.triggers[0].authenticationRef (a ScaledJob too). When the administrator then moves the
// selector to B, A's trigger fails: Ready=False and an Event that name the
// ClusterTriggerAuthentication, its scalers (and the credentials they hold)
// let go, the target not dropped to zero, and no credential echoed.
func TestAClusterTriggerAuthenticationServesOnlyTheNamespacesItAllows(t *testing.T) {
	op := newEnv(t, false)
	a := newEnv(t, false)
	b := newEnv(t, false)
	mq := newRabbit(t)
	cta := sharedCTA(t, op, "shared", v1alpha1.ClusterTriggerAuthenticationSpec{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"ebb-test": a.ns}},
	})
	loop := op.installWebhookFor(a, b)

	q := mq.queue()
	mq.publish(q, 1)
	trig := withCTA(rabbitTrigger("amqp://guest@127.0.0.1:5672/", q, "1"), cta.Name)

	// Tenant B: refused at admission.
	b.deployment("worker", 0)
	err := b.c.Create(t.Context(), b.scaledObject("thief", "worker", trig))
	if err == nil {
		t.Fatal("tenant B's ScaledObject naming tenant A's ClusterTriggerAuthentication was admitted")
	}
	for _, want := range []string{"spec.triggers[0].authenticationRef", "ClusterTriggerAuthentication " + cta.Name, "does not allow namespace " + b.ns} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}

	// The same for a ScaledJob.
	err = b.c.Create(t.Context(), b.scaledJob("thief-job", trig))
	if err == nil || !strings.Contains(err.Error(), "spec.triggers[0].authenticationRef") || !strings.Contains(err.Error(), "does not allow namespace "+b.ns) {
		t.Errorf("tenant B's ScaledJob: %v; want a refusal on spec.triggers[0].authenticationRef", err)
	}

	// Tenant A: admitted, and the shared credentials read the queue.
	a.deployment("worker", 0)
	a.create(a.scaledObject("orders", "worker", trig))
	a.waitReplicas("worker", 1, 60*time.Second)

	// The administrator takes the ClusterTriggerAuthentication from A.
	updateCTA(t, op.c, cta.Name, func(s *v1alpha1.ClusterTriggerAuthenticationSpec) {
		s.NamespaceSelector.MatchLabels = map[string]string{"ebb-test": b.ns}
	})
	so := a.waitCondition("orders", v1alpha1.ConditionReady, metav1.ConditionFalse, "", 90*time.Second)
	ready := readyMessage(so)
	if !strings.Contains(ready, "ClusterTriggerAuthentication "+cta.Name+" does not allow namespace "+a.ns) {
		t.Errorf("Ready message %q does not name the ClusterTriggerAuthentication and the namespace", ready)
	}
	ev := a.waitEvent("orders", "ScalerError")
	if !strings.Contains(ev, "ClusterTriggerAuthentication "+cta.Name) {
		t.Errorf("Event %q does not name the ClusterTriggerAuthentication", ev)
	}
	if loop.Has(types.NamespacedName{Namespace: a.ns, Name: "orders"}) {
		t.Error("the scale loop still holds the trigger built with the revoked credentials")
	}
	if n := a.replicas("worker"); n != 1 {
		t.Errorf("the target went to %d replicas when its trigger lost its credentials; want it held at 1", n)
	}
	for _, m := range []string{ev, ready} {
		if strings.Contains(m, "guest") {
			t.Errorf("a credential is echoed: %q", m)
		}
	}
}

// A ClusterTriggerAuthentication pinned to the broker's address: a trigger
// that names another host is refused at admission on the key, one that names
// the pinned address works, and when the pin later moves elsewhere that
// trigger fails with an error naming the key and the
// ClusterTriggerAuthentication.
func TestAPinnedClusterTriggerAuthenticationSendsItsCredentialsOnlyToItsEndpoints(t *testing.T) {
	op := newEnv(t, false)
	a := newEnv(t, false)
	mq := newRabbit(t)
	cta := sharedCTA(t, op, "pinned", v1alpha1.ClusterTriggerAuthenticationSpec{
		AllowedNamespaces: []string{a.ns},
		AllowedEndpoints:  []string{"127.0.0.1:5672"},
	})
	loop := op.installWebhookFor(a)
	q := mq.queue()
	mq.publish(q, 1)
	a.deployment("worker", 0)

	foreign := withCTA(rabbitTrigger("amqp://guest@localhost:5672/", q, "1"), cta.Name)
	err := a.c.Create(t.Context(), a.scaledObject("elsewhere", "worker", foreign))
	if err == nil {
		t.Fatal("a trigger sending the pinned credentials to a foreign endpoint was admitted")
	}
	for _, want := range []string{"spec.triggers[0].metadata[host]", "ClusterTriggerAuthentication \"" + cta.Name + "\"", "spec.allowedEndpoints"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}

	a.create(a.scaledObject("orders", "worker", withCTA(rabbitTrigger("amqp://guest@127.0.0.1:5672/", q, "1"), cta.Name)))
	a.waitReplicas("worker", 1, 60*time.Second)

	updateCTA(t, op.c, cta.Name, func(s *v1alpha1.ClusterTriggerAuthenticationSpec) {
		s.AllowedEndpoints = []string{"rabbit.example:5672"}
	})
	so := a.waitCondition("orders", v1alpha1.ConditionReady, metav1.ConditionFalse, "", 90*time.Second)
	if m := readyMessage(so); !strings.Contains(m, `key "host"`) || !strings.Contains(m, "spec.allowedEndpoints") {
		t.Errorf("Ready message %q does not name the key and the pin", m)
	}
	if loop.Has(types.NamespacedName{Namespace: a.ns, Name: "orders"}) {
		t.Error("the scale loop still holds the trigger whose endpoint the pin no longer allows")
	}
	if n := a.replicas("worker"); n != 1 {
		t.Errorf("the target went to %d replicas; want it held at 1", n)
	}
}

func readyMessage(so *v1alpha1.ScaledObject) string {
	for _, c := range so.Status.Conditions {
		if c.Type == v1alpha1.ConditionReady {
			return c.Message
		}
	}
	return ""
}
