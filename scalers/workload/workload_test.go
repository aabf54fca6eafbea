// SPDX-License-Identifier: Apache-2.0

package workload_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/ebbscale/ebb/scalers"
	"github.com/ebbscale/ebb/scalers/workload"
	"github.com/ebbscale/ebb/tests/chartrbac"
	"github.com/ebbscale/ebb/tests/controlplane"
)

func trigger(ns string, md map[string]string) scalers.Trigger {
	return scalers.Trigger{Namespace: ns, ScaledObject: "so", Index: 0, Name: "pods", Type: workload.TypeName, Metadata: md}
}

// The trigger counts the pods of its own namespace that match its selector
// and have not terminated, from a cache that follows the pods, shared per
// (namespace, selector), read as the chart's operator identity.
func TestKubernetesWorkloadCountsTheMatchingPods(t *testing.T) {
	cp := controlplane.Start(t)
	admin, err := kubernetes.NewForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	id := chartrbac.Operator(t, cp, chartrbac.Options{Namespace: "ebb-system"})
	kc, err := kubernetes.NewForConfig(id.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, ns := range []string{"apps", "elsewhere"} {
		if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pod := func(ns, name, app string) {
		t.Helper()
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": app}},
			Spec: corev1.PodSpec{AutomountServiceAccountToken: ptr.To(false),
				Containers: []corev1.Container{{Name: "c", Image: "registry.invalid/c:1"}}},
		}
		if _, err := admin.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		pod("apps", fmt.Sprintf("worker-%d", i), "worker")
	}
	pod("apps", "web-0", "web")
	pod("elsewhere", "worker-x", "worker")

	typ := workload.NewType(kc)
	sc, err := typ.New(trigger("apps", map[string]string{"podSelector": "app=worker", "value": "2", "activationValue": "2"}))
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	waitCount := func(want float64, why string) scalers.Reading {
		t.Helper()
		var r scalers.Reading
		deadline := time.Now().Add(30 * time.Second)
		for {
			r, err = sc.Read(ctx)
			if err == nil && r.Value == want {
				return r
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: read %+v, %v; want %v", why, r, err, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	t.Run("only the matching pods of the trigger's own namespace count", func(t *testing.T) {
		r := waitCount(3, "three worker pods in apps")
		if !r.Active {
			t.Error("3 pods above an activation value of 2: not active")
		}
		if m := sc.Metric(); m.Target != 2 || m.ActivationTarget != 2 {
			t.Errorf("metric %+v, want target 2 and activation 2", m)
		}
	})
	t.Run("a pod that terminated no longer counts", func(t *testing.T) {
		p, err := admin.CoreV1().Pods("apps").Get(ctx, "worker-0", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Status.Phase = corev1.PodSucceeded
		if _, err := admin.CoreV1().Pods("apps").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if r := waitCount(2, "worker-0 succeeded"); r.Active {
			t.Error("2 pods at an activation value of 2: active")
		}
	})
	t.Run("new and deleted pods are followed", func(t *testing.T) {
		pod("apps", "worker-3", "worker")
		waitCount(3, "worker-3 created")
		if err := admin.CoreV1().Pods("apps").Delete(ctx, "worker-1", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			t.Fatal(err)
		}
		waitCount(2, "worker-1 deleted")
	})
	t.Run("one cache per namespace and selector, closed with its last trigger", func(t *testing.T) {
		same, err := typ.New(trigger("apps", map[string]string{"podSelector": "app = worker", "value": "1"}))
		if err != nil {
			t.Fatal(err)
		}
		other, err := typ.New(trigger("apps", map[string]string{"podSelector": "app in (web)", "value": "1"}))
		if err != nil {
			t.Fatal(err)
		}
		if r, err := same.Read(ctx); err != nil || r.Value != 2 {
			t.Errorf("the same selector written differently reads %+v, %v; want 2", r, err)
		}
		if r, err := other.Read(ctx); err != nil || r.Value != 1 {
			t.Errorf("app in (web) reads %+v, %v; want 1", r, err)
		}
		if n := typ.OpenConnections(); n != 2 {
			t.Errorf("%d pod caches open for two selectors, want 2", n)
		}
		_ = same.Close()
		_ = other.Close()
		if n := typ.OpenConnections(); n != 1 {
			t.Errorf("%d pod caches open after closing the second selector's triggers, want 1", n)
		}
	})
	t.Run("a cancelled read returns at once", func(t *testing.T) {
		fresh := workload.NewType(kc)
		s, err := fresh.New(trigger("apps", map[string]string{"podSelector": "app=worker", "value": "1"}))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := s.Read(cctx); err == nil {
			t.Error("a read with a cancelled context succeeded")
		}
	})
}

func TestBadWorkloadMetadataNamesTheKey(t *testing.T) {
	typ := workload.NewType(nil)
	for _, tc := range []struct {
		sentence string
		md       map[string]string
		key      string
	}{
		{"no selector", map[string]string{"value": "1"}, "podSelector"},
		{"an empty selector", map[string]string{"podSelector": " ", "value": "1"}, "podSelector"},
		{"a selector that does not parse", map[string]string{"podSelector": "app in (", "value": "1"}, "podSelector"},
		{"no value", map[string]string{"podSelector": "app=w"}, "value"},
		{"a value of zero", map[string]string{"podSelector": "app=w", "value": "0"}, "value"},
		{"a negative activation value", map[string]string{"podSelector": "app=w", "value": "1", "activationValue": "-1"}, "activationValue"},
		{"an unknown key", map[string]string{"podSelector": "app=w", "value": "1", "namespace": "other"}, "namespace"},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			err := typ.Validate(trigger("apps", tc.md))
			if err == nil || !strings.Contains(err.Error(), `"`+tc.key+`"`) {
				t.Fatalf("error %v does not name %q", err, tc.key)
			}
		})
	}
	t.Run("without cluster access a read fails, never a zero", func(t *testing.T) {
		s, err := typ.New(trigger("apps", map[string]string{"podSelector": "app=w", "value": "1"}))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := s.Read(t.Context()); err == nil {
			t.Error("read succeeded")
		}
	})
}

func FuzzPodSelector(f *testing.F) {
	for _, s := range []string{"app=worker", "app in (a,b),tier!=x", "!canary", "a.b/c=d", "app=", "x in ("} {
		f.Add(s)
	}
	typ := workload.NewType(nil)
	f.Fuzz(func(t *testing.T, sel string) {
		_ = typ.Validate(trigger("apps", map[string]string{"podSelector": sel, "value": "1"}))
	})
}
