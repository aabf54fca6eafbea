// SPDX-License-Identifier: Apache-2.0

package faults_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"go.uber.org/goleak"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/ebbscale/ebb/tests/chartrbac"
	"github.com/ebbscale/ebb/tests/controlplane"
	"github.com/ebbscale/ebb/tests/faults"
	"github.com/ebbscale/ebb/tests/operatorproc"
)

// The package's shared parts: one control plane (etcd, kube-apiserver with
// the aggregation layer, kube-controller-manager with the HPA controller),
// one operator binary, the chart's operator identity, and the front the
// APIService points at. They start on first use, so `go test -run X` of a
// test that needs none of them starts nothing.
var (
	shared struct {
		cp         *controlplane.ControlPlane
		bin        string
		kubeconfig string // the chart's operator ServiceAccount
		front      *faults.Front
	}
	sharedOnce sync.Once
	sharedErr  error
	binDir     string
)

func TestMain(m *testing.M) {
	// The clients here log nothing worth reading; the operators log to
	// their own files.
	ctrllog.SetLogger(logr.Discard())
	code := m.Run()
	if shared.cp != nil {
		if code != 0 {
			fmt.Fprintf(os.Stderr, "control plane logs:\n%s\n", shared.cp.Logs(40))
		}
		if err := shared.cp.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop the control plane:", err)
			code = 1
		}
	}
	if shared.front != nil {
		shared.front.Close()
	}
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	// Nothing the scenarios started in this process may outlive them.
	if code == 0 {
		if err := goleak.Find(goleakIgnores()...); err != nil {
			fmt.Fprintf(os.Stderr, "goroutines leaked by the fault suite: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// goleakIgnores are goroutines of libraries that live as long as the
// process by design.
func goleakIgnores() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreTopFunction("k8s.io/klog/v2.(*flushDaemon).run.func1"),
		goleak.IgnoreAnyFunction("k8s.io/apimachinery/pkg/util/wait.BackoffUntilWithContext.func1"),
		// client-go's shared HTTP/2 transports keep their idle connections
		// until the process exits.
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreAnyFunction("golang.org/x/net/http2.(*ClientConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*http2ClientConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*http2clientConnReadLoop).run"),
	}
}

// setup starts the shared parts once; a failure fails every test that
// needs them.
func setup(t *testing.T) {
	t.Helper()
	sharedOnce.Do(func() { sharedErr = startShared() })
	if sharedErr != nil {
		t.Fatalf("the fault suite's control plane and operator: %v", sharedErr)
	}
}

func startShared() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var err error
	if binDir, err = os.MkdirTemp("", "ebb-faults-"); err != nil {
		return err
	}
	if shared.bin, err = buildOperator(ctx, binDir); err != nil {
		return err
	}
	if shared.cp, err = controlplane.New(ctx, controlplane.Options{ControllerManager: true, GarbageCollector: true, Aggregator: true}); err != nil {
		return err
	}
	id, err := chartrbac.Apply(ctx, shared.cp, chartrbac.OperatorComponent, chartrbac.Options{Namespace: operatorproc.Namespace})
	if err != nil {
		return fmt.Errorf("the chart's operator identity: %w", err)
	}
	shared.kubeconfig = id.Kubeconfig
	if shared.front, err = faults.NewFront(); err != nil {
		return err
	}
	return operatorproc.APIService(shared.front.Port()).Register(ctx, shared.cp.Client)
}

// buildOperator builds cmd/ebb-operator into dir.
func buildOperator(ctx context.Context, dir string) (string, error) {
	root, err := controlplane.RepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "ebb-operator")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/ebb-operator")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/ebb-operator: %w\n%s", err, out)
	}
	return bin, nil
}
