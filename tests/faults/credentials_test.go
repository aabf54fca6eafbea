// SPDX-License-Identifier: Apache-2.0

package faults_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/apis/v1alpha1"
	"github.com/ebbscale/ebb/tests/faultproxy"
)

// boundRotation: a changed Secret is in use within one polling interval, at
// most a minute (issue #12); the scenarios poll every second, and the
// periodic re-resolve is clamped to at least 5 s, so this leaves slack.
const boundRotation = 15 * time.Second

// setHost rewrites the broker URL the queue's Secret holds.
func (s *scenario) setHost(q *rabbitQueue, url string) {
	s.t.Helper()
	var sec corev1.Secret
	key := client.ObjectKey{Namespace: s.ns, Name: "rabbitmq-" + q.name}
	if err := s.c.Get(s.t.Context(), key, &sec); err != nil {
		s.t.Fatal(err)
	}
	sec.Data = map[string][]byte{"host": []byte(url)}
	if err := s.c.Update(s.t.Context(), &sec); err != nil {
		s.t.Fatal(err)
	}
}

// Credentials change under a running ScaledObject, which nobody touches:
// a wrong password corrected, a broker address rotated, and the Secret
// deleted while in use and made again.
func TestCredentials(t *testing.T) {
	s := newScenario(t)
	op := s.startOperator()
	s.ready(op)
	baseline := s.goroutines(op)

	t.Run("cases", func(t *testing.T) {
		t.Run("a wrong password corrected in the Secret is used within the bound", func(t *testing.T) {
			t.Parallel()
			s := s.in(t)
			q := newRabbitQueue(t)
			trig := q.trigger(s)
			s.setHost(q, "amqp://guest:wrong-password@"+q.Proxy.Addr()+"/")
			s.deployment("fixed", 0)
			s.create(s.scaledObject("fixed", "fixed", 3, trig))
			w := s.watchReplicas("fixed", 0)
			q.publish(10)
			s.waitStatus("fixed", 30*time.Second, "three failed polls with the wrong password", func(so *v1alpha1.ScaledObject) (bool, string) {
				return failures(so) >= 3, fmt.Sprintf("%d consecutive failures", failures(so))
			})
			if n := w.maxSinceHold(); n != 0 {
				t.Errorf("the target moved to %d replicas while its trigger could not authenticate", n)
			}
			s.setHost(q, "amqp://guest:guest@"+q.Proxy.Addr()+"/")
			d := s.waitReplicas("fixed", 1, boundRotation, "the corrected Secret: the waiting work scales the target from 0 to 1")
			figure(t, "wrong password corrected → first replica", d, boundRotation)
			w.stop()
			q.purge()
			s.release("fixed", q.Proxy)
		})
		t.Run("a broker address rotated in the Secret is read within the bound, and the old one is let go", func(t *testing.T) {
			t.Parallel()
			s := s.in(t)
			q := newRabbitQueue(t)
			s.deployment("moved", 0)
			s.create(s.scaledObject("moved", "moved", 3, q.trigger(s)))
			q.publish(30)
			s.waitReplicas("moved", 3, boundScale, "30 messages: the HPA scales to 3")
			w := s.watchReplicas("moved", 3)

			next := faultproxy.New(t, rabbitAddr, nil)
			s.setHost(q, "amqp://guest:guest@"+next.Addr()+"/")
			d := s.within(boundRotation, "reads through the new address", func(context.Context) (bool, string) {
				return next.Dialed() > 0, fmt.Sprintf("%d connections through the new address", next.Dialed())
			})
			figure(t, "broker address rotated → first read at the new address", d, boundRotation)
			s.within(30*time.Second, "the old address let go", func(context.Context) (bool, string) {
				n := q.Proxy.Conns()
				return n == 0, fmt.Sprintf("%d connections still open to the old address", n)
			})
			q.Proxy.Stop() // the old address is gone for good: the target must not notice
			q.publish(20)
			s.waitReplicas("moved", 5, boundScale, "new work, read at the new address: the HPA scales to 5")
			w.stop()
			q.purge()
			s.release("moved", next)
		})
		t.Run("a Secret deleted while in use holds the replicas, says which Secret, and recovers when made again", func(t *testing.T) {
			t.Parallel()
			s := s.in(t)
			q := newRabbitQueue(t)
			s.deployment("lost", 0)
			s.create(s.scaledObject("lost", "lost", 3, q.trigger(s)))
			q.publish(30)
			s.waitReplicas("lost", 3, boundScale, "30 messages: the HPA scales to 3")
			w := s.watchReplicas("lost", 3)

			secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: "rabbitmq-" + q.name}}
			if err := s.c.Delete(t.Context(), secret); err != nil {
				t.Fatal(err)
			}
			d := s.waitStatus("lost", boundRotation, "the trigger fails, naming the Secret", func(so *v1alpha1.ScaledObject) (bool, string) {
				for _, tr := range so.Status.Triggers {
					if strings.Contains(tr.LastError, secret.Name) {
						return true, tr.LastError
					}
				}
				return false, fmt.Sprintf("%+v", so.Status.Triggers)
			})
			figure(t, "Secret deleted → the trigger fails naming it", d, boundRotation)
			// Until then the scaler built from the Secret read the queue as
			// usual. Now the queue empties while the trigger cannot be read:
			// that must not read as zero.
			q.purge()
			s.waitStatus("lost", 30*time.Second, "five failed polls", func(so *v1alpha1.ScaledObject) (bool, string) {
				return failures(so) >= 5, fmt.Sprintf("%d consecutive failures", failures(so))
			})
			w.check()

			w.hold(0) // from here the empty queue may take it down
			s.create(&corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: secret.Name},
				StringData: map[string]string{"host": "amqp://guest:guest@" + q.Proxy.Addr() + "/"},
			})
			d = s.waitStatus("lost", boundRotation, "read again once the Secret is back", func(so *v1alpha1.ScaledObject) (bool, string) {
				return failures(so) == 0, fmt.Sprintf("%d consecutive failures", failures(so))
			})
			figure(t, "Secret made again → read again", d, boundRotation)
			s.waitReplicas("lost", 0, boundScale, "the queue is empty: back to zero after the cooldown")
			w.stop()
			s.release("lost", q.Proxy)
		})
	})
	s.noLeaks(op, baseline)
}
