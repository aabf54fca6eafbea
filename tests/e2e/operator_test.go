package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/tests/controlplane"
)

const (
	operatorNamespace = "ebb-system"
	adapterService    = "ebb-metrics-adapter"
	apiServiceName    = "v1beta1.external.metrics.k8s.io"
)

// operator is the ebb-operator binary running as a child process in its own
// process group.
type operator struct {
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	waitErr error
}

// buildOperator builds cmd/ebb-operator into dir.
func buildOperator(t *testing.T, dir string) string {
	t.Helper()
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "ebb-operator")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/ebb-operator")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/ebb-operator: %v\n%s", err, out)
	}
	return bin
}

// startOperator runs the operator against the control plane, its metrics
// adapter on 127.0.0.1:port, and stops it when the test ends (SIGTERM, then
// SIGKILL to its process group), printing the tail of its log if the test
// failed.
func startOperator(t *testing.T, bin string, cp *controlplane.ControlPlane, port, metricsPort int) *operator {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "ebb-operator.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close() // the child holds its own descriptor
	cmd := exec.Command(bin,
		"--kubeconfig="+cp.Kubeconfig,
		"--namespace="+operatorNamespace,
		"--metrics-bind-address=127.0.0.1:"+strconv.Itoa(metricsPort),
		"--health-probe-bind-address=0",
		"--webhook=false",
		"--adapter-bind-address=127.0.0.1",
		"--adapter-port="+strconv.Itoa(port),
		"--adapter-service-name="+adapterService,
		"--adapter-apiservice="+apiServiceName,
		"--v=1",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), "KUBECONFIG="+cp.Kubeconfig)
	// Its own group, so that stop reaches all of it; killed by the kernel
	// should the thread that started it end (a test binary that dies).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	runtime.LockOSThread()
	err = cmd.Start()
	runtime.UnlockOSThread()
	if err != nil {
		t.Fatalf("start ebb-operator: %v", err)
	}
	op := &operator{cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		op.waitErr = cmd.Wait()
		close(op.done)
	}()
	t.Cleanup(func() {
		op.stop(t)
		if t.Failed() {
			t.Logf("ebb-operator log (%s):\n%s", logPath, tail(logPath, 80))
		}
	})
	return op
}

func (op *operator) stop(t *testing.T) {
	pgid := op.cmd.Process.Pid
	select {
	case <-op.done:
		return
	default:
	}
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	select {
	case <-op.done:
	case <-timer.C:
		t.Errorf("ebb-operator did not stop within 30 s of SIGTERM; killing it")
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-op.done
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// exited says whether the operator has exited, and how.
func (op *operator) exited() (bool, error) {
	select {
	case <-op.done:
		return true, op.waitErr
	default:
		return false, nil
	}
}

func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// registerAdapter creates the operator's namespace, a Service of type
// ExternalName localhost on the adapter's port, and the APIService of
// external.metrics.k8s.io pointing at it. The caBundle is left to the
// operator, which puts its generated CA there.
func registerAdapter(t *testing.T, c client.Client, port int) {
	t.Helper()
	ctx := t.Context()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: adapterService},
		Spec: corev1.ServiceSpec{
			Type:         corev1.ServiceTypeExternalName,
			ExternalName: "localhost",
			Ports:        []corev1.ServicePort{{Name: "https", Port: int32(port)}},
		},
	}
	if err := c.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
	api := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1",
		"kind":       "APIService",
		"metadata":   map[string]any{"name": apiServiceName},
		"spec": map[string]any{
			"group":                "external.metrics.k8s.io",
			"version":              "v1beta1",
			"groupPriorityMinimum": int64(100),
			"versionPriority":      int64(100),
			"service":              map[string]any{"namespace": operatorNamespace, "name": adapterService, "port": int64(port)},
		},
	}}
	if err := c.Create(ctx, api); err != nil {
		t.Fatal(err)
	}
}

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

// eventually polls cond every 250 ms until it holds or timeout passes, then
// fails the test with cond's last word. It stops early if the operator
// exits.
func eventually(t *testing.T, op *operator, timeout time.Duration, what string, cond func(ctx context.Context) (bool, string)) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(t.Context(), 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if op != nil {
			if gone, err := op.exited(); gone {
				return false, fmt.Errorf("ebb-operator exited: %v", err)
			}
		}
		var ok bool
		ok, last = cond(ctx)
		return ok, nil
	})
	if err != nil {
		if !errors.Is(err, context.DeadlineExceeded) && !wait.Interrupted(err) {
			t.Fatalf("%s: %v (last: %s)", what, err, last)
		}
		t.Fatalf("%s: not within %s; last: %s", what, timeout, last)
	}
}
