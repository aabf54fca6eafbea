// SPDX-License-Identifier: Apache-2.0

package cluster_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/internal/localcluster"
	"github.com/ebbscale/ebb/internal/ociimage"
	"github.com/ebbscale/ebb/tests/cluster"
)

// TestNodeRunsPods proves the node: a Deployment's pod runs a locally built
// image as its unprivileged user and turns Ready through its readiness
// probe; another pod reaches it by the Service's DNS name (CoreDNS,
// kube-proxy, the bridge); the host reaches it at the Service's cluster IP;
// and a pod reaches a loopback service of the host through Expose.
func TestNodeRunsPods(t *testing.T) {
	ctx := t.Context()
	c := cluster.Start(t)
	image, err := c.LoadImage(ctx, ociimage.Spec{Package: "./tests/cluster/testdata/probe", Ref: "ebb.local/probe:test"})
	if err != nil {
		t.Fatal(err)
	}

	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:            "web",
					Image:           image,
					ImagePullPolicy: corev1.PullNever,
					Args:            []string{"serve", ":8080"},
					ReadinessProbe: &corev1.Probe{
						ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(8080)}},
						PeriodSeconds: 1,
					},
				}}},
			},
		},
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{
			Selector: labels,
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	for _, o := range []client.Object{dep, svc} {
		if err := c.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 90*time.Second, "the web Deployment available", func() (bool, string) {
		var d appsv1.Deployment
		if err := c.Client.Get(ctx, client.ObjectKeyFromObject(dep), &d); err != nil {
			return false, err.Error()
		}
		return d.Status.AvailableReplicas == 1, fmt.Sprintf("available %d", d.Status.AvailableReplicas)
	})

	var pods corev1.PodList
	if err := c.Client.List(ctx, &pods, client.InNamespace("default"), client.MatchingLabels(labels)); err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 1 {
		t.Fatalf("web pods: %d, want 1", len(pods.Items))
	}
	pod := pods.Items[0]
	if pod.Spec.NodeName != localcluster.NodeName || !strings.HasPrefix(pod.Status.PodIP, "10.244.0.") {
		t.Fatalf("web pod on node %q with IP %q; want node %s and an IP in %s", pod.Spec.NodeName, pod.Status.PodIP, localcluster.NodeName, localcluster.PodCIDR)
	}

	t.Run("a pod reaches the Service by its DNS name", func(t *testing.T) {
		runJob(t, c, image, "get-web", "http://web.default.svc."+localcluster.ClusterDomain+"/")
	})

	t.Run("the host reaches the Service's cluster IP", func(t *testing.T) {
		var s corev1.Service
		if err := c.Client.Get(ctx, client.ObjectKeyFromObject(svc), &s); err != nil {
			t.Fatal(err)
		}
		body := httpGet(t, "http://"+net.JoinHostPort(s.Spec.ClusterIP, "80")+"/")
		if !strings.HasPrefix(body, "ok web-") {
			t.Fatalf("GET the cluster IP: %q, want ok web-...", body)
		}
	})

	t.Run("a pod reaches a loopback service of the host through Expose", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			io.WriteString(w, "host\n")
		}))
		t.Cleanup(srv.Close)
		addr, err := c.Node.Expose(srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		runJob(t, c, image, "get-host", "http://"+addr+"/")
	})
}

// runJob runs "probe get url" in a Job and waits for it to succeed.
func runJob(t *testing.T, c *cluster.Cluster, image, name, url string) {
	t.Helper()
	ctx := t.Context()
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To[int32](0),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{
					Name: "get", Image: image, ImagePullPolicy: corev1.PullNever,
					Args: []string{"get", url},
				}},
			}},
		},
	}
	if err := c.Client.Create(ctx, job); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 90*time.Second, "the Job "+name+" to succeed", func() (bool, string) {
		var j batchv1.Job
		if err := c.Client.Get(ctx, client.ObjectKeyFromObject(job), &j); err != nil {
			return false, err.Error()
		}
		if j.Status.Failed > 0 {
			t.Fatalf("Job %s failed: %+v", name, j.Status)
		}
		return j.Status.Succeeded == 1, fmt.Sprintf("active %d", j.Status.Active)
	})
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var last error
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return string(body)
			}
			err = fmt.Errorf("%s", resp.Status)
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("GET %s: %v", url, last)
	return ""
}

// waitFor polls cond every 200 ms until it holds, failing the test after
// timeout with cond's last word.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s: %s", timeout, what, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
