// SPDX-License-Identifier: Apache-2.0

package demo

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ebbscale/ebb/internal/localcluster"
)

func TestCheckClusterHost(t *testing.T) {
	found := func(string) (string, error) { return "/usr/bin/x", nil }
	exists := func(string) (os.FileInfo, error) { return nil, nil }
	for name, tc := range map[string]struct {
		euid     int
		lookPath func(string) (string, error)
		stat     func(string) (os.FileInfo, error)
		want     []string // in the error; none: no error
	}{
		"root with every package passes": {euid: 0, lookPath: found, stat: exists},
		"not root is told that containerd and the kubelet need root": {
			euid: 1000, lookPath: found, stat: exists,
			want: []string{"--cluster needs root", "containerd and the kubelet"},
		},
		"missing packages are named, with the script that installs them": {
			euid: 0,
			lookPath: func(b string) (string, error) {
				if b == "containerd" || b == "ctr" || b == "runc" {
					return "", errors.New("not found")
				}
				return "/usr/bin/" + b, nil
			},
			stat: func(string) (os.FileInfo, error) { return nil, fs.ErrNotExist },
			want: []string{"Debian packages containerd, runc, containernetworking-plugins ", "missing: containerd, runc, ctr, /usr/lib/cni/bridge", "`bash tests/services.sh` installs them"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			err := checkClusterHost(tc.euid, tc.lookPath, tc.stat)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("checkClusterHost: %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("checkClusterHost: nil, want an error saying %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestValidateClusterSources(t *testing.T) {
	for _, src := range Sources {
		o := DefaultOptions()
		o.Cluster, o.Source = true, src
		err := o.Validate()
		if supported := src == "kafka" || src == "rabbitmq"; supported != (err == nil) {
			t.Errorf("--cluster --source %s: Validate = %v", src, err)
		}
		if err != nil && !strings.Contains(err.Error(), "not supported with --cluster yet") {
			t.Errorf("--cluster --source %s: %q does not say it is not supported yet", src, err)
		}
	}
}

func TestCountPodsTellsPodsThatTurnReadyAndGo(t *testing.T) {
	pod := func(name string, phase corev1.PodPhase, ready bool) corev1.Pod {
		status := corev1.ConditionFalse
		if ready {
			status = corev1.ConditionTrue
		}
		return corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       corev1.PodSpec{NodeName: localcluster.NodeName},
			Status: corev1.PodStatus{Phase: phase, PodIP: "10.244.0.9",
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}},
		}
	}
	seen := map[string]bool{}
	steps := []struct {
		pods                  []corev1.Pod
		total, running, ready int32
		lines                 []string
	}{
		{pods: []corev1.Pod{pod("a", corev1.PodPending, false), pod("b", corev1.PodRunning, false)}, total: 2, running: 1},
		{pods: []corev1.Pod{pod("a", corev1.PodRunning, true), pod("b", corev1.PodRunning, true)}, total: 2, running: 2, ready: 2,
			lines: []string{"pod a Ready on ebb-node (10.244.0.9)", "pod b Ready on ebb-node (10.244.0.9)"}},
		{pods: []corev1.Pod{pod("a", corev1.PodRunning, true), pod("b", corev1.PodRunning, false)}, total: 2, running: 2, ready: 1},
		{pods: []corev1.Pod{pod("b", corev1.PodRunning, false)}, total: 1, running: 1, lines: []string{"pod a gone"}},
		{total: 0, lines: []string{"pod b gone"}},
	}
	for i, s := range steps {
		total, running, ready, lines := countPods(s.pods, seen)
		if total != s.total || running != s.running || ready != s.ready || strings.Join(lines, "|") != strings.Join(s.lines, "|") {
			t.Errorf("step %d: countPods = %d, %d, %d, %q; want %d, %d, %d, %q", i, total, running, ready, lines, s.total, s.running, s.ready, s.lines)
		}
	}
}

func TestExposeURL(t *testing.T) {
	expose := func(addr string) (string, error) {
		_, port, _ := net.SplitHostPort(addr)
		if !strings.HasPrefix(addr, "127.0.0.1:") {
			return "", fmt.Errorf("exposed %s, want a loopback address", addr)
		}
		return localcluster.NodeIP + ":" + port, nil
	}
	for in, want := range map[string]string{
		"amqp://guest:guest@127.0.0.1:5672/":  "amqp://guest:guest@10.244.0.1:5672/",
		"amqp://guest:guest@localhost/vhost":  "amqp://guest:guest@10.244.0.1:5672/vhost",
		"amqp://u:p@rabbit.example.com:5672/": "amqp://u:p@rabbit.example.com:5672/",
	} {
		got, err := exposeURL(in, "5672", expose)
		if err != nil || got != want {
			t.Errorf("exposeURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// clusterOptions make a short --cluster run: 120 records that 3 pods at
// 20/s drain in 2 s.
func clusterOptions() Options {
	o := shortOptions()
	o.Cluster = true
	o.Records = 120
	o.Rate = 20
	o.Target = 20
	o.MaxReplicas = 3
	o.ExitAfter = 90 * time.Second
	return o
}

// nodeTimeout bounds a --cluster run of the tests: about 40 s, plus the
// wait for the machine's one node while another test (tests/incluster,
// tests/cluster) holds it.
const nodeTimeout = 10 * time.Minute

// requireNode skips the test when this machine cannot run a node, or fails
// it under CI, where a missing prerequisite is a broken setup.
func requireNode(t *testing.T) {
	t.Helper()
	var why string
	dir := localcluster.ToolsDir()
	if err := checkClusterHost(os.Geteuid(), exec.LookPath, os.Stat); err != nil {
		why = err.Error()
	} else if missing := append(localcluster.MissingBinaries(dir), localcluster.MissingNodeBinaries(dir)...); len(missing) > 0 {
		why = fmt.Sprintf("the tools folder %s lacks %v: run `make tools`", dir, missing)
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("a node cannot run here: %s", why)
	}
	t.Skipf("a node cannot run here: %s", why)
}

// TestRunClusterScalesRealPods runs `ebb demo --cluster` end to end: the
// worker's pods run on the node, turn Ready (the kubelet's readiness
// probe), drain the burst, and go; nothing is left running.
func TestRunClusterScalesRealPods(t *testing.T) {
	requireNode(t)
	t.Run("a burst scales real pods 0 → N → 0", func(t *testing.T) {
		o := clusterOptions()
		out := newWatchedBuffer()
		res, err := runWithTimeout(t, t.Context(), out, o, nodeTimeout)
		if err != nil {
			t.Fatalf("demo: %v\n%s", err, out)
		}
		printed := out.String()
		defer func() {
			if t.Failed() {
				t.Logf("output:\n%s", printed)
			}
		}()
		expectZeroToNToZero(t, res, o)
		sum := res.Summary
		if !sum.FirstReady.Seen || sum.PeakReady < 2 {
			t.Errorf("summary %+v: want 2 or more pods Ready at once", sum)
		}
		if sum.FirstReady.Seen && sum.FirstReady.After < sum.FirstReplica.After {
			t.Errorf("a pod Ready at %s, before the first replica at %s", sum.FirstReady, sum.FirstReplica)
		}
		if last := res.Samples[len(res.Samples)-1]; last.Pods != 0 {
			t.Errorf("last sample %+v, want no pods left", last)
		}
		// A pod counts as Ready when its Ready condition, which only the
		// kubelet sets, is True; the lines name the node and the pod's
		// address on the bridge.
		readyLine := regexp.MustCompile(`pod worker-\S+ Ready on ` + localcluster.NodeName + ` \(10\.244\.0\.\d+\)`)
		if n := len(readyLine.FindAllString(printed, -1)); n < int(sum.PeakReady) {
			t.Errorf("%d lines of a pod turning Ready on %s, want at least %d", n, localcluster.NodeName, sum.PeakReady)
		}
		for _, want := range []string{"produced 120 records", "pods Ready", "first record → pod Ready", "Stopped: nothing left running.\n"} {
			if !strings.Contains(printed, want) {
				t.Errorf("output lacks %q", want)
			}
		}
		if !regexp.MustCompile(`pod worker-\S+ gone`).MatchString(printed) {
			t.Error("output never shows a pod going")
		}
		expectNothingLeft(t, controlPlaneDir(t, printed))
		expectNodeGone(t)
	})
	// RabbitMQ's pods reach the machine's broker through the node's
	// forwarder, as the guest user (loopback only).
	t.Run("Ctrl-C while RabbitMQ's pods run stops and cleans up everything", func(t *testing.T) {
		o := clusterOptions()
		o.Source = "rabbitmq"
		o.Records = 5000
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		out := newWatchedBuffer()
		go func() {
			select {
			case <-out.seen(" Ready on " + localcluster.NodeName):
				cancel()
			case <-ctx.Done():
			}
		}()
		res, err := runWithTimeout(t, ctx, out, o, nodeTimeout)
		if err != nil {
			t.Fatalf("demo: %v\n%s", err, out)
		}
		if res == nil || res.Finished {
			t.Errorf("result %+v: want one that did not finish", res)
		}
		printed := out.String()
		if !strings.Contains(printed, "Interrupted.\n") || !strings.Contains(printed, "Stopped: nothing left running.\n") {
			t.Errorf("output lacks the interruption and the stop:\n%s", printed)
		}
		expectNothingLeft(t, controlPlaneDir(t, printed))
		expectNodeGone(t)
	})
}

// expectNodeGone checks that the node cleaned up after itself: no process
// of its folder (containerd, the kubelet, the containers' shims) and no
// bridge.
func expectNodeGone(t *testing.T) {
	t.Helper()
	pids, err := localcluster.Processes(localcluster.NodeDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(pids) > 0 {
		t.Errorf("processes %v of the node left running", pids)
	}
	if _, err := net.InterfaceByName(localcluster.NodeBridge); err == nil {
		t.Errorf("the bridge %s is left", localcluster.NodeBridge)
	}
}
