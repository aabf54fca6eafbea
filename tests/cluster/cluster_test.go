// SPDX-License-Identifier: Apache-2.0

package cluster_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/internal/localcluster"
	"github.com/ebbscale/ebb/internal/ociimage"
	"github.com/ebbscale/ebb/tests/cluster"
)

// TestNodeRunsPods proves the node: a Deployment's pod runs a locally built
// image and turns Ready through its readiness probe; another pod reaches it
// by the Service's DNS name (CoreDNS, kube-proxy, the bridge); the host
// reaches it at the Service's cluster IP; metrics-server serves its usage,
// read from the kubelet, through the aggregator; and a pod reaches a
// loopback service of the host through Expose.
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
	cluster.WaitFor(t, 90*time.Second, "the web Deployment available", func() (bool, string) {
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

	t.Run("a pod reaches the Service by its DNS name, and its log is read through the API server", func(t *testing.T) {
		runJob(t, c, image, "get-web", "http://web.default.svc."+localcluster.ClusterDomain+"/")
		// The log comes from the kubelet, which the API server reaches with
		// its kubelet client certificate (what kubectl logs does).
		var jobPods corev1.PodList
		if err := c.Client.List(ctx, &jobPods, client.InNamespace("default"), client.MatchingLabels{"job-name": "get-web"}); err != nil || len(jobPods.Items) != 1 {
			t.Fatalf("the Job's pods: %d (%v), want 1", len(jobPods.Items), err)
		}
		cs, err := kubernetes.NewForConfig(c.Config)
		if err != nil {
			t.Fatal(err)
		}
		logs, err := cs.CoreV1().Pods("default").GetLogs(jobPods.Items[0].Name, &corev1.PodLogOptions{}).DoRaw(ctx)
		if err != nil {
			t.Fatalf("the Job pod's log through the API server: %v", err)
		}
		if !strings.HasPrefix(string(logs), "ok web-") {
			t.Fatalf("the Job pod's log: %q, want what it printed (ok web-...)", logs)
		}
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

	t.Run("metrics-server serves the pod's CPU and memory from the kubelet", func(t *testing.T) {
		cluster.WaitFor(t, 90*time.Second, "PodMetrics of the web pod", func() (bool, string) {
			var pm unstructured.Unstructured
			pm.SetAPIVersion("metrics.k8s.io/v1beta1")
			pm.SetKind("PodMetrics")
			if err := c.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: pod.Name}, &pm); err != nil {
				return false, err.Error()
			}
			containers, _, _ := unstructured.NestedSlice(pm.Object, "containers")
			if len(containers) != 1 {
				return false, fmt.Sprintf("containers %v", containers)
			}
			usage, _, _ := unstructured.NestedStringMap(containers[0].(map[string]any), "usage")
			mem, err := resource.ParseQuantity(usage["memory"])
			if err != nil || mem.Value() < 1<<20 {
				return false, fmt.Sprintf("usage %v", usage)
			}
			_, err = resource.ParseQuantity(usage["cpu"])
			return err == nil, fmt.Sprintf("usage %v", usage)
		})
	})

	t.Run("a pod reaches a loopback service of the host through Expose", func(t *testing.T) {
		port := mustExpose(t, c)
		runJob(t, c, image, "get-host", "http://"+net.JoinHostPort(localcluster.NodeIP, strconv.Itoa(port))+"/")
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
	cluster.WaitFor(t, 90*time.Second, "the Job "+name+" to succeed", func() (bool, string) {
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

// TestANodeKilledIsCleanedUpByTheNext kills (SIGKILL) a process whose node
// runs a pod, as a go test -timeout or a crash would, and starts a node
// again: the containers, shims and components the killed one left are
// gone, and the new node runs pods.
func TestANodeKilledIsCleanedUpByTheNext(t *testing.T) {
	if os.Getenv(orphanEnv) != "" {
		runOrphan(t)
		return
	}
	// The child may wait long for the node lock when other packages' nodes
	// run: its timeout is the whole suite's.
	cmd := exec.Command(os.Args[0], "-test.run=^TestANodeKilledIsCleanedUpByTheNext$", "-test.timeout=40m")
	cmd.Env = append(os.Environ(), orphanEnv+"="+t.TempDir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The child prints the pid of its pod's process once the pod runs.
	var podPid int
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "pod-pid "); ok {
			podPid, _ = strconv.Atoi(rest)
			break
		}
	}
	if podPid == 0 {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatal("the child never reported its pod running")
	}
	shims := processesNamed(t, "containerd-shim")
	if len(shims) == 0 {
		t.Fatal("no containerd shim runs while the child's pod runs")
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if !alive(podPid) {
		t.Fatalf("the pod's process %d died with its owner: nothing left to clean up, the test proves nothing", podPid)
	}

	c := cluster.Start(t)
	for _, pid := range append(shims, podPid) {
		if alive(pid) {
			t.Errorf("process %d of the killed node still runs after a new node started", pid)
		}
	}
	image, err := c.LoadImage(t.Context(), ociimage.Spec{Package: "./tests/cluster/testdata/probe", Ref: "ebb.local/probe:test"})
	if err != nil {
		t.Fatal(err)
	}
	runJob(t, c, image, "after", "http://"+net.JoinHostPort(localcluster.NodeIP, strconv.Itoa(mustExpose(t, c)))+"/")
}

const orphanEnv = "EBB_TEST_ORPHAN_NODE"

// runOrphan is the child of TestANodeKilledIsCleanedUpByTheNext: it starts
// a node with a running pod, prints the pod's process id and waits to be
// killed.
func runOrphan(t *testing.T) {
	ctx := t.Context()
	c, err := cluster.New(ctx, os.Getenv(orphanEnv))
	if err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "orphan", Namespace: "default"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "pause", Image: ociimage.PauseRef, ImagePullPolicy: corev1.PullNever,
		}}},
	}
	if err := c.Client.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	cluster.WaitFor(t, 60*time.Second, "the orphan pod running", func() (bool, string) {
		if err := c.Client.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
			return false, err.Error()
		}
		return pod.Status.Phase == corev1.PodRunning, string(pod.Status.Phase)
	})
	pids := processesNamed(t, "pause")
	if len(pids) == 0 {
		t.Fatal("no pause process runs")
	}
	fmt.Printf("pod-pid %d\n", pids[len(pids)-1])
	select {} // killed by the parent
}

func mustExpose(t *testing.T, c *cluster.Cluster) int {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "host\n")
	}))
	t.Cleanup(srv.Close)
	addr, err := c.Node.Expose(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	return p
}

// processesNamed lists the processes whose command name (comm) starts with
// prefix.
func processesNamed(t *testing.T, prefix string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err == nil && strings.HasPrefix(strings.TrimSpace(string(comm)), prefix) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func alive(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	return err == nil && !strings.Contains(string(stat), ") Z ")
}
