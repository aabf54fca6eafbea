// SPDX-License-Identifier: Apache-2.0

package incluster_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/internal/localcluster"
	"github.com/ebbscale/ebb/internal/ociimage"
	"github.com/ebbscale/ebb/tests/cluster"
)

// The images the suite builds and loads into the node.
const (
	operatorRef    = "ebb.local/ebb-operator:incluster"
	interceptorRef = "ebb.local/ebb-interceptor:incluster"
	consumerRef    = "ebb.local/incluster-consumer:test"
	backendRef     = "ebb.local/incluster-backend:test"
)

// rabbitAddr is the machine's RabbitMQ (tests/services.sh); guest/guest
// logs in from loopback only, which the node's forwarder is.
const rabbitAddr = "127.0.0.1:5672"

// suite is what TestMain set up for every test of the package.
type suite struct {
	c         *cluster.Cluster
	clientset *kubernetes.Clientset
	helm      *helmClient
	release   *release.Release
	values    map[string]any
	// images holds the normalized references of the loaded images.
	images map[string]string
	// rabbitInCluster is where pods reach the machine's RabbitMQ.
	rabbitInCluster string
	// setup is how long TestMain took to start the cluster, build and load
	// the images and install the chart.
	setup time.Duration
}

// env is the suite; nil when skipReason says why there is none.
var (
	env        *suite
	skipReason string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if missing := missingPrerequisites(); len(missing) > 0 {
		msg := "the in-cluster suite needs a node: " + strings.Join(missing, "; ") + " (docs/testing.md)"
		if os.Getenv("CI") == "true" {
			fmt.Fprintln(os.Stderr, "FAIL:", msg)
			return 1
		}
		skipReason = msg
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "ebb-incluster-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	start := time.Now()
	// The start includes waiting for another package's node to stop (one
	// node per machine), as under `make test`.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	s, err := setUp(ctx, dir)
	if s != nil && s.c != nil {
		defer func() {
			if err := s.c.Stop(); err != nil {
				fmt.Fprintln(os.Stderr, "stop the cluster:", err)
			}
		}()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: set up the in-cluster suite: %v\n", err)
		if s != nil && s.c != nil {
			fmt.Fprintln(os.Stderr, s.diagnostics(context.Background()))
		}
		return 1
	}
	s.setup = time.Since(start)
	fmt.Printf("in-cluster suite: cluster, images and chart ready in %s\n", s.setup.Round(100*time.Millisecond))
	env = s
	code := m.Run()
	if code != 0 {
		fmt.Fprintln(os.Stderr, s.diagnostics(context.Background()))
	}
	fmt.Printf("in-cluster suite: %s in all\n", time.Since(start).Round(100*time.Millisecond))
	return code
}

// setUp starts the cluster, builds and loads the images and installs the
// chart. It returns the suite so far also with an error, to stop it.
func setUp(ctx context.Context, dir string) (*suite, error) {
	start := time.Now()
	c, err := cluster.New(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("start the cluster: %w", err)
	}
	fmt.Printf("in-cluster suite: cluster up in %s\n", time.Since(start).Round(100*time.Millisecond))
	start = time.Now()
	s := &suite{c: c, images: map[string]string{}}
	if s.clientset, err = kubernetes.NewForConfig(c.Config); err != nil {
		return s, err
	}
	root, err := localcluster.RepoRoot()
	if err != nil {
		return s, err
	}
	for _, spec := range []ociimage.Spec{
		ociimage.OperatorSpec(root, operatorRef, "incluster"),
		ociimage.InterceptorSpec(root, interceptorRef, "incluster"),
		{Package: "./tests/incluster/testdata/consumer", Ref: consumerRef},
		{Package: "./tests/incluster/testdata/backend", Ref: backendRef},
	} {
		ref, err := c.LoadImage(ctx, spec)
		if err != nil {
			return s, fmt.Errorf("load the image %s: %w", spec.Ref, err)
		}
		s.images[spec.Ref] = ref
	}
	fmt.Printf("in-cluster suite: %d images built and loaded in %s\n", len(s.images), time.Since(start).Round(100*time.Millisecond))
	start = time.Now()
	if s.rabbitInCluster, err = c.Node.Expose(rabbitAddr); err != nil {
		return s, fmt.Errorf("expose RabbitMQ to the pods: %w", err)
	}
	if s.helm, err = newHelmClient(c.Kubeconfig, filepath.Join(dir, "kube-cache"), func(string, ...any) {}); err != nil {
		return s, err
	}
	if s.values, err = chartValues(s.images[operatorRef], s.images[interceptorRef]); err != nil {
		return s, err
	}
	if s.release, err = s.helm.install(ctx, s.values); err != nil {
		return s, err
	}
	fmt.Printf("in-cluster suite: chart installed and available in %s\n", time.Since(start).Round(100*time.Millisecond))
	return s, nil
}

// need returns the suite or skips the test when there is none.
func need(t *testing.T) *suite {
	t.Helper()
	if env == nil {
		t.Skip(skipReason)
	}
	s := env
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(s.podDiagnostics(context.Background()))
		}
	})
	return s
}

// missingPrerequisites names what this machine lacks to run a node: root,
// the Debian packages' programs, the CNI plugins, the Kubernetes binaries,
// and the RabbitMQ the queue test reads.
func missingPrerequisites() []string {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (the node mounts, makes a bridge and iptables rules)")
	}
	for _, b := range localcluster.HostBinaries {
		if _, err := exec.LookPath(b); err != nil {
			missing = append(missing, b+" on PATH (Debian containerd, runc, iptables, iproute2)")
		}
	}
	if _, err := os.Stat(filepath.Join(localcluster.CNIBinDir, "bridge")); err != nil {
		missing = append(missing, "the CNI bridge plugin in "+localcluster.CNIBinDir+" (Debian containernetworking-plugins)")
	}
	dir := localcluster.ToolsDir()
	var bins []string
	for _, b := range append(append([]string{}, localcluster.Binaries...), localcluster.NodeBinaries...) {
		if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.Mode()&0o111 == 0 {
			bins = append(bins, b)
		}
	}
	if len(bins) > 0 {
		missing = append(missing, fmt.Sprintf("%s in %s (EBB_TOOLS_NODE=1 make tools)", strings.Join(bins, ", "), dir))
	}
	if conn, err := net.DialTimeout("tcp", rabbitAddr, 2*time.Second); err != nil {
		missing = append(missing, "RabbitMQ at "+rabbitAddr+" (tests/services.sh)")
	} else {
		conn.Close()
	}
	return missing
}

// diagnostics is what a failed run prints: podDiagnostics, then the tails
// of the node's and the control plane's logs.
func (s *suite) diagnostics(ctx context.Context) string {
	return s.podDiagnostics(ctx) + "cluster logs:\n" + s.c.Logs(40)
}

// podDiagnostics is what a failed test prints: the release namespace's
// pods, their containers' states and the tails of their logs.
func (s *suite) podDiagnostics(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var b bytes.Buffer
	var pods corev1.PodList
	if err := s.c.Client.List(ctx, &pods, client.InNamespace(releaseNamespace)); err == nil {
		for _, p := range pods.Items {
			fmt.Fprintf(&b, "pod %s: phase %s ready %v\n", p.Name, p.Status.Phase, podReady(&p))
			for _, cs := range p.Status.ContainerStatuses {
				fmt.Fprintf(&b, "  container %s: restarts %d state %+v last %+v\n", cs.Name, cs.RestartCount, cs.State, cs.LastTerminationState)
			}
			tail := int64(40)
			out, err := s.clientset.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{TailLines: &tail}).DoRaw(ctx)
			if err != nil {
				out = []byte(err.Error())
			}
			fmt.Fprintf(&b, "  logs:\n%s\n", out)
		}
	}
	return b.String()
}

func podReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// readyPods lists the Ready pods of a namespace matching labels.
func readyPods(ctx context.Context, c client.Client, ns string, labels map[string]string) ([]corev1.Pod, error) {
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels(labels)); err != nil {
		return nil, err
	}
	var ready []corev1.Pod
	for _, p := range pods.Items {
		if podReady(&p) {
			ready = append(ready, p)
		}
	}
	return ready, nil
}

// deploymentAvailable says whether a Deployment has rolled out its
// current spec: every replica updated and available.
func deploymentAvailable(d *appsv1.Deployment) (bool, string) {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	st := d.Status
	msg := fmt.Sprintf("generation %d observed %d, replicas %d updated %d available %d of %d",
		d.Generation, st.ObservedGeneration, st.Replicas, st.UpdatedReplicas, st.AvailableReplicas, want)
	return st.ObservedGeneration >= d.Generation && st.UpdatedReplicas == want &&
		st.AvailableReplicas == want && st.Replicas == want, msg
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
		select {
		case <-t.Context().Done():
			t.Fatalf("waiting for %s: %v", what, t.Context().Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
