// SPDX-License-Identifier: Apache-2.0

package localcluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

// ControllerManagerControllers are the kube-controller-manager controllers
// WithControllerManager runs (its --controllers): enough for Deployments to
// get ReplicaSets and for HPAs to scale them. Pods are created but never
// run: there is no scheduler and no kubelet.
const ControllerManagerControllers = "deployment-controller,replicaset-controller,horizontal-pod-autoscaler-controller"

// GarbageCollectorController is the garbage collector's name in
// kube-controller-manager's --controllers: WithGarbageCollector adds it, so
// that objects go with their owners (an HPA with its ScaledObject) as in a
// cluster.
const GarbageCollectorController = "garbage-collector-controller"

// controllerManager is a kube-controller-manager child process in its own
// process group.
type controllerManager struct {
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited
	waitErr error         // set before done is closed
}

// startControllerManager starts kube-controller-manager against the API
// server of kubeconfig and waits until it answers /healthz. Its output goes
// to dir/kube-controller-manager.log.
func startControllerManager(ctx context.Context, bin, kubeconfig, dir, controllers string, hpaSync time.Duration) (*controllerManager, error) {
	var lastErr error
	// The secure port is found free, then bound by the child: another
	// process may take it in between, so try a few times.
	for range 3 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		kcm, err := runControllerManager(bin, kubeconfig, dir, controllers, port, hpaSync)
		if err != nil {
			return nil, err
		}
		err = kcm.waitHealthy(ctx, port)
		if err == nil {
			return kcm, nil
		}
		_ = kcm.stop()
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func runControllerManager(bin, kubeconfig, dir, controllers string, port int, hpaSync time.Duration) (*controllerManager, error) {
	certDir := filepath.Join(dir, "kube-controller-manager")
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return nil, fmt.Errorf("kube-controller-manager: %w", err)
	}
	logPath := filepath.Join(dir, "kube-controller-manager.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("kube-controller-manager log: %w", err)
	}
	defer logFile.Close() // the child holds its own descriptor

	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--controllers=" + controllers,
		"--horizontal-pod-autoscaler-sync-period=" + hpaSync.String(),
		"--leader-elect=false",
		"--use-service-account-credentials=false",
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + certDir,
		"--v=2",
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Its own process group, so that stop reaches anything it starts, and
	// killed by the kernel should the thread that started it end.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}

	// Pdeathsig follows the thread that forks: keep it for the whole start.
	runtime.LockOSThread()
	err = cmd.Start()
	runtime.UnlockOSThread()
	if err != nil {
		return nil, fmt.Errorf("start kube-controller-manager: %w", err)
	}
	kcm := &controllerManager{cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		kcm.waitErr = cmd.Wait()
		close(kcm.done)
	}()
	return kcm, nil
}

func (kcm *controllerManager) pid() int { return kcm.cmd.Process.Pid }

// waitHealthy polls /healthz until it answers 200, the process exits or ctx
// ends.
func (kcm *controllerManager) waitHealthy(ctx context.Context, port int) error {
	client := &http.Client{
		Timeout: 2 * time.Second,
		Transport: &http.Transport{
			// Its serving certificate is self-signed, made at start.
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // loopback health check of a test process
		},
	}
	defer client.CloseIdleConnections()
	url := fmt.Sprintf("https://127.0.0.1:%d/healthz", port)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-kcm.done:
			return fmt.Errorf("kube-controller-manager exited before it was healthy (%v); see %s", kcm.waitErr, kcm.logPath)
		case <-ctx.Done():
			return fmt.Errorf("kube-controller-manager not healthy at %s: %w; see %s", url, ctx.Err(), kcm.logPath)
		case <-tick.C:
		}
	}
}

// stop sends SIGTERM to the process group, then SIGKILL if it has not
// exited within 10 s, and waits for the exit.
func (kcm *controllerManager) stop() error {
	pgid := kcm.pid()
	select {
	case <-kcm.done:
		return nil
	default:
	}
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop kube-controller-manager: %w", err)
	}
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	select {
	case <-kcm.done:
	case <-timer.C:
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-kcm.done
	}
	// Anything left in its group goes too.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
