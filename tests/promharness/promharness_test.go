// SPDX-License-Identifier: Apache-2.0

package promharness_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ebbscale/ebb/tests/promharness"
)

func TestPrometheusScrapesTheTargetsItIsGiven(t *testing.T) {
	reg := prometheus.NewRegistry()
	name := fmt.Sprintf("ebb_harness_gauge_%d", rand.Uint32())
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name})
	reg.MustRegister(g)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()

	prom := promharness.StartWith(t, []string{srv.Listener.Addr().String()}, promharness.WithJobName("harness-job"))
	if !strings.HasPrefix(prom.URL(), "http://127.0.0.1:") {
		t.Errorf("URL() = %q, want a loopback URL", prom.URL())
	}

	g.Set(37)
	prom.WaitForQuery(t, name+`{job="harness-job"}`, func(v float64) bool { return v == 37 })
	g.Set(5)
	prom.WaitForQuery(t, name, func(v float64) bool { return v == 5 })

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if v, err := prom.Query(ctx, "vector(2) * 21"); err != nil || v != 42 {
		t.Errorf("Query(vector(2) * 21) = %v, %v; want 42", v, err)
	}
	if _, err := prom.Query(ctx, "sum("); err == nil || !strings.Contains(err.Error(), "bad_data") {
		t.Errorf("Query(sum() = %v, want a bad_data error", err)
	}
}

func TestPrometheusIsStoppedWhenItsTestEnds(t *testing.T) {
	var pid int
	t.Run("a test that starts prometheus", func(t *testing.T) {
		prom := promharness.Start(t)
		pid = prom.Pid()
		if err := syscall.Kill(pid, 0); err != nil {
			t.Fatalf("prometheus (pid %d) is not running: %v", pid, err)
		}
	})
	if pid == 0 {
		t.Fatal("the subtest did not start prometheus")
	}
	// Cleanup waited for the process; its pid (and group) are gone.
	if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process group %d still exists after the test ended (kill -0: %v)", pid, err)
	}
}

func TestAMissingBinaryFailsTheTestSayingHowToInstallIt(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv(promharness.BinaryEnv, "")
	ft := &fatalRecorder{TB: t}
	ft.run(func() { promharness.Start(ft) })
	if !ft.failed {
		t.Fatal("Start did not fail the test")
	}
	if !strings.Contains(ft.msg, "apt-get install -y --no-install-recommends prometheus") {
		t.Errorf("failure message %q does not say how to install prometheus", ft.msg)
	}
	if ft.skipped {
		t.Error("Start skipped the test; a missing binary must fail it")
	}
}

// fatalRecorder is a testing.TB whose Fatal and Skip end only the function
// run calls, recording what happened.
type fatalRecorder struct {
	testing.TB
	mu      sync.Mutex
	failed  bool
	skipped bool
	msg     string
}

func (f *fatalRecorder) run(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fatalRecorder) Skipf(format string, args ...any) {
	f.mu.Lock()
	f.skipped, f.msg = true, fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fatalRecorder) Skip(args ...any) { f.Skipf("%s", fmt.Sprint(args...)) }
func (f *fatalRecorder) SkipNow()         { f.Skipf("SkipNow") }
func (f *fatalRecorder) Fatal(args ...any) {
	f.Fatalf("%s", fmt.Sprint(args...))
}
func (f *fatalRecorder) FailNow() { f.Fatalf("FailNow") }
