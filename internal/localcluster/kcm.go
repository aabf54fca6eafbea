// SPDX-License-Identifier: Apache-2.0

package localcluster

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
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
type controllerManager struct{ *child }

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
		err = kcm.waitFor(ctx, "healthy", httpsHealthy(fmt.Sprintf("https://127.0.0.1:%d/healthz", port)))
		if err == nil {
			return kcm, nil
		}
		_ = kcm.stop(10 * time.Second)
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
	c, err := startChild("kube-controller-manager", bin, args, filepath.Join(dir, "kube-controller-manager.log"))
	if err != nil {
		return nil, err
	}
	return &controllerManager{c}, nil
}

// httpsHealthy is a readiness check for waitFor: a GET of url (a component's
// /healthz, served with a certificate it made itself) answers 200.
func httpsHealthy(url string) func(context.Context) error {
	client := &http.Client{
		Timeout: 2 * time.Second,
		Transport: &http.Transport{
			// Its serving certificate is self-signed, made at start.
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // loopback health check of a local process
			DisableKeepAlives: true,
		},
	}
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
}

func freePort() (int, error) { return freePortOn("127.0.0.1") }

// freePortOn finds a free TCP port on the address ip.
func freePortOn(ip string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
