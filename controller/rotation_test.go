// SPDX-License-Identifier: Apache-2.0

package controller_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/controller"
	"github.com/ebbscale/ebb/scalers"
)

// Credentials rotate without anyone touching the ScaledObject: a corrected
// Secret, a TriggerAuthentication pointed elsewhere, a Secret deleted and
// made again. The broker is the real RabbitMQ on 127.0.0.1:5672 (guest /
// guest); the operator runs under the chart's RBAC, which lets it GET
// Secrets but never list or watch them.

// rotationInterval is the tests' polling interval: the promise is that a
// rotation reaches the trigger within one.
const rotationInterval = 10 * time.Second

// wrongPassword is a value no message may show.
const wrongPassword = "not-the-guest-password-7f3a"

// passwordSecret creates (or replaces the data of) a Secret with the
// password in key "password".
func (e *env) passwordSecret(name, password string) {
	e.t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns}}
	err := e.c.Get(e.t.Context(), client.ObjectKeyFromObject(s), s)
	if isNotFound(err) {
		s.StringData = map[string]string{"password": password}
		e.create(s)
		return
	}
	if err != nil {
		e.t.Fatal(err)
	}
	s.Data = map[string][]byte{"password": []byte(password)}
	if err := e.c.Update(e.t.Context(), s); err != nil {
		e.t.Fatal(err)
	}
}

// passwordAuth creates a TriggerAuthentication that takes the password
// from the Secret secret and the user name from the ConfigMap "rabbit-user".
func (e *env) passwordAuth(name, secret string) {
	e.t.Helper()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "rabbit-user", Namespace: e.ns}, Data: map[string]string{"user": "guest"}}
	if err := e.c.Create(e.t.Context(), cm); err != nil && !strings.Contains(err.Error(), "already exists") {
		e.t.Fatal(err)
	}
	e.create(&v1alpha1.TriggerAuthentication{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns},
		Spec: v1alpha1.TriggerAuthenticationSpec{
			SecretTargetRef:    []v1alpha1.KeyRef{{Parameter: "password", Name: secret, Key: "password"}},
			ConfigMapTargetRef: []v1alpha1.KeyRef{{Parameter: "username", Name: "rabbit-user", Key: "user"}},
		},
	})
}

// passwordScaledObject scales target on queue with the user name and
// password from the TriggerAuthentication auth, polling every
// rotationInterval, with a cooldown of one second.
func (e *env) passwordScaledObject(name, target, queue, auth string) {
	e.t.Helper()
	trig := rabbitTrigger("amqp://127.0.0.1:5672/", queue, "1")
	trig.AuthenticationRef = &v1alpha1.AuthenticationRef{Name: auth}
	so := e.scaledObject(name, target, trig)
	so.Spec.PollingInterval = ptr.To(int32(rotationInterval / time.Second))
	so.Spec.CooldownPeriod = ptr.To[int32](1)
	e.create(so)
}

// triggerStatus is the ScaledObject's first trigger's status, if written.
func (e *env) triggerStatus(name string) (v1alpha1.TriggerStatus, bool) {
	e.t.Helper()
	so := e.get(name)
	if len(so.Status.Triggers) == 0 {
		return v1alpha1.TriggerStatus{}, false
	}
	return so.Status.Triggers[0], true
}

// waitFailing waits until the ScaledObject's trigger has failed at least
// n reads in a row, and returns its status.
func (e *env) waitFailing(name string, n int32) v1alpha1.TriggerStatus {
	e.t.Helper()
	var ts v1alpha1.TriggerStatus
	e.waitFor(90*time.Second, name+"'s trigger to fail", func() (bool, error) {
		var ok bool
		ts, ok = e.triggerStatus(name)
		return ok && ts.ConsecutiveFailures >= n && ts.LastError != "", nil
	})
	return ts
}

// A wrong password in the Secret a TriggerAuthentication names, then
// corrected: the trigger reads the queue, and its message brings the first
// replica, within one polling interval of the Secret's update, with no
// change to the ScaledObject. No message shows the wrong password.
func TestACorrectedSecretReachesTheTriggerWithinOnePollingInterval(t *testing.T) {
	e := newEnv(t, false)
	mq := newRabbit(t)
	e.startOperator("", 0)
	q := mq.queue()
	mq.publish(q, 1)
	e.deployment("worker", 0)
	e.passwordSecret("rabbit-password", wrongPassword)
	e.passwordAuth("rabbit", "rabbit-password")
	e.passwordScaledObject("rotated", "worker", q, "rabbit")

	failed := e.waitFailing("rotated", 2)
	if strings.Contains(failed.LastError, wrongPassword) {
		t.Errorf("lastError %q shows the password", failed.LastError)
	}
	generation := e.get("rotated").Generation

	updated := time.Now()
	e.passwordSecret("rabbit-password", "guest")
	took := e.waitReplicas("worker", 1, 3*rotationInterval)
	t.Logf("corrected Secret → first replica: %s (polling interval %s)", took.Round(10*time.Millisecond), rotationInterval)
	if took > rotationInterval {
		t.Errorf("the corrected Secret took %s to reach the trigger, more than one polling interval (%s)", took, rotationInterval)
	}
	e.waitFor(30*time.Second, "the trigger's status to be healthy", func() (bool, error) {
		ts, ok := e.triggerStatus("rotated")
		return ok && ts.ConsecutiveFailures == 0 && ts.LastError == "" && ts.LastReadTime != nil && !ts.LastReadTime.Time.Before(updated.Truncate(time.Second)), nil
	})
	if g := e.get("rotated").Generation; g != generation {
		t.Errorf("the ScaledObject's generation went from %d to %d", generation, g)
	}
	for _, ev := range e.events("rotated") {
		if strings.Contains(ev, wrongPassword) {
			t.Errorf("event %q shows the password", ev)
		}
	}
}

// A TriggerAuthentication pointed from a Secret with a wrong password to
// one with the right one: its triggers use the new Secret within one
// polling interval (the operator watches TriggerAuthentications, not
// Secrets).
func TestAChangedTriggerAuthenticationReachesTheTrigger(t *testing.T) {
	e := newEnv(t, false)
	mq := newRabbit(t)
	e.startOperator("", 0)
	q := mq.queue()
	mq.publish(q, 1)
	e.deployment("worker", 0)
	e.passwordSecret("old-password", wrongPassword)
	e.passwordSecret("new-password", "guest")
	e.passwordAuth("rabbit", "old-password")
	e.passwordScaledObject("rotated", "worker", q, "rabbit")
	e.waitFailing("rotated", 1)

	var ta v1alpha1.TriggerAuthentication
	if err := e.c.Get(t.Context(), client.ObjectKey{Namespace: e.ns, Name: "rabbit"}, &ta); err != nil {
		t.Fatal(err)
	}
	ta.Spec.SecretTargetRef[0].Name = "new-password"
	if err := e.c.Update(t.Context(), &ta); err != nil {
		t.Fatal(err)
	}
	took := e.waitReplicas("worker", 1, 3*rotationInterval)
	t.Logf("changed TriggerAuthentication → first replica: %s (polling interval %s)", took.Round(10*time.Millisecond), rotationInterval)
	if took > rotationInterval {
		t.Errorf("the changed TriggerAuthentication took %s to reach the trigger, more than one polling interval (%s)", took, rotationInterval)
	}
}

// The Secret of a working trigger deleted: an AuthError Event names the
// Secret and its key (no value), the trigger reads as failing (unknown:
// the target, its queue emptied meanwhile, is not scaled to zero), and the
// ScaledObject stays Ready with its HPA. The Secret made again: the trigger
// reads the empty queue and the target goes to zero.
func TestADeletedSecretIsAnErrorNotAZero(t *testing.T) {
	e := newEnv(t, false)
	mq := newRabbit(t)
	e.startOperator("", 0)
	q := mq.queue()
	mq.publish(q, 1)
	e.deployment("worker", 0)
	e.passwordSecret("rabbit-password", "guest")
	e.passwordAuth("rabbit", "rabbit-password")
	e.passwordScaledObject("rotated", "worker", q, "rabbit")
	e.waitReplicas("worker", 1, 60*time.Second)

	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "rabbit-password", Namespace: e.ns}}
	if err := e.c.Delete(t.Context(), secret); err != nil {
		t.Fatal(err)
	}
	ev := e.waitEvent("rotated", controller.ReasonAuthError)
	mq.purge(q)
	before, _ := e.triggerStatus("rotated")
	for _, want := range []string{"Secret " + e.ns + "/rabbit-password", `key "password"`, "not found"} {
		if !strings.Contains(ev, want) {
			t.Errorf("event %q does not say %q", ev, want)
		}
	}
	if strings.Contains(ev, "guest") {
		t.Errorf("event %q shows a credential", ev)
	}
	ts := e.waitFailing("rotated", before.ConsecutiveFailures+2)
	if !strings.Contains(ts.LastError, "rabbit-password") {
		t.Errorf("the trigger's lastError %q does not name the Secret", ts.LastError)
	}
	so := e.get("rotated")
	if c := meta.FindStatusCondition(so.Status.Conditions, v1alpha1.ConditionActive); c == nil || c.Status != metav1.ConditionUnknown {
		t.Errorf("Active condition %+v, want Unknown", c)
	}
	if c := meta.FindStatusCondition(so.Status.Conditions, v1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Ready condition %+v, want True", c)
	}
	if _, err := e.hpa(so.HPAName()); err != nil {
		t.Errorf("the HPA: %v", err)
	}
	// Two failed reads since the queue was emptied, past a one-second
	// cooldown: a zero would have scaled the target down.
	if n := e.replicas("worker"); n != 1 {
		t.Errorf("the target has %d replicas with its trigger unknown, want 1", n)
	}

	e.passwordSecret("rabbit-password", "guest")
	took := e.waitReplicas("worker", 0, 3*rotationInterval)
	t.Logf("Secret made again → trigger read, target at zero: %s", took.Round(10*time.Millisecond))
}

// The same for a ScaledJob: a wrong password, then corrected in the
// Secret; the job loop creates a Job for the waiting message within one
// polling interval of the update.
func TestACorrectedSecretReachesAScaledJobsTrigger(t *testing.T) {
	e := newEnv(t, false)
	mq := newRabbit(t)
	e.startOperator("", 0)
	q := mq.queue()
	mq.publish(q, 1)
	e.passwordSecret("rabbit-password", wrongPassword)
	e.passwordAuth("rabbit", "rabbit-password")
	trig := rabbitTrigger("amqp://127.0.0.1:5672/", q, "1")
	trig.AuthenticationRef = &v1alpha1.AuthenticationRef{Name: "rabbit"}
	sj := e.scaledJob("batch", trig)
	sj.Spec.PollingInterval = ptr.To(int32(rotationInterval / time.Second))
	e.create(sj)
	e.waitFor(90*time.Second, "the ScaledJob's trigger to fail", func() (bool, error) {
		st := e.getJob("batch").Status
		return len(st.Triggers) == 1 && st.Triggers[0].ConsecutiveFailures >= 2, nil
	})
	if n := len(e.jobsOf("batch")); n != 0 {
		t.Fatalf("%d Jobs with the trigger failing", n)
	}

	updated := time.Now()
	e.passwordSecret("rabbit-password", "guest")
	e.waitFor(3*rotationInterval, "a Job", func() (bool, error) { return len(e.jobsOf("batch")) == 1, nil })
	took := time.Since(updated)
	t.Logf("corrected Secret → first Job: %s (polling interval %s)", took.Round(10*time.Millisecond), rotationInterval)
	if took > rotationInterval {
		t.Errorf("the corrected Secret took %s to reach the ScaledJob's trigger, more than one polling interval (%s)", took, rotationInterval)
	}
}

// A ClusterTriggerAuthentication (its Secrets in the operator's namespace)
// pointed from a wrong password to the right one: the ScaledObject that
// names it, in another namespace, scales within one polling interval.
func TestAChangedClusterTriggerAuthenticationReachesTheTrigger(t *testing.T) {
	op := newEnv(t, false) // the operator's namespace
	e := newEnv(t, false)  // the ScaledObject's
	mq := newRabbit(t)
	op.passwordSecret("old-password", wrongPassword)
	op.passwordSecret("new-password", "guest")
	cta := &v1alpha1.ClusterTriggerAuthentication{
		ObjectMeta: metav1.ObjectMeta{Name: "rabbit-" + e.ns},
		Spec: v1alpha1.ClusterTriggerAuthenticationSpec{
			TriggerAuthenticationSpec: v1alpha1.TriggerAuthenticationSpec{SecretTargetRef: []v1alpha1.KeyRef{{Parameter: "password", Name: "old-password", Key: "password"}}},
			AllowedNamespaces:         []string{e.ns},
		},
	}
	e.create(cta)
	t.Cleanup(func() { _ = e.c.Delete(context.Background(), cta) })
	op.startOperator("", 0)
	q := mq.queue()
	mq.publish(q, 1)
	e.deployment("worker", 0)
	trig := rabbitTrigger("amqp://guest@127.0.0.1:5672/", q, "1")
	trig.AuthenticationRef = &v1alpha1.AuthenticationRef{Name: cta.Name, Kind: "ClusterTriggerAuthentication"}
	so := e.scaledObject("rotated", "worker", trig)
	so.Spec.PollingInterval = ptr.To(int32(rotationInterval / time.Second))
	e.create(so)
	e.waitFailing("rotated", 1)

	if err := e.c.Get(t.Context(), client.ObjectKeyFromObject(cta), cta); err != nil {
		t.Fatal(err)
	}
	cta.Spec.SecretTargetRef[0].Name = "new-password"
	if err := e.c.Update(t.Context(), cta); err != nil {
		t.Fatal(err)
	}
	took := e.waitReplicas("worker", 1, 3*rotationInterval)
	t.Logf("changed ClusterTriggerAuthentication → first replica: %s (polling interval %s)", took.Round(10*time.Millisecond), rotationInterval)
	if took > rotationInterval {
		t.Errorf("the changed ClusterTriggerAuthentication took %s to reach the trigger, more than one polling interval (%s)", took, rotationInterval)
	}
}

// builds records the password each scaler of the "recorded" type was built
// with.
type builds struct {
	mu  sync.Mutex
	got []string
}

func (b *builds) list() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.got)
}

// recordedType builds scalers that read 0 and records their builds.
type recordedType struct{ b *builds }

func (recordedType) Name() string                   { return "recorded" }
func (recordedType) Config() any                    { return &struct{}{} }
func (recordedType) Validate(scalers.Trigger) error { return nil }
func (r recordedType) New(t scalers.Trigger) (scalers.Scaler, error) {
	r.b.mu.Lock()
	r.b.got = append(r.b.got, t.AuthParams["password"])
	r.b.mu.Unlock()
	return recordedScaler{spec: scalers.MetricSpec{Name: scalers.MetricName(t, "x"), Target: 1}}, nil
}

type recordedScaler struct{ spec scalers.MetricSpec }

func (s recordedScaler) Metric() scalers.MetricSpec                  { return s.spec }
func (recordedScaler) Read(context.Context) (scalers.Reading, error) { return scalers.Reading{}, nil }
func (recordedScaler) Close() error                                  { return nil }

// periodicRefreshes counts the ScaledObject reconciles that asked to be
// run again later, which the periodic resolution of credentials does
// (controller-runtime's reconcile_total, result requeue_after).
func periodicRefreshes(t *testing.T) float64 {
	t.Helper()
	mfs, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["controller"] == "scaledobject" && labels["result"] == "requeue_after" {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// Credentials are resolved again periodically, but a Secret whose value
// did not change rebuilds nothing: through three resolutions (and a change
// to another key of the Secret) the trigger is built once; a changed value
// rebuilds it once.
func TestAnUnchangedSecretRebuildsNothing(t *testing.T) {
	e := newEnv(t, false)
	b := &builds{}
	e.types = []scalers.Type{recordedType{b}}
	e.startOperator("", 0)
	e.deployment("worker", 1)
	e.passwordSecret("rabbit-password", "first")
	e.passwordAuth("rabbit", "rabbit-password")
	so := e.scaledObject("recorded", "worker", v1alpha1.Trigger{Type: "recorded", Name: "x", AuthenticationRef: &v1alpha1.AuthenticationRef{Name: "rabbit"}})
	so.Spec.PollingInterval = ptr.To[int32](5) // resolved again every 3-4 s
	e.create(so)
	e.waitCondition("recorded", v1alpha1.ConditionReady, metav1.ConditionTrue, controller.ReasonReady, 30*time.Second)

	var s corev1.Secret
	if err := e.c.Get(t.Context(), client.ObjectKey{Namespace: e.ns, Name: "rabbit-password"}, &s); err != nil {
		t.Fatal(err)
	}
	s.Data["unrelated"] = []byte("changed")
	if err := e.c.Update(t.Context(), &s); err != nil {
		t.Fatal(err)
	}
	base := periodicRefreshes(t)
	e.waitFor(60*time.Second, "three periodic resolutions", func() (bool, error) { return periodicRefreshes(t) >= base+3, nil })
	if got := b.list(); !slices.Equal(got, []string{"first"}) {
		t.Errorf("builds with passwords %q, want one with the first", got)
	}

	e.passwordSecret("rabbit-password", "second")
	e.waitFor(30*time.Second, "a build with the second password", func() (bool, error) { return len(b.list()) >= 2, nil })
	base = periodicRefreshes(t)
	e.waitFor(60*time.Second, "two more periodic resolutions", func() (bool, error) { return periodicRefreshes(t) >= base+2, nil })
	if got := b.list(); !slices.Equal(got, []string{"first", "second"}) {
		t.Errorf("builds with passwords %q, want the first, then the second once", got)
	}
}

// A replica that does not lead serves the adapter's reads through its own
// scalers: a corrected Secret reaches them too, within one polling
// interval, and it serves the queue's length.
func TestACorrectedSecretReachesTheFollower(t *testing.T) {
	e := newEnv(t, false)
	mq := newRabbit(t)
	a, _ := e.startOperatorWith("", 0, true)
	e.waitFor(30*time.Second, "the first operator to lead", func() (bool, error) { return a.leader(), nil })
	b, follower := e.startOperatorWith("", 0, true)
	q := mq.queue()
	mq.publish(q, 7)
	e.deployment("worker", 1)
	e.passwordSecret("rabbit-password", wrongPassword)
	e.passwordAuth("rabbit", "rabbit-password")
	e.passwordScaledObject("rotated", "worker", q, "rabbit")
	e.waitFailing("rotated", 1)
	metric := controller.MetricRef{Namespace: e.ns, ScaledObject: "rotated", Metric: e.get("rotated").Status.ExternalMetricNames[0]}
	e.waitFor(30*time.Second, "the follower to fail the read", func() (bool, error) {
		_, err := follower.ExternalMetric(t.Context(), metric)
		return err != nil && !strings.Contains(err.Error(), "not found"), nil
	})

	updated := time.Now()
	e.passwordSecret("rabbit-password", "guest")
	e.waitFor(3*rotationInterval, "the follower to serve the queue's length", func() (bool, error) {
		v, err := follower.ExternalMetric(t.Context(), metric)
		return err == nil && v == 7, nil
	})
	took := time.Since(updated)
	t.Logf("corrected Secret → the follower serves the value: %s (polling interval %s)", took.Round(10*time.Millisecond), rotationInterval)
	if took > rotationInterval {
		t.Errorf("the corrected Secret took %s to reach the follower, more than one polling interval (%s)", took, rotationInterval)
	}
	if b.leader() {
		t.Error("both operators lead")
	}
}
