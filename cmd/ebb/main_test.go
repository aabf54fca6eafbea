package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ebbscale/ebb/tests/controlplane"
)

func TestDemo(t *testing.T) {
	for _, tc := range []struct {
		sentence string
		opts     demoOptions
		ready    string                          // printed once the demo waits
		stop     func(cancel context.CancelFunc) // ends the wait, if exit-after does not
	}{
		{
			sentence: "with --exit-after the demo prints how to reach the control plane, then stops it by itself",
			opts:     demoOptions{ExitAfter: 3 * time.Second},
			ready:    "Running for 3s.",
			stop:     func(context.CancelFunc) {},
		},
		{
			sentence: "without --exit-after the demo runs until Ctrl-C, then stops the control plane",
			ready:    "Press Ctrl-C to stop.",
			stop:     func(cancel context.CancelFunc) { cancel() }, // what the signal handler in main does
		},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			out := newWatchedBuffer(tc.ready)
			done := make(chan error, 1)
			go func() { done <- runDemo(ctx, out, tc.opts) }()

			timeout := time.NewTimer(3 * time.Minute)
			defer timeout.Stop()
			select {
			case <-out.seen:
			case err := <-done:
				t.Fatalf("demo ended before it was ready: %v\n%s", err, out)
			case <-timeout.C:
				t.Fatalf("demo not ready within 3 minutes:\n%s", out)
			}

			kubeconfig := regexp.MustCompile(`(?m)^kubeconfig:\s+(\S+)$`).FindStringSubmatch(out.String())
			if kubeconfig == nil {
				cancel()
				<-done
				t.Fatalf("no kubeconfig line in:\n%s", out)
			}
			dir := filepath.Dir(kubeconfig[1])
			running := processNames(t, dir)
			if !running["etcd"] || !running["kube-apiserver"] {
				t.Errorf("while the demo runs, its processes are %v; want etcd and kube-apiserver", running)
			}

			tc.stop(cancel)
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("demo: %v\n%s", err, out)
				}
			case <-timeout.C:
				t.Fatalf("demo did not stop:\n%s", out)
			}

			printed := out.String()
			for _, want := range []string{
				"API server:  https://127.0.0.1:",
				"kubeconfig:  " + kubeconfig[1],
				"kubectl --kubeconfig " + kubeconfig[1] + " get ebbso -n demo",
				// The ScaledObject as stored, defaults filled in.
				"apiVersion: ebb.dev/v1alpha1\nkind: ScaledObject\n",
				"  namespace: demo\n",
				"  pollingInterval: 30\n",
				"  cooldownPeriod: 300\n",
				"  initialCooldownPeriod: 0\n",
				"  minReplicaCount: 0\n",
				"  maxReplicaCount: 100\n",
				"    apiVersion: apps/v1\n    kind: Deployment\n    name: worker\n",
				"      kind: TriggerAuthentication\n",
				"      queueName: work\n",
				"      value: \"10\"\n",
				"    metricType: AverageValue\n",
				"    type: rabbitmq\n",
				"Stopped.\n",
			} {
				if !strings.Contains(printed, want) {
					t.Errorf("output lacks %q", want)
				}
			}
			if strings.Contains(printed, "managedFields") {
				t.Error("output shows managedFields")
			}
			if strings.Contains(printed, "guest:guest") {
				t.Error("output shows the RabbitMQ credentials")
			}
			if t.Failed() {
				t.Logf("output:\n%s", printed)
			}

			if left := processNames(t, dir); len(left) > 0 {
				t.Errorf("processes left after the demo: %v", left)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("control plane folder %s left behind (%v)", dir, err)
			}
		})
	}
}

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		sentence string
		args     []string
		code     int
		stdout   string
		stderr   string
	}{
		{"no command prints the usage and fails", nil, 2, "", "Usage:"},
		{"help prints the usage", []string{"help"}, 0, "ebb demo", ""},
		{"an unknown command is named", []string{"scale"}, 2, "", `unknown command "scale"`},
		{"demo refuses arguments", []string{"demo", "extra"}, 1, "", `unexpected arguments ["extra"]`},
		{"demo refuses a bad --exit-after", []string{"demo", "--exit-after", "soon"}, 1, "", "invalid value"},
		{"demo --help shows its flags", []string{"demo", "--help"}, 0, "", "-exit-after"},
	} {
		t.Run(tc.sentence, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tc.args, &stdout, &stderr)
			if code != tc.code {
				t.Errorf("exit code %d, want %d (stderr: %s)", code, tc.code, stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.stdout) {
				t.Errorf("stdout %q lacks %q", stdout.String(), tc.stdout)
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tc.stderr)
			}
		})
	}
}

// processNames are the names of the running processes that mention dir.
func processNames(t *testing.T, dir string) map[string]bool {
	t.Helper()
	pids, err := controlplane.Processes(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, pid := range pids {
		comm, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
		if err != nil {
			continue
		}
		names[strings.TrimSpace(string(comm))] = true
	}
	return names
}

// watchedBuffer collects the demo's output and closes seen once it holds
// marker.
type watchedBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	marker string
	seen   chan struct{}
	closed bool
}

func newWatchedBuffer(marker string) *watchedBuffer {
	return &watchedBuffer{marker: marker, seen: make(chan struct{})}
}

func (w *watchedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	if !w.closed && strings.Contains(w.buf.String(), w.marker) {
		w.closed = true
		close(w.seen)
	}
	return n, err
}

func (w *watchedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
