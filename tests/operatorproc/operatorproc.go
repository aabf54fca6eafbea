// SPDX-License-Identifier: Apache-2.0

// Package operatorproc runs the ebb-operator binary as a child process, as
// it runs in a cluster, for the tests that need the real process (the
// end-to-end adapter test, the dashboard test): it builds the binary,
// registers its metrics adapter with the API server's aggregator, starts and
// stops it in its own process group, and waits on conditions while watching
// that it stays up.
package operatorproc

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

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ebbscale/ebb/tests/controlplane"
)

// Where the operator's adapter is registered: the names the chart uses.
const (
	Namespace      = "ebb-system"
	AdapterService = "ebb-metrics-adapter"
)

// APIService is the aggregator's registration of an adapter on port.
func APIService(port int) controlplane.LoopbackAPIService {
	return controlplane.LoopbackAPIService{
		GroupVersion: schema.GroupVersion{Group: "external.metrics.k8s.io", Version: "v1beta1"},
		Namespace:    Namespace,
		Service:      AdapterService,
		Port:         port,
	}
}

// Build builds cmd/ebb-operator into a temporary folder and returns its
// path; ldflags, when given, go to go build.
func Build(t testing.TB, ldflags string) string {
	t.Helper()
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "ebb-operator")
	args := []string{"build", "-o", bin}
	if ldflags != "" {
		args = append(args, "-ldflags", ldflags)
	}
	cmd := exec.Command("go", append(args, "./cmd/ebb-operator")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/ebb-operator: %v\n%s", err, out)
	}
	return bin
}

// FreePort is a free TCP port on 127.0.0.1.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Register registers the adapter on port with the API server (see
// controlplane.LoopbackAPIService.Register); the operator puts its CA into
// the APIService's caBundle.
func Register(t testing.TB, c client.Client, port int) {
	t.Helper()
	if err := APIService(port).Register(t.Context(), c); err != nil {
		t.Fatal(err)
	}
}

// Options say how to run the operator.
type Options struct {
	// Kubeconfig is the identity the operator acts as.
	Kubeconfig string
	// AdapterPort and MetricsPort are its ports on 127.0.0.1.
	AdapterPort, MetricsPort int
	// ProbePort, when set, is the port of /healthz and /readyz on
	// 127.0.0.1; 0: they are off.
	ProbePort int
	// Args are more flags, e.g. --leader-elect or --v=1.
	Args []string
}

// Process is the operator running as a child process in its own process
// group.
type Process struct {
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	waitErr error
}

// Start runs the operator with o, its admission webhook off, and stops it
// when the test ends (SIGTERM, then SIGKILL to its process group), logging
// the tail of its log if the test failed.
func Start(t testing.TB, bin string, o Options) *Process {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "ebb-operator.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close() // the child holds its own descriptor
	probe := "0"
	if o.ProbePort != 0 {
		probe = "127.0.0.1:" + strconv.Itoa(o.ProbePort)
	}
	args := append([]string{
		"--kubeconfig=" + o.Kubeconfig,
		"--namespace=" + Namespace,
		"--metrics-bind-address=127.0.0.1:" + strconv.Itoa(o.MetricsPort),
		"--health-probe-bind-address=" + probe,
		"--webhook=false",
		// As the chart's default (scaledJobs.enabled=false), whose RBAC
		// the tests run the operator under.
		"--scaled-jobs=false",
		"--adapter-bind-address=127.0.0.1",
		"--adapter-port=" + strconv.Itoa(o.AdapterPort),
		"--adapter-service-name=" + AdapterService,
		"--adapter-apiservice=" + APIService(o.AdapterPort).Name(),
	}, o.Args...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), "KUBECONFIG="+o.Kubeconfig)
	// Its own group, so that Stop reaches all of it; killed by the kernel
	// should the thread that started it end (a test binary that dies).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	runtime.LockOSThread()
	err = cmd.Start()
	runtime.UnlockOSThread()
	if err != nil {
		t.Fatalf("start ebb-operator: %v", err)
	}
	p := &Process{cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop(t)
		if t.Failed() {
			t.Logf("ebb-operator log (%s, last lines):\n%s", logPath, p.LogTail(80))
		}
	})
	return p
}

// Stop stops the operator: SIGTERM, and SIGKILL to its process group after
// 30 s (an error of the test). Stopping a stopped operator does nothing.
func (p *Process) Stop(t testing.TB) {
	pgid := p.cmd.Process.Pid
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		t.Errorf("ebb-operator did not stop within 30 s of SIGTERM; killing it")
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// Kill sends SIGKILL to the operator's process group and waits for the
// exit: a crash, an OOM kill or a node that goes away, with no chance to
// release the leader lease or write anything. Killing a stopped operator
// does nothing.
func (p *Process) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// Pid is the operator's process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// LogPath is the file the operator logs to.
func (p *Process) LogPath() string { return p.logPath }

// Exited says whether the operator has exited, and how.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.waitErr
	default:
		return false, nil
	}
}

// LogTail is the last n lines of the operator's log.
func (p *Process) LogTail(n int) string {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// Eventually polls cond every 250 ms until it holds, failing the test with
// cond's last word after timeout, or at once when the operator (if p is not
// nil) exits.
func Eventually(t testing.TB, p *Process, timeout time.Duration, what string, cond func(ctx context.Context) (bool, string)) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(t.Context(), 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if p != nil {
			if gone, err := p.Exited(); gone {
				return false, fmt.Errorf("ebb-operator exited: %v", err)
			}
		}
		ok, word := cond(ctx)
		// A check cut short by the deadline says only that; the one
		// before it says where things stood.
		if ctx.Err() == nil || last == "" {
			last = word
		}
		return ok, nil
	})
	if err != nil {
		if !errors.Is(err, context.DeadlineExceeded) && !wait.Interrupted(err) {
			t.Fatalf("%s: %v (last: %s)", what, err, last)
		}
		t.Fatalf("%s: not within %s; last: %s", what, timeout, last)
	}
}
