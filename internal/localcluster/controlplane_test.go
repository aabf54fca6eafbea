// SPDX-License-Identifier: Apache-2.0

package localcluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ebbv1alpha1 "github.com/ebbscale/ebb/apis/v1alpha1"
)

func TestStart(t *testing.T) {
	cp := start(t)
	ctx := t.Context()

	t.Run("the API server reports the version the binaries were built as", func(t *testing.T) {
		dc, err := discovery.NewDiscoveryClientForConfig(cp.Config)
		if err != nil {
			t.Fatal(err)
		}
		v, err := dc.ServerVersion()
		if err != nil {
			t.Fatal(err)
		}
		if v.GitVersion != KubeVersion {
			t.Errorf("server version %q, want %q", v.GitVersion, KubeVersion)
		}
	})

	t.Run("Ebb's types are served and the client knows them", func(t *testing.T) {
		var list ebbv1alpha1.ScaledObjectList
		if err := cp.Client.List(ctx, &list, client.InNamespace("default")); err != nil {
			t.Fatalf("list ScaledObjects: %v", err)
		}
	})

	t.Run("the kubeconfig file reaches the same API server as an admin", func(t *testing.T) {
		cfg, err := clientcmd.BuildConfigFromFlags("", cp.Kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSuffix(cfg.Host, "/") != cp.URL() {
			t.Errorf("kubeconfig server %q, want %q", cfg.Host, cp.URL())
		}
		c, err := client.New(cfg, client.Options{Scheme: cp.Scheme})
		if err != nil {
			t.Fatal(err)
		}
		var nodes corev1.NodeList // cluster-scoped: needs more than namespace rights
		if err := c.List(ctx, &nodes); err != nil {
			t.Errorf("list nodes through the kubeconfig: %v", err)
		}
	})
}

func TestStopLeavesNoProcess(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cp, err := New(ctx, Options{ControllerManager: true})
	if err != nil {
		t.Fatal(err)
	}
	dir := cp.Dir
	pids, err := Processes(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(pids) != 3 {
		_ = cp.Stop()
		t.Fatalf("running processes of %s: %v, want 3 (etcd, kube-apiserver, kube-controller-manager)", dir, pids)
	}
	if err := cp.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if left, _ := Processes(dir); len(left) > 0 {
		t.Errorf("processes left after Stop: %v", left)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("folder %s not removed: %v", dir, err)
	}
	if err := cp.Stop(); err != nil {
		t.Errorf("second stop: %v", err)
	}
}

func TestMissingBinariesSayHowToBuildThem(t *testing.T) {
	_, err := New(t.Context(), Options{ToolsDir: t.TempDir(), ControllerManager: true})
	if err == nil {
		t.Fatal("New with an empty tools folder succeeded")
	}
	for _, want := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "make tools"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestWithAggregator(t *testing.T) {
	cp := start(t, WithAggregator())
	fp := cp.FrontProxy
	if fp == nil {
		t.Fatal("no front proxy certificates")
	}
	for _, f := range []string{fp.CAFile, fp.ClientCertFile, fp.ClientKeyFile} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("front proxy file: %v", err)
		}
	}
	// The API server publishes its request-header settings for aggregated
	// API servers to read.
	var cm corev1.ConfigMap
	key := client.ObjectKey{Namespace: "kube-system", Name: "extension-apiserver-authentication"}
	if err := cp.Client.Get(t.Context(), key, &cm); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(cm.Data["requestheader-client-ca-file"]); got != strings.TrimSpace(string(fp.CAPEM)) {
		t.Errorf("requestheader-client-ca-file is not the front proxy CA:\n%s", got)
	}
	if got := cm.Data["requestheader-allowed-names"]; !strings.Contains(got, FrontProxyClientName) {
		t.Errorf("requestheader-allowed-names = %s, want it to hold %s", got, FrontProxyClientName)
	}
}

func TestGuardKillsWhatItWatchesWhenItsOwnerDies(t *testing.T) {
	g, err := startGuard()
	if err != nil {
		t.Fatal(err)
	}
	victim := exec.Command("sleep", "300")
	victim.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = victim.Process.Kill() })
	if err := g.watch(victim.Process.Pid); err != nil {
		t.Fatal(err)
	}
	// The owner dying closes the guard's standard input without a disarm.
	if err := g.in.Close(); err != nil {
		t.Fatal(err)
	}
	if err := g.cmd.Wait(); err != nil {
		t.Fatalf("guard: %v", err)
	}
	err = victim.Wait()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		t.Fatalf("watched process exited with %v, want killed", err)
	}
	if ws := exitErr.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("watched process ended with %v, want SIGKILL", ws)
	}
}

func TestGuardDisarmedKillsNothing(t *testing.T) {
	g, err := startGuard()
	if err != nil {
		t.Fatal(err)
	}
	bystander := exec.Command("sleep", "300")
	bystander.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := bystander.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bystander.Process.Kill(); _ = bystander.Wait() })
	if err := g.watch(bystander.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if err := g.disarm(); err != nil {
		t.Fatal(err)
	}
	// Signal 0 checks the process exists.
	if err := bystander.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("process watched by a disarmed guard is gone: %v", err)
	}
}

// killedOwnerEnv makes TestKilledOwnerLeavesNoProcess's child: it starts a
// control plane, prints its folder and waits to be killed.
const killedOwnerEnv = "EBB_CONTROLPLANE_KILLED_OWNER"

// A test binary killed with SIGKILL mid-run (a CI runner's sweep, the OOM
// killer) cannot stop its control plane; the guard must, so that etcd,
// kube-apiserver and kube-controller-manager do not outlive it.
func TestKilledOwnerLeavesNoProcess(t *testing.T) {
	if os.Getenv(killedOwnerEnv) != "" {
		runKilledOwnerChild(t)
		return
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	child := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestKilledOwnerLeavesNoProcess$", "-test.v")
	child.Env = append(os.Environ(), killedOwnerEnv+"="+dir)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = child.Stdout
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Whatever the outcome, nothing of the child's outlives the test.
		if pids, _ := Processes(dir); len(pids) > 0 {
			for _, p := range pids {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
		}
	})

	// The child says "started" once its control plane runs.
	var seen strings.Builder
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		seen.WriteString(lines.Text() + "\n")
		if lines.Text() == "started" {
			break
		}
	}
	if !strings.Contains(seen.String(), "started\n") {
		_ = child.Wait()
		t.Fatalf("the child did not start a control plane:\n%s", seen.String())
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	if pids, err := Processes(dir); err != nil || len(pids) != 3 {
		t.Fatalf("processes of the child's control plane: %v (%v), want 3", pids, err)
	}

	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	// The guard kills at once; 30 s is room for a loaded machine.
	deadline := time.After(30 * time.Second)
	for {
		pids, err := Processes(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(pids) == 0 {
			return
		}
		select {
		case <-deadline:
			t.Fatalf("processes of the killed owner's control plane still running: %v", pids)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func runKilledOwnerChild(t *testing.T) {
	_, err := New(t.Context(), Options{Dir: os.Getenv(killedOwnerEnv), ControllerManager: true})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	fmt.Println("started")
	select {} // until killed
}

// A restarted kube-apiserver is the same server: same address, same
// certificates (the old Config still works), same etcd (what was written is
// still there).
func TestRestartAPIServerKeepsEtcd(t *testing.T) {
	cp := start(t)
	ctx := t.Context()
	cm := &corev1.ConfigMap{}
	cm.Namespace, cm.Name = "default", "kept"
	cm.Data = map[string]string{"written": "before the restart"}
	if err := cp.Client.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	etcdBefore, apiBefore := componentPIDs(t, cp.Dir)
	if _, err := cp.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	if err := cp.Client.Get(ctx, client.ObjectKeyFromObject(cm), &corev1.ConfigMap{}); err == nil {
		t.Fatal("the API server answered while stopped")
	}
	if err := cp.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	var got corev1.ConfigMap
	if err := cp.Client.Get(ctx, client.ObjectKeyFromObject(cm), &got); err != nil {
		t.Fatalf("read with the Config from before the restart: %v", err)
	}
	if got.Data["written"] != "before the restart" {
		t.Errorf("data %v after the restart", got.Data)
	}
	etcdAfter, apiAfter := componentPIDs(t, cp.Dir)
	if etcdAfter != etcdBefore {
		t.Errorf("etcd pid %d, was %d: etcd was restarted too", etcdAfter, etcdBefore)
	}
	if apiAfter == apiBefore || apiAfter == 0 {
		t.Errorf("kube-apiserver pid %d, was %d: not restarted", apiAfter, apiBefore)
	}
}

// componentPIDs are the pids of the control plane's etcd and kube-apiserver.
func componentPIDs(t *testing.T, dir string) (etcd, apiserver int) {
	t.Helper()
	pids, err := Processes(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		switch name := strings.SplitN(string(cmdline), "\x00", 2)[0]; {
		case strings.HasSuffix(name, "/etcd"):
			etcd = pid
		case strings.HasSuffix(name, "/kube-apiserver"):
			apiserver = pid
		}
	}
	return etcd, apiserver
}

// start is tests/controlplane's Start, for this package's own tests.
func start(t testing.TB, opts ...Option) *ControlPlane {
	t.Helper()
	o := Options{Dir: t.TempDir()}
	for _, opt := range opts {
		opt(&o)
	}
	cp, err := New(t.Context(), o)
	if err != nil {
		t.Fatalf("start the control plane: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("control plane logs (%s):\n%s", cp.Dir, cp.Logs(60))
		}
		if err := cp.Stop(); err != nil {
			t.Errorf("stop the control plane: %v", err)
		}
	})
	return cp
}
